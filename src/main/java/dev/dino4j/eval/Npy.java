package dev.dino4j.eval;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NumPy's {@code .npy} format, version 1.0, for little-endian float32 and int32 arrays: the
 * 6-byte magic {@code \x93NUMPY}, version bytes 1 0, a little-endian uint16 header length, an
 * ASCII dict {@code {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }} padded with
 * spaces and a newline so that the data starts at a multiple of 64 bytes, then the values in C
 * order. {@code numpy.load} reads what {@link #write} writes; {@link #read} reads that subset
 * back (what numpy.save writes for such arrays, too).
 */
public final class Npy {

  private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
  private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
  private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
  private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

  /** An array read back: its shape and values (one of floats / ints is set). */
  public record Array(long[] shape, float[] floats, int[] ints) {
    public int rows() {
      return (int) shape[0];
    }

    /** Product of the dimensions after the first (1 for a vector). */
    public int cols() {
      long n = 1;
      for (int i = 1; i < shape.length; i++) {
        n *= shape[i];
      }
      return (int) n;
    }
  }

  private Npy() {}

  /** Writes float32 {@code values} of {@code shape} (C order) to {@code file}, atomically. */
  public static void write(Path file, float[] values, long... shape) throws IOException {
    checkCount(values.length, shape);
    ByteBuffer body = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    body.asFloatBuffer().put(values);
    write(file, "<f4", shape, body.array());
  }

  /** Writes int32 {@code values} (labels) of {@code shape} to {@code file}, atomically. */
  public static void write(Path file, int[] values, long... shape) throws IOException {
    checkCount(values.length, shape);
    ByteBuffer body = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    body.asIntBuffer().put(values);
    write(file, "<i4", shape, body.array());
  }

  /** The header for a dtype and shape, padded so that magic + length + header is a multiple of 64. */
  static byte[] header(String descr, long[] shape) {
    StringBuilder dims = new StringBuilder();
    for (long d : shape) {
      dims.append(d).append(", ");
    }
    // numpy writes a 1-tuple as "(N,)" and an n-tuple as "(N, D)"
    String tuple = shape.length == 1 ? "(" + shape[0] + ",)"
        : "(" + dims.substring(0, Math.max(0, dims.length() - 2)) + ")";
    String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + tuple + ", }";
    int unpadded = MAGIC.length + 2 + 2 + dict.length() + 1; // + the final newline
    int pad = (64 - unpadded % 64) % 64;
    return (dict + " ".repeat(pad) + "\n").getBytes(StandardCharsets.US_ASCII);
  }

  private static void write(Path file, String descr, long[] shape, byte[] body) throws IOException {
    byte[] header = header(descr, shape);
    if (header.length > 0xFFFF) {
      throw new IllegalArgumentException("npy header too long for version 1.0: " + header.length + " bytes");
    }
    Path parent = file.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    Path tmp = Files.createTempFile(parent, "." + file.getFileName(), ".tmp");
    try {
      try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
        out.write(MAGIC);
        out.write(new byte[] {1, 0, (byte) (header.length & 0xFF), (byte) (header.length >>> 8)});
        out.write(header);
        out.write(body);
      }
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Reads a C-order {@code <f4} or {@code <i4} array of version 1.0 or 2.0. */
  public static Array read(Path file) throws IOException {
    try (InputStream raw = Files.newInputStream(file);
        DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(raw, 1 << 20))) {
      byte[] magic = new byte[6];
      in.readFully(magic);
      if (!java.util.Arrays.equals(magic, MAGIC)) {
        throw new IOException(file + ": not a .npy file (no \\x93NUMPY magic)");
      }
      int major = in.readUnsignedByte();
      in.readUnsignedByte();
      int headerLen;
      if (major == 1) {
        headerLen = in.readUnsignedByte() | (in.readUnsignedByte() << 8);
      } else if (major == 2 || major == 3) {
        headerLen = Integer.reverseBytes(in.readInt());
      } else {
        throw new IOException(file + ": .npy version " + major + " is not supported (1, 2 or 3)");
      }
      byte[] hb = new byte[headerLen];
      in.readFully(hb);
      String header = new String(hb, StandardCharsets.ISO_8859_1);
      String descr = group(DESCR, header, file, "descr");
      if ("True".equals(group(FORTRAN, header, file, "fortran_order"))) {
        throw new IOException(file + ": Fortran-order arrays are not supported; save with C order");
      }
      String[] parts = group(SHAPE, header, file, "shape").split(",");
      long[] shape = java.util.Arrays.stream(parts).map(String::trim).filter(s -> !s.isEmpty())
          .mapToLong(Long::parseLong).toArray();
      long count = 1;
      for (long d : shape) {
        count *= d;
      }
      if (count > Integer.MAX_VALUE - 16) {
        throw new IOException(file + ": " + count + " values do not fit one Java array");
      }
      byte[] body = new byte[(int) count * 4];
      try {
        in.readFully(body);
      } catch (java.io.EOFException e) {
        throw new IOException(file + ": truncated: shape " + java.util.Arrays.toString(shape)
            + " needs " + body.length + " bytes of data", e);
      }
      ByteBuffer buf = ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN);
      switch (descr) {
        case "<f4": {
          float[] v = new float[(int) count];
          buf.asFloatBuffer().get(v);
          return new Array(shape, v, null);
        }
        case "<i4": {
          int[] v = new int[(int) count];
          buf.asIntBuffer().get(v);
          return new Array(shape, null, v);
        }
        default:
          throw new IOException(file + ": dtype " + descr + " is not supported (<f4 float32, <i4 int32)");
      }
    }
  }

  private static String group(Pattern p, String header, Path file, String key) throws IOException {
    Matcher m = p.matcher(header);
    if (!m.find()) {
      throw new IOException(file + ": .npy header has no '" + key + "': " + header.trim());
    }
    return m.group(1);
  }

  private static void checkCount(int length, long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    if (n != length) {
      throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " holds " + n
          + " values, got " + length);
    }
  }
}
