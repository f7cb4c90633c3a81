package dev.dino4j.export;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Safetensors files written to hurt: each is refused when opened, before any tensor is allocated,
 * with a message that names the file, the tensor, the value and what was expected.
 */
class HostileSafetensorsTest {

  @TempDir Path tmp;

  private Path file(String name, byte[] header, long claimedLength, byte[] data) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(claimedLength).put(header).put(data);
    Path p = tmp.resolve(name + ".safetensors");
    Files.write(p, b.array());
    return p;
  }

  private Path file(String name, String json, byte[] data) throws IOException {
    byte[] h = json.getBytes(StandardCharsets.UTF_8);
    return file(name, h, h.length, data);
  }

  /** The open error, checked to name the file and to hold every fragment. */
  private static void refused(Path p, String... fragments) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SafetensorsReader.open(p).close());
    String m = e.getMessage();
    assertTrue(m.startsWith(p.toString()), "names the file: " + m);
    for (String f : fragments) {
      assertTrue(m.contains(f), "\"" + f + "\" in: " + m);
    }
  }

  private static String tensor(String name, String dtype, String shape, long begin, long end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
  }

  @Test
  void headerLengthLargerThanTheFile() throws IOException {
    byte[] h = "{}".getBytes(StandardCharsets.UTF_8);
    refused(file("long", h, 1L << 40, new byte[0]), "header length 1099511627776 does not fit a file of 10 bytes");
    // a length with the top bit set is shown unsigned, not as a negative number
    refused(file("negative", h, -2, new byte[0]), "header length 18446744073709551614");
    refused(file("over100mb", h, 200L << 20, new byte[0]), "header <= 100 MB");
  }

  @Test
  void offsetsOutsideTheDataOrOverlapping() throws IOException {
    byte[] sixteen = new byte[16];
    refused(file("outside", "{" + tensor("w", "F32", "[4]", 8, 24) + "}", sixteen),
        "tensor 'w': data_offsets [8, 24] lie outside the data section of 16 bytes");
    refused(file("backwards", "{" + tensor("w", "F32", "[0]", 8, 4) + "}", sixteen),
        "tensor 'w': data_offsets [8, 4] lie outside");
    refused(file("negativeoff", "{" + tensor("w", "F32", "[1]", -4, 0) + "}", sixteen),
        "tensor 'w': data_offsets [-4, 0] lie outside");
    refused(file("overlap", "{" + tensor("a", "F32", "[3]", 0, 12) + "," + tensor("b", "F32", "[2]", 8, 16) + "}", sixteen),
        "tensor 'b': data_offsets [8, 16] overlap tensor 'a' [0, 12]");
    refused(file("same", "{" + tensor("a", "F32", "[2]", 0, 8) + "," + tensor("b", "F32", "[2]", 0, 8) + "}", sixteen),
        "overlap tensor");
  }

  @Test
  void unknownDtypes() throws IOException {
    refused(file("dtype", "{" + tensor("w", "F128", "[1]", 0, 16) + "}", new byte[16]),
        "tensor 'w': unknown dtype F128 (known: [BOOL, U8");
    refused(file("nodtype", "{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]),
        "tensor 'w': no dtype string");
  }

  @Test
  void shapesWhoseProductOverflows() throws IOException {
    // 2^32 x 2^32 elements: the product wraps to 0 in 64-bit arithmetic without a check
    refused(file("overflow", "{" + tensor("w", "F32", "[4294967296,4294967296]", 0, 16) + "}", new byte[16]),
        "tensor 'w': shape [4294967296, 4294967296] x F32 (4 bytes) overflows 64 bits",
        "fit the data section of 16 bytes");
    // elements fit in 64 bits, their bytes do not
    refused(file("bytes", "{" + tensor("w", "F64", "[2305843009213693952]", 0, 16) + "}", new byte[16]),
        "tensor 'w': shape [2305843009213693952] x F64 (8 bytes) overflows 64 bits");
    // a huge shape with offsets that fit: refused by the byte count, nothing allocated
    refused(file("huge", "{" + tensor("w", "F32", "[1073741824]", 0, 16) + "}", new byte[16]),
        "tensor 'w': shape [1073741824] x F32 (4 bytes) needs 4294967296 bytes, data_offsets [0, 16] hold 16");
    refused(file("notint", "{" + tensor("w", "F32", "[1.5]", 0, 4) + "}", new byte[4]),
        "tensor 'w': shape [1.5] is not a list of non-negative integers");
    refused(file("toobig", "{" + tensor("w", "F32", "[99999999999999999999999]", 0, 4) + "}", new byte[4]),
        "is not a list of non-negative integers");
  }

  @Test
  void repeatedNames() throws IOException {
    refused(file("twice", "{" + tensor("a", "F32", "[1]", 0, 4) + "," + tensor("a", "F32", "[1]", 4, 8) + "}", new byte[8]),
        "header names a tensor twice", "Duplicate field 'a'", "every name must be unique");
  }

  @Test
  void headerThatIsNotOneUtf8JsonObject() throws IOException {
    byte[] latin1 = "{\"caf\u00e9\":1}".getBytes(StandardCharsets.ISO_8859_1);
    refused(file("latin1", latin1, latin1.length, new byte[0]), "header is not valid UTF-8");
    refused(file("trailing", "{} {\"w\":1}", new byte[0]), "header is not valid JSON");
    refused(file("array", "[1,2]", new byte[0]), "header is not a JSON object");
    refused(file("deep", "[".repeat(5000) + "]".repeat(5000), new byte[0]), "header is not valid JSON");
    // padding spaces after the object, as the reference writer adds, are fine
    Path padded = file("padded", "{" + tensor("w", "F32", "[1]", 0, 4) + "}    ", new byte[4]);
    SafetensorsReader.open(padded).close();
  }
}
