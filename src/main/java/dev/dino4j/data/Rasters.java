package dev.dino4j.data;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.ComponentSampleModel;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferByte;
import java.awt.image.DataBufferUShort;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.SampleModel;

/**
 * Decoded AWT images and rasters -> [h, w, 3] RGB floats in [0, 1], the colour rules of
 * ImageDecoder's class comment in code: samples read straight from the DataBuffer where the layout
 * is a known interleaved one, table lookups instead of divisions, libjpeg's integer arithmetic for
 * YCbCr, Pillow's formula for CMYK.
 */
final class Rasters {

  /** i / 255f for every byte value: one table load instead of a division per sample. */
  private static final float[] UNIT8 = new float[256];

  // libjpeg's YCbCr -> RGB tables (jdcolor.c): R = Y + CR_R[Cr], B = Y + CB_B[Cb] (rounded),
  // G = Y + ((CB_G[Cb] + CR_G[Cr]) >> 16) in 16.16 fixed point.
  private static final int[] CR_R = new int[256];
  private static final int[] CB_B = new int[256];
  private static final int[] CR_G = new int[256];
  private static final int[] CB_G = new int[256];

  /** clamp(v, 0, 255) / 255 at index v + CLAMP_ZERO: libjpeg's range limit and the scale. */
  private static final float[] CLAMPED = new float[768];

  private static final int CLAMP_ZERO = 256;

  static {
    for (int i = 0; i < 256; i++) {
      UNIT8[i] = i / 255f;
      int x = i - 128;
      int half = 1 << 15;
      CR_R[i] = (fix(1.40200) * x + half) >> 16;
      CB_B[i] = (fix(1.77200) * x + half) >> 16;
      CR_G[i] = -fix(0.71414) * x;
      CB_G[i] = -fix(0.34414) * x + half;
    }
    for (int v = -CLAMP_ZERO; v < CLAMPED.length - CLAMP_ZERO; v++) {
      CLAMPED[v + CLAMP_ZERO] = Math.max(0, Math.min(255, v)) / 255f;
    }
  }

  private Rasters() {}

  /** libjpeg's FIX(x): x in 16.16 fixed point. */
  private static int fix(double x) {
    return (int) (x * 65536 + 0.5);
  }

  /** Any decoded image to [h, w, 3] floats, from the DataBuffer when the layout is known. */
  static float[] toRgb(BufferedImage img) {
    ColorModel cm = img.getColorModel();
    Raster raster = img.getRaster();
    // Integer samples of up to 16 bits, straight alpha: read as they are. (Float TIFFs and the
    // like go through getRGB below.)
    boolean plain =
        cm instanceof ComponentColorModel
            && !cm.isAlphaPremultiplied()
            && cm.getComponentSize(0) <= 16;
    int space = cm.getColorSpace().getType();
    int colours = cm.getNumColorComponents();
    if (plain && space == ColorSpace.TYPE_CMYK && colours == 4) {
      return cmykToRgb(raster, false, false); // TIFF: plain ink amounts
    }
    int h = img.getHeight();
    int w = img.getWidth();
    float[] rgb = new float[h * w * 3]; // [h, w, 3]
    if (cm instanceof IndexColorModel icm) {
      paletteToRgb(raster, icm, rgb);
      return rgb;
    }
    if (plain) {
      int bits = cm.getComponentSize(0);
      if (space == ColorSpace.TYPE_GRAY && colours == 1) {
        // Gray (+ alpha): the sample as it is, in all three channels.
        componentsToRgb(raster, new int[] {0, 0, 0}, bits, rgb);
        return rgb;
      }
      if (space == ColorSpace.TYPE_RGB && colours == 3) {
        // Band order is colour order whatever the byte order (BGR, ABGR); alpha comes last.
        componentsToRgb(raster, new int[] {0, 1, 2}, bits, rgb);
        return rgb;
      }
    }
    // Packed RGB (BMP 16/32-bit), premultiplied alpha, Lab and other colour spaces: AWT converts
    // to 8-bit sRGB.
    int[] row = new int[w];
    for (int y = 0; y < h; y++) {
      img.getRGB(0, y, w, 1, row, 0, w);
      for (int x = 0, o = 3 * y * w; x < w; x++, o += 3) {
        int argb = row[x];
        rgb[o] = UNIT8[(argb >> 16) & 0xFF];
        rgb[o + 1] = UNIT8[(argb >> 8) & 0xFF];
        rgb[o + 2] = UNIT8[argb & 0xFF];
      }
    }
    return rgb;
  }

