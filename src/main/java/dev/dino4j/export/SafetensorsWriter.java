package dev.dino4j.export;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dino4j.model.Weights;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * Writes float32 tensors as a safetensors file, atomically: the bytes go to a hidden temporary
 * file next to the target, which is synced and then renamed over it, so a crash never leaves a
 * half-written weights file under the target's name.
 *
 * <p>Tensors are laid out back to back in the given order; the JSON header is padded with spaces
 * to a multiple of 8 bytes (as the reference writer does) so the data section is aligned.
 */
public final class SafetensorsWriter {

  private static final ObjectMapper JSON = new ObjectMapper();

  private SafetensorsWriter() {}

  /** Writes {@code tensors} (name -> shape + values) and string {@code metadata} to {@code file}. */
  public static void write(Path file, Map<String, Weights.Tensor> tensors, Map<String, String> metadata)
      throws IOException {
    byte[] header = header(tensors, metadata);
    Path dir = file.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
        writeFully(ch, len.flip());
        writeFully(ch, ByteBuffer.wrap(header));
        ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        for (Weights.Tensor t : tensors.values()) {
          float[] v = t.values();
          for (int at = 0; at < v.length; ) {
            int n = Math.min(v.length - at, chunk.capacity() / Float.BYTES);
            chunk.clear();
            chunk.asFloatBuffer().put(v, at, n);
            chunk.limit(n * Float.BYTES);
            writeFully(ch, chunk);
            at += n;
          }
        }
        ch.force(true);
      }
      try {
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  static byte[] header(Map<String, Weights.Tensor> tensors, Map<String, String> metadata) {
    ObjectNode root = JSON.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = root.putObject("__metadata__");
      metadata.forEach(meta::put);
    }
    long offset = 0;
    for (Map.Entry<String, Weights.Tensor> e : tensors.entrySet()) {
      if (e.getKey().equals("__metadata__")) {
        throw new IllegalArgumentException("a tensor cannot be named __metadata__");
      }
      ObjectNode entry = root.putObject(e.getKey());
      entry.put("dtype", "F32");
      ArrayNode shape = entry.putArray("shape");
      for (long d : e.getValue().shape()) {
        shape.add(d);
      }
      long bytes = (long) e.getValue().values().length * Float.BYTES;
      entry.putArray("data_offsets").add(offset).add(offset + bytes);
      offset += bytes;
    }
    String json;
    try {
      json = JSON.writeValueAsString(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    byte[] raw = json.getBytes(StandardCharsets.UTF_8);
    int padded = (raw.length + 7) / 8 * 8;
    byte[] out = new byte[padded];
    System.arraycopy(raw, 0, out, 0, raw.length);
    for (int i = raw.length; i < padded; i++) {
      out[i] = ' ';
    }
    return out;
  }

  private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
    while (buf.hasRemaining()) {
      ch.write(buf);
    }
  }
}
