package dev.dino4j.data;

import dev.dino4j.data.BadImageException.Reason;
import java.awt.image.WritableRaster;

/**
 * TIFF horizontal differencing (Predictor = 2) on 16-bit samples, which the JDK's TIFF reader
 * refuses ("16-bit samples are not supported for Horizontal differencing Predictor") although
 * libtiff, and so Pillow, read it: 16-bit LZW or Deflate TIFFs from scanners and photo tools
 * usually carry it. The first directory's Predictor is set to 1 in a copy of the bytes, the JDK
 * reader decompresses the differences, and {@link #undo} adds them up again along each row, per
 * sample, modulo 2^16 (TIFF 6.0, section 14). 8-bit predictor 2 is left to the JDK, which reads it.
 *
 * <p>Refused with UNSUPPORTED_FORMAT and a reason: floating-point samples (SampleFormat 3) and the
 * floating-point predictor (Predictor 3), and tiled 16-bit predictor-2 files (the sums restart at
 * every tile, which this does not do). Everything the first directory does not make plain is left
 * to the JDK reader, whose error then says what is damaged.
 */
final class TiffPredictor {

  private static final int BITS_PER_SAMPLE = 258;
  private static final int PREDICTOR = 317;
  private static final int TILE_WIDTH = 322;
  private static final int SAMPLE_FORMAT = 339;

  private TiffPredictor() {}

  /**
   * A copy of {@code b} with Predictor 1 when it is a 16-bit predictor-2 TIFF (then {@link #undo}
   * must run on the decoded raster), else null: the bytes decode as they are.
   */
  static byte[] withoutPredictor(byte[] b, String name) throws BadImageException {
    boolean little = b[0] == 'I';
    if (b.length < 8) {
      return null;
    }
    long ifd = JpegMarkers.u32(b, 4, little);
    if (ifd < 8 || ifd + 2 > b.length) {
      return null;
    }
    int n = JpegMarkers.u16(b, (int) ifd, little);
    if (ifd + 2 + 12L * n > b.length) {
      return null;
    }
    int bits = 0;
    int predictor = 1;
    int predictorAt = -1;
    int predictorType = 0;
    int sampleFormat = 1;
    boolean tiled = false;
    for (int i = 0; i < n; i++) {
      int at = (int) ifd + 2 + 12 * i;
      int tag = JpegMarkers.u16(b, at, little);
      int type = JpegMarkers.u16(b, at + 2, little);
      long count = JpegMarkers.u32(b, at + 4, little);
      if (tag == BITS_PER_SAMPLE) {
        bits = firstShort(b, at, type, count, little);
      } else if (tag == PREDICTOR && count == 1 && (type == 3 || type == 4)) {
        predictor = type == 3 ? JpegMarkers.u16(b, at + 8, little) : (int) JpegMarkers.u32(b, at + 8, little);
        predictorAt = at + 8;
        predictorType = type;
      } else if (tag == SAMPLE_FORMAT) {
        sampleFormat = firstShort(b, at, type, count, little);
      } else if (tag == TILE_WIDTH) {
        tiled = true;
      }
    }
    if (sampleFormat == 3 || predictor == 3) {
      throw new BadImageException(name, Reason.UNSUPPORTED_FORMAT,
          "TIFF with floating-point samples" + (predictor == 3 ? " and the floating-point predictor (Predictor 3)" : "")
              + " is not decoded here (Pillow's convert(\"RGB\") clips such values to 0-255 as well)",
          "8- or 16-bit integer samples; convert the file, e.g. to 16-bit PNG or TIFF", null);
    }
    if (predictor != 2 || bits != 16) {
      return null;
    }
    if (tiled) {
      throw new BadImageException(name, Reason.UNSUPPORTED_FORMAT,
          "tiled 16-bit TIFF with the horizontal predictor (Predictor 2) is not decoded here",
          "a striped (untiled) TIFF, an 8-bit one, or one without a predictor", null);
    }
    byte[] copy = b.clone();
    int width = predictorType == 3 ? 2 : 4;
    for (int k = 0; k < width; k++) {
      // the value 1 in the file's byte order
      copy[predictorAt + k] = (byte) ((little ? k == 0 : k == width - 1) ? 1 : 0);
    }
    return copy;
  }

  /** Adds the horizontal differences up again: each sample plus the same sample of the pixel to its left. */
  static void undo(WritableRaster r) {
    int w = r.getWidth();
    int[] row = new int[w];
    for (int band = 0; band < r.getNumBands(); band++) {
      for (int y = 0; y < r.getHeight(); y++) {
        r.getSamples(r.getMinX(), r.getMinY() + y, w, 1, band, row);
        for (int x = 1; x < w; x++) {
          row[x] = (row[x] + row[x - 1]) & 0xFFFF;
        }
        r.setSamples(r.getMinX(), r.getMinY() + y, w, 1, band, row);
      }
    }
  }

  /** The first value of a SHORT tag (inline when it fits in 4 bytes, else at its offset); 0 if unreadable. */
  private static int firstShort(byte[] b, int at, int type, long count, boolean little) {
    if (type != 3 || count < 1) {
      return 0;
    }
    long where = count <= 2 ? at + 8 : JpegMarkers.u32(b, at + 8, little);
    return where + 2 <= b.length ? JpegMarkers.u16(b, (int) where, little) : 0;
  }
}
