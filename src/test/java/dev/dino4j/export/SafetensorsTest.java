package dev.dino4j.export;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.model.Weights;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The safetensors reader and writer: round trip, dtype conversions, and every header check. */
class SafetensorsTest {

  /** A file from a header JSON and raw data bytes, as another writer would produce it. */
  private static Path file(Path dir, String json, byte[] data) throws IOException {
    byte[] h = json.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h).put(data);
    Path p = dir.resolve("w" + System.nanoTime() + ".safetensors");
    Files.write(p, b.array());
    return p;
  }

  private static byte[] shorts(int... values) {
    ByteBuffer b = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (int v : values) {
      b.putShort((short) v);
    }
    return b.array();
  }

  @Test
  void writtenTensorsReadBackExactlyWithMetadata(@TempDir Path tmp) throws IOException {
    Random r = new Random(7);
    Map<String, Weights.Tensor> in = new LinkedHashMap<>();
    float[] big = new float[700_000]; // more than the writer's 1 MiB chunk
    for (int i = 0; i < big.length; i++) {
      big[i] = (float) r.nextGaussian();
    }
    in.put("big", new Weights.Tensor(new long[] {700, 1000}, big));
    in.put("scalar", new Weights.Tensor(new long[] {}, new float[] {3.5f}));
    in.put("empty", new Weights.Tensor(new long[] {0, 4}, new float[0]));
    in.put("odd", new Weights.Tensor(new long[] {1, 3}, new float[] {Float.NaN, -0f, Float.MIN_VALUE}));
    Path p = tmp.resolve("sub/out.safetensors");
    SafetensorsWriter.write(p, in, Map.of("format", "pt", "note", "é ünicode"));
    try (Stream<Path> files = Files.list(p.getParent())) {
      assertEquals(List.of(p), files.toList(), "no temporary file is left behind");
    }
    try (SafetensorsReader rd = SafetensorsReader.open(p)) {
      assertEquals(List.of("big", "scalar", "empty", "odd"), rd.names());
      assertEquals("é ünicode", rd.metadata().get("note"));
      assertEquals("pt", rd.metadata().get("format"));
      for (String n : in.keySet()) {
        Weights.Tensor t = rd.tensor(n);
        assertArrayEquals(in.get(n).shape(), t.shape(), n);
        assertArrayEquals(in.get(n).values(), t.values(), 0f, n);
      }
      assertEquals(SafetensorsReader.DType.F32, rd.entry("big").dtype());
    }
    ByteBuffer head = ByteBuffer.wrap(Files.readAllBytes(p), 0, 8).order(ByteOrder.LITTLE_ENDIAN);
    assertEquals(0, (8 + head.getLong()) % 8, "data section aligned to 8 bytes");
    // replacing an existing file goes through the same temp + rename
    SafetensorsWriter.write(p, Map.of("x", new Weights.Tensor(new long[] {1}, new float[] {1f})), Map.of());
    try (SafetensorsReader rd = SafetensorsReader.open(p)) {
      assertEquals(List.of("x"), rd.names());
      assertTrue(rd.metadata().isEmpty());
    }
  }

  @Test
  void halfBfloatAndDoubleConvertToTheHandComputedFloats(@TempDir Path tmp) throws IOException {
    // F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), 0x3555 =
    // 1 + 341/1024 times 2^-2 = 0.333251953125, +inf, -0, 0x03ff = 1023 x 2^-24 (largest subnormal)
    int[] f16 = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400, 0x3555, 0x7C00, 0x8000, 0x03FF};
    float[] f16Want = {1f, -2f, 65504f, 0x1p-24f, 0x1p-14f, 0.333251953125f, Float.POSITIVE_INFINITY, -0f,
        1023 * 0x1p-24f};
    // BF16 is the top half of a float32: 0x3F80 = 1, 0xC040 = -3, 0x3EAB = 0x3EAB0000 = 0.333984375,
    // 0x0001 = 0x00010000 = 2^-133 (a float subnormal), 0xFF80 = -inf
    int[] bf16 = {0x3F80, 0xC040, 0x3EAB, 0x0001, 0xFF80};
    float[] bf16Want = {1f, -3f, 0.333984375f, 0x1p-133f, Float.NEGATIVE_INFINITY};
    ByteBuffer f64 = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putDouble(0.1).putDouble(-1e300);
    byte[] a = shorts(f16);
    byte[] b = shorts(bf16);
    byte[] data = new byte[a.length + b.length + 16];
    System.arraycopy(a, 0, data, 0, a.length);
    System.arraycopy(b, 0, data, a.length, b.length);
    System.arraycopy(f64.array(), 0, data, a.length + b.length, 16);
    int e1 = a.length;
    int e2 = e1 + b.length;
    String json = "{\"h\":{\"dtype\":\"F16\",\"shape\":[3,3],\"data_offsets\":[0," + e1 + "]},"
        + "\"b\":{\"dtype\":\"BF16\",\"shape\":[5],\"data_offsets\":[" + e1 + "," + e2 + "]},"
        + "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[" + e2 + "," + (e2 + 16) + "]}}";
    try (SafetensorsReader rd = SafetensorsReader.open(file(tmp, json, data))) {
      assertArrayEquals(f16Want, rd.tensor("h").values(), 0f);
      assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(rd.tensor("h").values()[7]), "sign of -0 kept");
      assertArrayEquals(new long[] {3, 3}, rd.tensor("h").shape());
      assertArrayEquals(bf16Want, rd.tensor("b").values(), 0f);
      assertArrayEquals(new float[] {0.1f, Float.NEGATIVE_INFINITY}, rd.tensor("d").values(), 0f);
    }
    assertTrue(Float.isNaN(SafetensorsReader.f16ToFloat((short) 0x7E00)));
    assertTrue(Float.isNaN(SafetensorsReader.bf16ToFloat((short) 0x7FC0)));
    // every finite half converts exactly (checked against the double arithmetic of the definition)
    for (int h = 0; h < 0x10000; h++) {
      int exp = (h >> 10) & 0x1f;
      if (exp == 0x1f) {
        continue;
      }
      double mant = exp == 0 ? (h & 0x3ff) / 1024.0 : 1 + (h & 0x3ff) / 1024.0;
      double v = mant * Math.pow(2, exp == 0 ? -14 : exp - 15) * ((h & 0x8000) != 0 ? -1 : 1);
      assertEquals((float) v, SafetensorsReader.f16ToFloat((short) h), 0f, Integer.toHexString(h));
    }
  }

  private static String openError(Path p) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafetensorsReader.open(p).close());
    assertTrue(e.getMessage().startsWith(p.toString()), "names the file: " + e.getMessage());
    return e.getMessage();
  }

  @Test
  void corruptFilesAreRefusedWithTheFileAndTensorNamed(@TempDir Path tmp) throws IOException {
    byte[] sixteen = new byte[16];
    // header length larger than the file
    Path huge = tmp.resolve("huge.safetensors");
    Files.write(huge, ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(1_000_000).array());
    assertTrue(openError(huge).contains("header length 1000000 does not fit a file of 20 bytes"), openError(huge));
    // shorter than the length field
    Path tiny = tmp.resolve("tiny.safetensors");
    Files.write(tiny, new byte[3]);
    assertTrue(openError(tiny).contains("shorter than the 8-byte header length"));
    // not JSON
    assertTrue(openError(file(tmp, "{\"a\": [1,", sixteen)).contains("not valid JSON"));
    // offsets beyond the data
    String out = openError(file(tmp, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", sixteen));
    assertTrue(out.contains("tensor 'w': data_offsets [8, 24] lie outside the data section of 16 bytes"), out);
    // byte count does not match shape x dtype
    String count = openError(file(tmp, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", sixteen));
    assertTrue(count.contains("tensor 'w': shape [2, 2] x F32 (4 bytes) needs 16 bytes, data_offsets [0, 12] hold 12"),
        count);
    // overlapping tensors, an unknown dtype and a bad shape: all listed at once
    String many = openError(file(tmp, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
        + "\"c\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[12,16]},"
        + "\"d\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[12,16]},"
        + "\"__metadata__\":{\"k\":3}}", sixteen));
    assertTrue(many.contains("tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"), many);
    assertTrue(many.contains("tensor 'c': unknown dtype F31"), many);
    assertTrue(many.contains("tensor 'd': shape [-1] is not a list of non-negative integers"), many);
    assertTrue(many.contains("__metadata__.k is not a string"), many);
    // a duplicate name
    assertTrue(openError(file(tmp, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", sixteen)).contains("Duplicate field 'a'"));
    // integer tensors are valid files, but do not convert to float
    Path ints = file(tmp, "{\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", sixteen);
    try (SafetensorsReader rd = SafetensorsReader.open(ints)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> rd.tensor("i"));
      assertTrue(e.getMessage().contains("tensor 'i' has dtype I64"), e.getMessage());
    }
    assertThrows(java.nio.file.NoSuchFileException.class, () -> SafetensorsReader.open(tmp.resolve("absent")));
  }
}
