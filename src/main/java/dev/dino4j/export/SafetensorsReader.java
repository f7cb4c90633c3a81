package dev.dino4j.export;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.model.Weights;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a safetensors file (the format of Hugging Face and of most published PyTorch weights):
 * an 8-byte little-endian header length n, n bytes of UTF-8 JSON {@code {name: {dtype, shape,
 * data_offsets: [begin, end]}, "__metadata__": {string: string}}}, then the raw little-endian
 * data, offsets relative to its start.
 *
 * <p>Everything the header claims is checked when the file is opened (header length, JSON, dtype,
 * shape, offsets inside the data section and not overlapping, byte count = elements x dtype
 * size), and every problem is reported with the file and the tensor. Tensor data is read through
 * memory-mapped windows of the file, never the whole file at once: a ViT-B checkpoint is 350 MB.
 */
public final class SafetensorsReader implements AutoCloseable {

  /** The safetensors dtypes and their sizes in bytes; F32, F64, F16 and BF16 convert to float. */
  public enum DType {
    BOOL(1), U8(1), I8(1), F8_E4M3(1), F8_E5M2(1), I16(2), U16(2), F16(2), BF16(2),
    I32(4), U32(4), F32(4), F64(8), I64(8), U64(8);

    public final int bytes;

    DType(int bytes) {
      this.bytes = bytes;
    }

    boolean isFloat() {
      return this == F32 || this == F64 || this == F16 || this == BF16;
    }
  }

  /** One header entry; {@code begin} and {@code end} are offsets into the data section. */
  public record Entry(String name, DType dtype, long[] shape, long begin, long end) {

    public long elements() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }

