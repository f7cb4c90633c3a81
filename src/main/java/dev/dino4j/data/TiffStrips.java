package dev.dino4j.data;

import dev.dino4j.data.BadImageException.Reason;

/**
 * Checks the first TIFF directory's strips (or tiles) against the file before the JDK's reader
 * sees them: its decompressors allocate each strip's StripByteCounts entry as it stands, so a
 * 300-byte file that claims a 2 GB strip would cost 2 GB of heap. A strip that runs past the end of
 * the file is TRUNCATED, as libtiff (and Pillow) fail on it too. Anything the directory does not
 * make plain is left to the reader, whose error then says what is damaged.
 */
final class TiffStrips {

  private static final int STRIP_OFFSETS = 273;
  private static final int STRIP_BYTE_COUNTS = 279;
  private static final int TILE_OFFSETS = 324;
  private static final int TILE_BYTE_COUNTS = 325;
  private static final int BITS_PER_SAMPLE = 258;

  private TiffStrips() {}

  static void check(byte[] b, String name) throws BadImageException {
    if (b.length < 8) {
      return;
    }
    boolean little = b[0] == 'I';
    long ifd = JpegMarkers.u32(b, 4, little);
    if (ifd < 8 || ifd + 2 > b.length) {
      return;
    }
    int n = JpegMarkers.u16(b, (int) ifd, little);
    if (ifd + 2 + 12L * n > b.length) {
      return;
    }
    long[] offsets = null;
    long[] counts = null;
    String unit = "strip";
    for (int i = 0; i < n; i++) {
      int at = (int) ifd + 2 + 12 * i;
      int tag = JpegMarkers.u16(b, at, little);
      if (tag == BITS_PER_SAMPLE) {
        checkBits(b, name, values(b, at, little));
      } else if (tag == STRIP_OFFSETS || tag == TILE_OFFSETS) {
        offsets = values(b, at, little);
      } else if (tag == STRIP_BYTE_COUNTS || tag == TILE_BYTE_COUNTS) {
        counts = values(b, at, little);
        unit = tag == TILE_BYTE_COUNTS ? "tile" : "strip";
      }
    }
    if (counts == null) {
      return;
    }
    for (int k = 0; k < counts.length; k++) {
      long offset = offsets != null && k < offsets.length ? offsets[k] : 0;
      if (counts[k] > b.length || offset + counts[k] > b.length) {
        throw new BadImageException(
            name,
            Reason.TRUNCATED,
            "TIFF stops before its image data ends (" + b.length + " bytes): " + unit + " " + k
                + " of " + counts.length + " is " + counts[k] + " bytes at offset " + offset,
            "a complete TIFF; copy or download it again",
            null);
      }
    }
  }

  /**
   * Sample depths of 1 to 8, 16 and 32 bits only: the JDK reader runs out of memory on some other
   * depths (fuzzing: a 229-byte LZW TIFF of 261 x 3 pixels with 29-bit samples), and PIL reads none
   * of them either.
   */
  private static void checkBits(byte[] b, String name, long[] bits) throws BadImageException {
    if (bits == null) {
      return;
    }
    for (long v : bits) {
      if (!(v >= 1 && v <= 8 || v == 16 || v == 32)) {
        throw new BadImageException(
            name,
            Reason.UNSUPPORTED_FORMAT,
            "TIFF with " + v + "-bit samples (BitsPerSample " + java.util.Arrays.toString(bits) + ")",
            "a TIFF of 1-8, 16 or 32 bits a sample; convert it, e.g. to PNG",
            null);
      }
    }
  }

  /**
   * The values of the SHORT or LONG tag whose entry is at {@code at}, inline when they fit in 4
   * bytes; null when they do not lie inside the file (never an array larger than the file).
   */
  private static long[] values(byte[] b, int at, boolean little) {
    int type = JpegMarkers.u16(b, at + 2, little);
    long count = JpegMarkers.u32(b, at + 4, little);
    int size = type == 3 ? 2 : type == 4 ? 4 : 0;
    if (size == 0 || count == 0 || count * size > b.length) {
      return null;
    }
    long where = count * size <= 4 ? at + 8 : JpegMarkers.u32(b, at + 8, little);
    if (where + count * size > b.length) {
      return null;
    }
    long[] v = new long[(int) count];
    for (int i = 0; i < v.length; i++) {
      int p = (int) where + i * size;
      v[i] = size == 2 ? JpegMarkers.u16(b, p, little) : JpegMarkers.u32(b, p, little);
    }
    return v;
  }
}