  /** 8-bit bands {@code bands[0..2]} -> R, G, B of a new [h, w, 3] array. */
  static float[] componentsToRgb(Raster raster, int[] bands) {
    float[] rgb = new float[raster.getHeight() * raster.getWidth() * 3];
    componentsToRgb(raster, bands, 8, rgb);
    return rgb;
  }

  /** Index of the raster's first sample in its DataBuffer's array. */
  private static int dataOffset(Raster raster, ComponentSampleModel sm) {
    return raster.getDataBuffer().getOffset()
        + (raster.getMinY() - raster.getSampleModelTranslateY()) * sm.getScanlineStride()
        + (raster.getMinX() - raster.getSampleModelTranslateX()) * sm.getPixelStride();
  }

  /**
   * Bands {@code bands[0..2]} -> R, G, B scaled by 1 / (2^bits - 1); straight from the byte or
   * short array for interleaved 8- and 16-bit data (what the readers produce), else through
   * getSamples, each band scaled by its own sample size (a TIFF may store, say, 3-bit red beside
   * 8-bit green).
   */
  private static void componentsToRgb(Raster raster, int[] bands, int bits, float[] rgb) {
    int h = raster.getHeight();
    int w = raster.getWidth();
    DataBuffer db = raster.getDataBuffer();
    SampleModel model = raster.getSampleModel();
    boolean sameBits =
        model.getSampleSize(bands[0]) == bits
            && model.getSampleSize(bands[1]) == bits
            && model.getSampleSize(bands[2]) == bits;
    if (sameBits
        && model instanceof ComponentSampleModel sm
        && db.getNumBanks() == 1
        && (bits == 8 && db instanceof DataBufferByte
            || bits == 16 && db instanceof DataBufferUShort)) {
      int ps = sm.getPixelStride();
      int ss = sm.getScanlineStride();
      int[] off = sm.getBandOffsets();
      int o0 = off[bands[0]];
      int o1 = off[bands[1]];
      int o2 = off[bands[2]];
      int base = dataOffset(raster, sm);
      if (db instanceof DataBufferByte bytes) {
        byte[] a = bytes.getData();
        for (int y = 0; y < h; y++) {
          for (int x = 0, i = base + y * ss, o = 3 * y * w; x < w; x++, i += ps, o += 3) {
            rgb[o] = UNIT8[a[i + o0] & 0xFF];
            rgb[o + 1] = UNIT8[a[i + o1] & 0xFF];
            rgb[o + 2] = UNIT8[a[i + o2] & 0xFF];
          }
        }
      } else {
        short[] a = ((DataBufferUShort) db).getData();
        for (int y = 0; y < h; y++) {
          for (int x = 0, i = base + y * ss, o = 3 * y * w; x < w; x++, i += ps, o += 3) {
            rgb[o] = (a[i + o0] & 0xFFFF) / 65535f;
            rgb[o + 1] = (a[i + o1] & 0xFFFF) / 65535f;
            rgb[o + 2] = (a[i + o2] & 0xFFFF) / 65535f;
          }
        }
      }
      return;
    }
    int[] row = new int[w];
    for (int c = 0; c < 3; c++) {
      float scale = 1f / ((1L << model.getSampleSize(bands[c])) - 1);
      for (int y = 0; y < h; y++) {
        raster.getSamples(raster.getMinX(), raster.getMinY() + y, w, 1, bands[c], row);
        for (int x = 0, o = 3 * y * w + c; x < w; x++, o += 3) {
          rgb[o] = row[x] * scale;
        }
      }
    }
  }

  /** Palette indices (1-8 bits, packed or not) -> the palette's RGB; alpha is dropped. */
  private static void paletteToRgb(Raster raster, IndexColorModel icm, float[] rgb) {
    int size = Math.max(icm.getMapSize(), 1 << Math.min(16, icm.getPixelSize()));
    float[] r = new float[size]; // indices past the palette read black, as in PIL
    float[] g = new float[size];
    float[] bl = new float[size];
    for (int i = 0; i < icm.getMapSize(); i++) {
      r[i] = UNIT8[icm.getRed(i)];
      g[i] = UNIT8[icm.getGreen(i)];
      bl[i] = UNIT8[icm.getBlue(i)];
    }
    int h = raster.getHeight();
    int w = raster.getWidth();
    int[] row = new int[w];
    for (int y = 0; y < h; y++) {
      raster.getSamples(raster.getMinX(), raster.getMinY() + y, w, 1, 0, row);
      for (int x = 0, o = 3 * y * w; x < w; x++, o += 3) {
        int i = row[x];
        rgb[o] = r[i];
        rgb[o + 1] = g[i];
        rgb[o + 2] = bl[i];
      }
    }
  }