    @Override
    public String toString() {
      return name + " " + dtype + Arrays.toString(shape);
    }
  }

  /** The reference implementation refuses headers above 100 MB; so do we (a corrupt length). */
  static final long MAX_HEADER_BYTES = 100L << 20;

  /** Mapped window size; a multiple of every dtype size. */
  private static final int WINDOW_BYTES = 1 << 28;

  private static final ObjectMapper JSON =
      new ObjectMapper()
          .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS); // one object, then only padding spaces

  private final Path file;
  private final FileChannel channel;
  private final long dataStart;
  private final Map<String, Entry> entries;
  private final Map<String, String> metadata;

  private SafetensorsReader(Path file, FileChannel channel, long dataStart, Map<String, Entry> entries,
      Map<String, String> metadata) {
    this.file = file;
    this.channel = channel;
    this.dataStart = dataStart;
    this.entries = entries;
    this.metadata = metadata;
  }

  /** Opens and validates {@code file}; tensor data is read later, on request. */
  public static SafetensorsReader open(Path file) throws IOException {
    FileChannel ch;
    try {
      ch = FileChannel.open(file, StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      throw new NoSuchFileException(file.toString(), null, "weights file not found");
    }
    try {
      long size = ch.size();
      if (size < 8) {
        throw bad(file, "is " + size + " bytes long, shorter than the 8-byte header length; not a safetensors file");
      }
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0);
      long headerLen = lenBuf.flip().getLong();
      if (headerLen <= 1 || headerLen > size - 8 || headerLen > MAX_HEADER_BYTES) {
        throw bad(file, "header length " + Long.toUnsignedString(headerLen) + " does not fit a file of " + size
            + " bytes (8 + header <= file size, header <= 100 MB); not a safetensors file, or truncated");
      }
      ByteBuffer header = ByteBuffer.allocate((int) headerLen);
      readFully(ch, header, 8);
      long dataLen = size - 8 - headerLen;
      Parsed p = parseHeader(file, utf8(file, header), dataLen);
      return new SafetensorsReader(file, ch, 8 + headerLen, p.entries(), p.metadata());
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  private record Parsed(Map<String, Entry> entries, Map<String, String> metadata) {}

  /** The header as text; invalid UTF-8 is refused (as the reference reader does), not replaced. */
  private static String utf8(Path file, ByteBuffer header) {
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(header.flip()).toString();
    } catch (CharacterCodingException e) {
      throw bad(file, "header is not valid UTF-8 (" + e.getMessage() + "); expected UTF-8 JSON");
    }
  }

  private static Parsed parseHeader(Path file, String text, long dataLen) {
    JsonNode root;
    try {
      root = JSON.readTree(text);
    } catch (JsonProcessingException e) {
      if (e.getOriginalMessage() != null && e.getOriginalMessage().startsWith("Duplicate field")) {
        throw bad(file, "header names a tensor twice: " + e.getOriginalMessage() + "; every name must be unique");
      }
      throw bad(file, "header is not valid JSON: " + e.getOriginalMessage());
    }
    if (root == null || !root.isObject()) {
      throw bad(file, "header is not a JSON object");
    }
    List<String> problems = new ArrayList<>();
    Map<String, Entry> entries = new LinkedHashMap<>();
    Map<String, String> metadata = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> f : root.properties()) {
      String name = f.getKey();
      JsonNode v = f.getValue();
      if (name.equals("__metadata__")) {
        if (!v.isObject()) {
          problems.add("__metadata__ is not an object of strings");
          continue;
        }
        for (Map.Entry<String, JsonNode> m : v.properties()) {
          if (m.getValue().isTextual()) {
            metadata.put(m.getKey(), m.getValue().asText());
          } else {
            problems.add("__metadata__." + m.getKey() + " is not a string");
          }
        }
        continue;
      }
      Entry e = parseEntry(name, v, dataLen, problems);
      if (e != null) {
        entries.put(name, e);
      }
    }
    // data_offsets must not overlap (the format also forbids holes; we only need disjointness)
    List<Entry> byOffset = new ArrayList<>(entries.values());
    byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
    Entry reach = null; // the non-empty tensor reaching furthest so far
    for (Entry cur : byOffset) {
      if (cur.end() == cur.begin()) {
        continue; // an empty tensor occupies no bytes
      }
      if (reach != null && cur.begin() < reach.end()) {
        problems.add("tensor '" + cur.name() + "': data_offsets [" + cur.begin() + ", " + cur.end()
            + "] overlap tensor '" + reach.name() + "' [" + reach.begin() + ", " + reach.end() + "]");
      }
      if (reach == null || cur.end() > reach.end()) {
        reach = cur;
      }
    }
    if (!problems.isEmpty()) {
      throw bad(file, "has an invalid header:\n  " + String.join("\n  ", problems));
    }
    return new Parsed(Collections.unmodifiableMap(entries), Collections.unmodifiableMap(metadata));
  }

  private static Entry parseEntry(String name, JsonNode v, long dataLen, List<String> problems) {
    String where = "tensor '" + name + "': ";
    if (!v.isObject()) {
      problems.add(where + "entry is not an object");
      return null;
    }
    JsonNode dt = v.get("dtype");
    JsonNode sh = v.get("shape");
    JsonNode off = v.get("data_offsets");
    if (dt == null || !dt.isTextual()) {
      problems.add(where + "no dtype string");
      return null;
    }
    DType dtype;
    try {
      dtype = DType.valueOf(dt.asText());
    } catch (IllegalArgumentException e) {
      problems.add(where + "unknown dtype " + dt.asText() + " (known: " + Arrays.toString(DType.values()) + ")");
      return null;
    }
    if (sh == null || !sh.isArray()) {
      problems.add(where + "no shape array");
      return null;
    }
    long[] shape = new long[sh.size()];
    long elements = 1;
    boolean overflow = false;
    for (int i = 0; i < shape.length; i++) {
      JsonNode d = sh.get(i);
      if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
        problems.add(where + "shape " + sh + " is not a list of non-negative integers");
        return null;
      }
      shape[i] = d.asLong();
      elements = multiplyOrMax(elements, shape[i]);
      overflow |= elements == Long.MAX_VALUE;
    }
    long expected = multiplyOrMax(elements, dtype.bytes);
    if (overflow || expected == Long.MAX_VALUE) {
      problems.add(where + "shape " + Arrays.toString(shape) + " x " + dtype + " (" + dtype.bytes
          + " bytes) overflows 64 bits (more than 2^63 bytes); expected a shape whose bytes fit the data section of "
          + dataLen + " bytes");
      return null;
    }
    if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber()
        || !off.get(1).isIntegralNumber() || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong()) {
      problems.add(where + "data_offsets " + off + " is not a pair [begin, end] of integers");
      return null;
    }
    long begin = off.get(0).asLong();
    long end = off.get(1).asLong();
    if (begin < 0 || end < begin || end > dataLen) {
      problems.add(where + "data_offsets [" + begin + ", " + end + "] lie outside the data section of "
          + dataLen + " bytes (truncated file?)");
      return null;
    }
    if (end - begin != expected) {
      problems.add(where + "shape " + Arrays.toString(shape) + " x " + dtype + " (" + dtype.bytes
          + " bytes) needs " + expected + " bytes, data_offsets [" + begin + ", " + end + "] hold " + (end - begin));
      return null;
    }
    return new Entry(name, dtype, shape, begin, end);
  }

  private static long multiplyOrMax(long a, long b) {
    try {
      return Math.multiplyExact(a, b);
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }

  public Path file() {
    return file;
  }

  /** Tensor names in header order. */
  public List<String> names() {
    return List.copyOf(entries.keySet());
  }

  public Map<String, Entry> entries() {
    return entries;
  }

  public Entry entry(String name) {
    Entry e = entries.get(name);
    if (e == null) {
      throw new IllegalArgumentException(file + ": no tensor named '" + name + "'");
    }
    return e;
  }

  /** The {@code __metadata__} strings (empty when the file has none). */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** One tensor converted to float (F32, F64, F16, BF16), row-major as stored. */
  public Weights.Tensor tensor(String name) throws IOException {
    Entry e = entry(name);
    if (!e.dtype().isFloat()) {
      throw new IllegalArgumentException(file + ": tensor '" + name + "' has dtype " + e.dtype()
          + "; only F32, F64, F16 and BF16 convert to float");
    }
    if (e.elements() > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(file + ": tensor '" + name + "' has " + e.elements()
          + " elements, more than a Java array holds");
    }
    float[] out = new float[(int) e.elements()];
    long pos = dataStart + e.begin();
    long remaining = e.end() - e.begin();
    int at = 0;
    while (remaining > 0) {
      int len = (int) Math.min(remaining, WINDOW_BYTES);
      MappedByteBuffer window = channel.map(FileChannel.MapMode.READ_ONLY, pos, len);
      window.order(ByteOrder.LITTLE_ENDIAN);
      at += decode(e.dtype(), window, out, at, len / e.dtype().bytes);
      pos += len;
      remaining -= len;
    }
    return new Weights.Tensor(e.shape().clone(), out);
  }

  /** Every tensor, converted to float, in header order. */
  public Map<String, Weights.Tensor> readAll() throws IOException {
    Map<String, Weights.Tensor> all = new LinkedHashMap<>();
    for (String name : entries.keySet()) {
      all.put(name, tensor(name));
    }
    return all;
  }

  private static int decode(DType dtype, ByteBuffer src, float[] dst, int at, int n) {
    switch (dtype) {
      case F32 -> src.asFloatBuffer().get(dst, at, n);
      case F64 -> {
        var d = src.asDoubleBuffer();
        for (int i = 0; i < n; i++) {
          dst[at + i] = (float) d.get(i);
        }
      }
      case BF16 -> {
        var s = src.asShortBuffer();
        for (int i = 0; i < n; i++) {
          dst[at + i] = bf16ToFloat(s.get(i));
        }
      }
      case F16 -> {
        var s = src.asShortBuffer();
        for (int i = 0; i < n; i++) {
          dst[at + i] = f16ToFloat(s.get(i));
        }
      }
      default -> throw new IllegalStateException("not a float dtype: " + dtype);
    }
    return n;
  }

  /** bfloat16 is the upper half of a float32: shift the bits back. */
  static float bf16ToFloat(short bits) {
    return Float.intBitsToFloat((bits & 0xffff) << 16);
  }

  /** IEEE 754 binary16 (sign, 5-bit exponent bias 15, 10-bit fraction) to float, exactly. */
  static float f16ToFloat(short bits) {
    int h = bits & 0xffff;
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1f;
    int frac = h & 0x3ff;
    if (exp == 0x1f) { // inf / NaN: keep the payload
      return Float.intBitsToFloat(sign | 0x7f800000 | (frac << 13));
    }
    if (exp == 0) { // zero or subnormal: frac x 2^-24, exact in float
      float v = frac * 0x1p-24f;
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (frac << 13));
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos + buf.position());
      if (n < 0) {
        throw new IOException("unexpected end of file");
      }
    }
  }

  private static IllegalArgumentException bad(Path file, String what) {
    return new IllegalArgumentException(file + " " + what);
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