  /**
   * CMYK samples -> RGB with R = (1 - C)(1 - K) (current Pillow). {@code inverted}: stored as 1 -
   * ink (Adobe JPEGs). {@code ycck}: the first three bands are YCbCr of the inverted C, M, Y,
   * converted back as libjpeg does before the CMYK step.
   *
   * @param raster 4 bands: C, M, Y, K or Y, Cb, Cr, K
   */
  static float[] cmykToRgb(Raster raster, boolean inverted, boolean ycck) {
    int h = raster.getHeight();
    int w = raster.getWidth();
    int max = (1 << raster.getSampleModel().getSampleSize(0)) - 1;
    float norm = 1f / ((float) max * max);
    float[] rgb = new float[h * w * 3]; // [h, w, 3]
    int[] row = new int[4 * w];
    int[] cmy = new int[3];
    for (int y = 0; y < h; y++) {
      raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
      for (int x = 0, o = 3 * y * w; x < w; x++, o += 3) {
        int k = row[4 * x + 3];
        if (ycck) {
          yccToRgb(row[4 * x], row[4 * x + 1], row[4 * x + 2], cmy);
          // libjpeg's YCCK -> CMYK: C = 255 - R of the YCC triple, as stored (inverted).
          cmy[0] = 255 - cmy[0];
          cmy[1] = 255 - cmy[1];
          cmy[2] = 255 - cmy[2];
        } else {
          cmy[0] = row[4 * x];
          cmy[1] = row[4 * x + 1];
          cmy[2] = row[4 * x + 2];
        }
        // Products in float: two 16-bit factors overflow an int.
        float white = inverted ? k : max - k; // 1 - K
        for (int c = 0; c < 3; c++) {
          // Stored values are 1 - ink when inverted: (1 - C)(1 - K) = C' K'.
          rgb[o + c] = (inverted ? cmy[c] : max - cmy[c]) * white * norm;
        }
      }
    }
    return rgb;
  }

  /**
   * YCbCr samples (JFIF) -> RGB floats, with libjpeg's fixed-point arithmetic so every value equals
   * what libjpeg, Pillow and TensorFlow produce.
   *
   * @param raster 3 bands: Y, Cb, Cr
   */
  static float[] yccToRgb(Raster raster) {
    int h = raster.getHeight();
    int w = raster.getWidth();
    float[] rgb = new float[h * w * 3]; // [h, w, 3]
    DataBuffer db = raster.getDataBuffer();
    if (raster.getSampleModel() instanceof ComponentSampleModel sm
        && db instanceof DataBufferByte bytes
        && db.getNumBanks() == 1) {
      byte[] a = bytes.getData();
      int ps = sm.getPixelStride();
      int ss = sm.getScanlineStride();
      int[] off = sm.getBandOffsets();
      int base = dataOffset(raster, sm);
      for (int y = 0; y < h; y++) {
        for (int x = 0, i = base + y * ss, o = 3 * y * w; x < w; x++, i += ps, o += 3) {
          int luma = (a[i + off[0]] & 0xFF) + CLAMP_ZERO;
          int cb = a[i + off[1]] & 0xFF;
          int cr = a[i + off[2]] & 0xFF;
          rgb[o] = CLAMPED[luma + CR_R[cr]];
          rgb[o + 1] = CLAMPED[luma + ((CB_G[cb] + CR_G[cr]) >> 16)];
          rgb[o + 2] = CLAMPED[luma + CB_B[cb]];
        }
      }
      return rgb;
    }
    int[] row = new int[3 * w];
    for (int y = 0; y < h; y++) {
      raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
      for (int x = 0, o = 3 * y * w; x < w; x++, o += 3) {
        int luma = row[3 * x] + CLAMP_ZERO;
        int cb = row[3 * x + 1];
        int cr = row[3 * x + 2];
        rgb[o] = CLAMPED[luma + CR_R[cr]];
        rgb[o + 1] = CLAMPED[luma + ((CB_G[cb] + CR_G[cr]) >> 16)];
        rgb[o + 2] = CLAMPED[luma + CB_B[cb]];
      }
    }
    return rgb;
  }

  /** One YCbCr triple -> 8-bit RGB, libjpeg's arithmetic (for YCCK). */
  private static void yccToRgb(int luma, int cb, int cr, int[] out) {
    out[0] = clamp8(luma + CR_R[cr]);
    out[1] = clamp8(luma + ((CB_G[cb] + CR_G[cr]) >> 16));
    out[2] = clamp8(luma + CB_B[cb]);
  }

  private static int clamp8(int v) {
    return Math.max(0, Math.min(255, v));
  }
}
