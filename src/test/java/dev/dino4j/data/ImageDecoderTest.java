package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.dino4j.data.BadImageException.Reason;
import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.geom.AffineTransform;
import java.awt.image.AffineTransformOp;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Function;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import org.apache.commons.imaging.Imaging;
import org.apache.commons.imaging.formats.jpeg.JpegImageMetadata;
import org.apache.commons.imaging.formats.tiff.constants.TiffTagConstants;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.AssertionFailedError;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.image.DecodeBmp;
import org.tensorflow.op.image.DecodeJpeg;
import org.tensorflow.op.image.DecodePng;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint16;
import org.tensorflow.types.TUint8;

/**
 * Every format and variant ImageDecoder reads, each compared with a second, independent decoder:
 * TensorFlow's decode ops (libjpeg-turbo, libpng, giflib and TF's own BMP code, run in a small
 * Graph + Session), Commons Imaging (pure Java), or known expected colours for what neither reads
 * the same way (CMYK, EXIF orientation). Lossless formats must agree exactly; JPEG within the
 * tolerance stated at each comparison. Fixtures Java can write are made here; the others are
 * committed under src/test/resources/images (see its README.md).
 */
class ImageDecoderTest {

  private static final long LIMIT = 10_000_000;
  private static final float LEVEL = 1 / 255f;

  @TempDir Path dir;

  private static Tf tf;

  @BeforeAll
  static void openTensorFlow() {
    tf = new Tf();
  }

  @AfterAll
  static void closeTensorFlow() {
    tf.close();
  }

  // ---------------------------------------------------------------- JPEG

  @Test
  void baselineJpegMatchesTensorFlow() throws IOException {
    BufferedImage src = picture(37, 53, 1); // not a multiple of the 16-px MCU: edge blocks too
    byte[] jpg = jpeg(src, 0.9f, false);
    Image img = ImageDecoder.decode(jpg, "baseline.jpg", LIMIT);
    // libjpeg 6b (the JDK's IDCT and chroma upsampling, then ImageDecoder's YCbCr conversion in
    // libjpeg's arithmetic) and libjpeg-turbo (TF, accurate integer IDCT) give the same bytes.
    assertImage(37, 53, tf.jpeg(jpg), img, 0f, "baseline JPEG vs TF DecodeJpeg");
    // And it is the picture: JPEG loses the noise (4 levels on average here); a channel swap or
    // a transposed image would differ by tens of levels.
    assertMeanDiff(rgbOf(src), img, 10 * LEVEL, "baseline JPEG vs its source");
  }

  @Test
  void progressiveJpegMatchesTensorFlow() throws IOException {
    BufferedImage src = picture(40, 31, 2);
    byte[] jpg = jpeg(src, 0.85f, true);
    assertTrue(hasMarker(jpg, 0xC2), "the writer made a progressive (SOF2) JPEG");
    Image img = ImageDecoder.decode(jpg, "progressive.jpg", LIMIT);
    assertImage(40, 31, tf.jpeg(jpg), img, 0f, "progressive JPEG vs TF DecodeJpeg");
    assertMeanDiff(rgbOf(src), img, 10 * LEVEL, "progressive JPEG vs its source");
  }

  @Test
  void grayJpegKeepsItsValues() throws IOException {
    BufferedImage gray = new BufferedImage(24, 17, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 17; y++) {
      for (int x = 0; x < 24; x++) {
        gray.getRaster().setSample(x, y, 0, (7 * x + 11 * y) % 256);
      }
    }
    byte[] jpg = jpeg(gray, 0.95f, false);
    Image img = ImageDecoder.decode(jpg, "gray.jpg", LIMIT);
    // TF expands gray to RGB by copying, as we do; getRGB()'s linear-light lift would fail this.
    assertImage(17, 24, tf.jpeg(jpg), img, 0f, "gray JPEG vs TF DecodeJpeg");
    for (int p = 0; p < 17 * 24; p++) {
      assertEquals(img.rgb()[3 * p], img.rgb()[3 * p + 1], 0f, "gray pixel " + p);
      assertEquals(img.rgb()[3 * p], img.rgb()[3 * p + 2], 0f, "gray pixel " + p);
    }
  }

  @Test
  void rgbJpegIsNotColourConverted() throws IOException {
    // cjpeg -rgb: Adobe transform 0, samples are R, G, B. Converting them as YCbCr (the default
    // for three components) would give wildly different colours.
    Image img = ImageDecoder.decode(fixture("rgb.jpg"), LIMIT);
    assertImage(16, 24, tf.jpeg(bytes("rgb.jpg")), img, 0f, "RGB JPEG vs TF DecodeJpeg");
    assertPixel(RED, img, 3, 3, LEVEL, "RGB JPEG top-left block");
    assertPixel(BLUE, img, 3, 20, LEVEL, "RGB JPEG top-right block");
    assertPixel(YELLOW, img, 12, 3, LEVEL, "RGB JPEG bottom-left block");
    assertPixel(CYAN, img, 12, 20, LEVEL, "RGB JPEG bottom-right block");
  }

  @Test
  void strayBytesBetweenJpegSegmentsAreSkipped() throws IOException {
    byte[] jpg = jpeg(picture(16, 16, 12), 0.9f, false);
    int afterApp0 = 4 + ((jpg[4] & 0xFF) << 8 | (jpg[5] & 0xFF)); // SOI, then APP0 JFIF
    assertEquals(0xFF, jpg[afterApp0] & 0xFF, "a marker follows APP0");
    byte[] stray = new byte[jpg.length + 3];
    System.arraycopy(jpg, 0, stray, 0, afterApp0);
    stray[afterApp0] = 0x12;
    stray[afterApp0 + 1] = 0x34;
    stray[afterApp0 + 2] = 0x56;
    System.arraycopy(jpg, afterApp0, stray, afterApp0 + 3, jpg.length - afterApp0);
    // libjpeg warns ("extraneous bytes before marker") and decodes; so do Pillow and TF.
    Image img = ImageDecoder.decode(stray, "stray.jpg", LIMIT);
    assertImage(16, 16, ImageDecoder.decode(jpg, "clean.jpg", LIMIT).rgb(), img, 0f, "stray");
    assertImage(16, 16, tf.jpeg(stray), img, 0f, "stray bytes vs TF DecodeJpeg");
  }

  /** Ink amounts (0-255) of the CMYK fixtures' quadrants: TL, TR, BL, BR. */
  private static final int[][] INK = {
    {255, 0, 0, 0}, {0, 255, 0, 0}, {0, 0, 255, 128}, {64, 128, 192, 64},
  };

  /** RGB of the ink table by R = (1 - C)(1 - K) etc., in floats (Pillow rounds to 8 bits). */
  private static float[] cmykQuadrants() {
    float[] rgb = new float[16 * 16 * 3];
    for (int y = 0; y < 16; y++) {
      for (int x = 0; x < 16; x++) {
        int[] ink = INK[2 * (y / 8) + x / 8];
        for (int c = 0; c < 3; c++) {
          rgb[3 * (16 * y + x) + c] = (1 - ink[c] / 255f) * (1 - ink[3] / 255f);
        }
      }
    }
    return rgb;
  }

  @Test
  void cmykAndYcckJpegGiveTheInksColours() throws IOException {
    // Adobe CMYK (transform 0, written by Pillow) and Adobe YCCK (transform 2, by ImageMagick):
    // flat 8x8 quadrants at quality 100 survive to within 2 levels per CMYK sample, a little
    // more after the YCC round trip.
    Image cmyk = ImageDecoder.decode(fixture("cmyk.jpg"), LIMIT);
    assertImage(16, 16, cmykQuadrants(), cmyk, 2 * LEVEL, "Adobe CMYK JPEG vs the inks");
    Image ycck = ImageDecoder.decode(fixture("ycck.jpg"), LIMIT);
    assertImage(16, 16, cmykQuadrants(), ycck, 3 * LEVEL, "Adobe YCCK JPEG vs the inks");
    // TensorFlow converts Adobe CMYK itself (R = C'K' / 255 in integers, truncated): one level.
    assertImage(16, 16, tf.jpeg(bytes("cmyk.jpg")), cmyk, LEVEL, "CMYK JPEG vs TF");
    assertImage(16, 16, tf.jpeg(bytes("ycck.jpg")), ycck, LEVEL, "YCCK JPEG vs TF");
  }

  @Test
  void cmykTiffGivesTheInksColours() throws IOException {
    // Lossless and not inverted (TIFF stores ink amounts): the formula exactly, in floats.
    Image img = ImageDecoder.decode(fixture("cmyk.tif"), LIMIT);
    assertImage(16, 16, cmykQuadrants(), img, 1e-6f, "CMYK TIFF vs the inks");
  }

  /** Block colours of the orientation fixtures as written, before JPEG. */
  private static final int[] RED = {230, 30, 30};

  private static final int[] BLUE = {40, 60, 220};
  private static final int[] YELLOW = {240, 220, 30};
  private static final int[] CYAN = {30, 210, 220};

  /**
   * Top-left and top-right colours of orientation 1-8 shown upright, as Pillow's
   * ImageOps.exif_transpose gives them for the same files (the stored image has RED top-left, BLUE
   * top-right, YELLOW bottom-left, CYAN bottom-right).
   */
  private static final int[][][] UPRIGHT_CORNERS = {
    {RED, BLUE}, {BLUE, RED}, {CYAN, YELLOW}, {YELLOW, CYAN},
    {RED, YELLOW}, {YELLOW, RED}, {CYAN, BLUE}, {BLUE, CYAN},
  };

  @Test
  void exifOrientationIsApplied() throws Exception {
    Image stored = ImageDecoder.decode(fixture("orient-1.jpg"), LIMIT);
    assertEquals(16, stored.height());
    assertEquals(24, stored.width());
    for (int n = 1; n <= 8; n++) {
      byte[] jpg = bytes("orient-" + n + ".jpg");
      // The tag as Commons Imaging reads it (odd n little-endian EXIF, even n big-endian).
      JpegImageMetadata meta = (JpegImageMetadata) Imaging.getMetadata(jpg);
      int tag =
          meta.findExifValueWithExactMatch(TiffTagConstants.TIFF_TAG_ORIENTATION).getIntValue();
      assertEquals(n, tag, "fixture orient-" + n);
      assertEquals(n, JpegMarkers.read(jpg, "orient-" + n).orientation(), "parsed tag");

      Image img = ImageDecoder.decode(jpg, "orient-" + n + ".jpg", LIMIT);
      // Same JPEG data, so exactly the stored image moved by the orientation, here by AWT.
      Image expected = transformed(stored, n);
      assertImage(expected.height(), expected.width(), expected.rgb(), img, 0f, "orientation " + n);
      int[][] corners = UPRIGHT_CORNERS[n - 1];
      assertPixel(corners[0], img, 0, 0, 2 * LEVEL, "orientation " + n + " top-left");
      assertPixel(
          corners[1], img, 0, img.width() - 1, 2 * LEVEL, "orientation " + n + " top-right");
    }
  }

  /**
   * The EXIF table as AWT affine maps of pixel squares (x', y') = M (x, y) + t, applied with
   * nearest-neighbour sampling: an implementation independent of ImageDecoder.orient.
   */
  private static Image transformed(Image stored, int orientation) {
    int h = stored.height();
    int w = stored.width();
    // new AffineTransform(m00, m10, m01, m11, m02, m12): x' = m00 x + m01 y + m02, y' = ...
    AffineTransform t =
        switch (orientation) {
          case 1 -> new AffineTransform();
          case 2 -> new AffineTransform(-1, 0, 0, 1, w, 0); // mirror left-right
          case 3 -> new AffineTransform(-1, 0, 0, -1, w, h); // 180 degrees
          case 4 -> new AffineTransform(1, 0, 0, -1, 0, h); // mirror top-bottom
          case 5 -> new AffineTransform(0, 1, 1, 0, 0, 0); // transpose
          case 6 -> new AffineTransform(0, 1, -1, 0, h, 0); // 90 degrees clockwise
          case 7 -> new AffineTransform(0, -1, -1, 0, h, w); // transverse
          case 8 -> new AffineTransform(0, -1, 1, 0, 0, w); // 90 degrees counter-clockwise
          default -> throw new IllegalArgumentException("orientation " + orientation);
        };
    BufferedImage src = toBufferedImage(stored);
    boolean swap = orientation >= 5;
    BufferedImage dst = new BufferedImage(swap ? h : w, swap ? w : h, BufferedImage.TYPE_INT_RGB);
    new AffineTransformOp(t, AffineTransformOp.TYPE_NEAREST_NEIGHBOR).filter(src, dst);
    return new Image(dst.getHeight(), dst.getWidth(), rgbOf(dst));
  }

  // ---------------------------------------------------------------- PNG

  @Test
  void eightBitPngsMatchTensorFlowAndCommonsImaging() throws IOException {
    BufferedImage rgb = picture(13, 21, 3);
    check8Bit("RGB PNG", rgb, write(rgb, "png"), true);

    BufferedImage rgba = new BufferedImage(21, 13, BufferedImage.TYPE_INT_ARGB);
    for (int y = 0; y < 13; y++) {
      for (int x = 0; x < 21; x++) {
        // Alpha 0 included: the colour under a fully transparent pixel must survive as stored.
        rgba.setRGB(x, y, ((17 * x + 5 * y) % 256) << 24 | (rgb.getRGB(x, y) & 0xFFFFFF));
      }
    }
    byte[] rgbaPng = write(rgba, "png");
    Image decoded = ImageDecoder.decode(rgbaPng, "rgba.png", LIMIT);
    // Alpha dropped, not composited: exactly the RGB of the opaque picture.
    assertImage(13, 21, rgbOf(rgb), decoded, 0f, "RGBA PNG vs its RGB");
    check8Bit("RGBA PNG", rgba, rgbaPng, false);

    BufferedImage gray = new BufferedImage(21, 13, BufferedImage.TYPE_BYTE_GRAY);
    BufferedImage grayAlpha = grayAlpha(21, 13);
    for (int y = 0; y < 13; y++) {
      for (int x = 0; x < 21; x++) {
        gray.getRaster().setSample(x, y, 0, (9 * x + 19 * y) % 256);
        grayAlpha.getRaster().setPixel(x, y, new int[] {(9 * x + 19 * y) % 256, 3 * x});
      }
    }
    check8Bit("gray PNG", gray, write(gray, "png"), false);
    check8Bit("gray + alpha PNG", grayAlpha, write(grayAlpha, "png"), false);

    BufferedImage palette = palette(21, 13, true);
    check8Bit("palette PNG", palette, write(palette, "png"), true);
  }

  @Test
  void sixteenBitPngsKeepAllBits() throws IOException {
    for (int bands : new int[] {1, 3}) {
      BufferedImage img = sixteenBit(11, 7, bands);
      byte[] png = write(img, "png");
      Image decoded = ImageDecoder.decode(png, bands + "x16.png", LIMIT);
      float[] expected = new float[11 * 7 * 3];
      int[] px = new int[bands];
      for (int y = 0; y < 11; y++) {
        for (int x = 0; x < 7; x++) {
          img.getRaster().getPixel(x, y, px);
          for (int c = 0; c < 3; c++) {
            expected[3 * (7 * y + x) + c] = px[bands == 1 ? 0 : c] / 65535f;
          }
        }
      }
      // v / 65535, not v >> 8 (Pillow's RGB) nor clipped at 255 (Pillow's gray mode I).
      assertImage(11, 7, expected, decoded, 0f, bands + "-band 16-bit PNG vs its samples");
      assertImage(11, 7, tf.png16(png), decoded, 0f, bands + "-band 16-bit PNG vs TF uint16");
    }
  }

  // ---------------------------------------------------------------- BMP, GIF, TIFF

  @Test
  void bmpMatchesTensorFlowAndCommonsImaging() throws IOException {
    BufferedImage bgr = new BufferedImage(19, 10, BufferedImage.TYPE_3BYTE_BGR);
    bgr.getGraphics().drawImage(picture(10, 19, 4), 0, 0, null);
    byte[] bmp = write(bgr, "bmp");
    Image img = ImageDecoder.decode(bmp, "rgb.bmp", LIMIT);
    assertImage(10, 19, rgbOf(bgr), img, 0f, "24-bit BMP vs its source");
    assertImage(10, 19, tf.bmp(bmp), img, 0f, "24-bit BMP vs TF DecodeBmp");
    assertImage(10, 19, commons(bmp), img, 0f, "24-bit BMP vs Commons Imaging");

    BufferedImage palette = palette(19, 10, false);
    byte[] bmp8 = write(palette, "bmp");
    // TF reads 24/32-bit BMP only.
    assertImage(10, 19, commons(bmp8), ImageDecoder.decode(bmp8, "p.bmp", LIMIT), 0f, "8-bit BMP");
  }

  @Test
  void gifGivesItsFirstFrame() throws IOException {
    // Opaque palettes: TF paints transparent pixels of a first frame black, where PIL (and we)
    // give the palette colour.
    BufferedImage first = palette(12, 9, false);
    BufferedImage second = palette(12, 9, false);
    second.getRaster().setSample(0, 0, 0, 4 - first.getRaster().getSample(0, 0, 0));
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ImageWriter w = ImageIO.getImageWritersByFormatName("gif").next();
    try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
      w.setOutput(out);
      w.prepareWriteSequence(null);
      w.writeToSequence(new IIOImage(first, null, null), null);
      w.writeToSequence(new IIOImage(second, null, null), null);
      w.endWriteSequence();
    } finally {
      w.dispose();
    }
    byte[] gif = bytes.toByteArray();
    Image img = ImageDecoder.decode(gif, "two-frames.gif", LIMIT);
    assertImage(9, 12, rgbOf(first), img, 0f, "GIF vs its first frame");
    float[] tfFrames = tf.gif(gif); // [2, 9, 12, 3]
    assertEquals(2 * 9 * 12 * 3, tfFrames.length, "TF sees two frames");
    assertImage(9, 12, Arrays.copyOf(tfFrames, 9 * 12 * 3), img, 0f, "GIF vs TF DecodeGif frame 0");
    assertImage(9, 12, commons(gif), img, 0f, "GIF vs Commons Imaging");
  }

  @Test
  void tiffMatchesCommonsImaging() throws IOException {
    BufferedImage src = picture(14, 22, 5);
    for (String compression : new String[] {null, "LZW", "Deflate"}) {
      byte[] tif = writeTiff(src, compression);
      Image img = ImageDecoder.decode(tif, "rgb.tif", LIMIT);
      assertImage(14, 22, rgbOf(src), img, 0f, "TIFF " + compression + " vs its source");
      assertImage(14, 22, commons(tif), img, 0f, "TIFF " + compression + " vs Commons Imaging");
    }
    BufferedImage deep = sixteenBit(6, 5, 3);
    Image img = ImageDecoder.decode(writeTiff(deep, null), "16.tif", LIMIT);
    assertEquals(deep.getRaster().getSample(4, 5, 2) / 65535f, img.rgb()[3 * (5 * 5 + 4) + 2], 0f);
  }

  // ---------------------------------------------------------------- format, limits, bad input

  @Test
  void formatComesFromTheContentNotTheName() throws IOException {
    BufferedImage src = picture(8, 8, 6);
    Path pngNamedJpg = dir.resolve("really-a-png.jpg");
    Files.write(pngNamedJpg, write(src, "png"));
    assertImage(8, 8, rgbOf(src), ImageDecoder.decode(pngNamedJpg, LIMIT), 0f, "PNG named .jpg");
    Path jpgNamedPng = dir.resolve("really-a-jpeg.png");
    byte[] jpg = jpeg(src, 0.9f, false);
    Files.write(jpgNamedPng, jpg);
    assertImage(8, 8, tf.jpeg(jpg), ImageDecoder.decode(jpgNamedPng, LIMIT), 0f, "JPEG named .png");
  }

  @Test
  void pixelLimitIsCheckedBeforeDecoding() throws IOException {
    byte[] huge = pngWithHeader(100_000, 100_000);
    long t0 = System.nanoTime();
    BadImageException e =
        assertThrows(
            BadImageException.class, () -> ImageDecoder.decode(huge, "bomb.png", 178_956_970));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertEquals(Reason.TOO_LARGE, e.reason());
    assertTrue(e.getMessage().startsWith("bomb.png: "), e.getMessage());
    assertTrue(e.getMessage().contains("100000 x 100000 px"), e.getMessage());
    assertTrue(e.getMessage().contains("10,000,000,000 pixels"), e.getMessage());
    assertTrue(e.getMessage().contains("data.max_pixels = 178,956,970"), e.getMessage());
    // 30 GB of floats would take far longer to fail; the header check takes microseconds.
    assertTrue(ms < 1000, "refused after " + ms + " ms");

    byte[] jpg = jpeg(picture(30, 40, 7), 0.9f, false);
    assertEquals(30, ImageDecoder.decode(jpg, "at-limit.jpg", 1200).height(), "30 x 40 = 1200");
    BadImageException over =
        assertThrows(BadImageException.class, () -> ImageDecoder.decode(jpg, "over.jpg", 1199));
    assertEquals(Reason.TOO_LARGE, over.reason());
    assertThrows(IllegalArgumentException.class, () -> ImageDecoder.decode(jpg, "x.jpg", 0));
  }

  @Test
  void truncatedJpegIsRefused() throws IOException {
    for (boolean progressive : new boolean[] {false, true}) {
      byte[] jpg = jpeg(picture(48, 64, 8), 0.9f, progressive);
      String kind = progressive ? "progressive" : "baseline";
      // Cut inside the scans, and cut by only the end-of-image marker: both lack FF D9.
      for (int keep : new int[] {jpg.length / 2, jpg.length - 2}) {
        assertReason(
            Reason.TRUNCATED, Arrays.copyOf(jpg, keep), kind + "-cut.jpg", "end-of-image marker");
      }
      // Cut inside the scans but given an end-of-image marker: the structure looks whole, the
      // decoder's warning listener catches the data ending early.
      byte[] patched = Arrays.copyOf(jpg, jpg.length / 2 + 2);
      patched[patched.length - 2] = (byte) 0xFF;
      patched[patched.length - 1] = (byte) 0xD9;
      assertReason(Reason.TRUNCATED, patched, kind + "-patched.jpg", "decoder: ");
    }
    // Cut inside the headers.
    byte[] jpg = jpeg(picture(8, 8, 9), 0.9f, false);
    assertReason(Reason.TRUNCATED, Arrays.copyOf(jpg, 40), "head.jpg", "headers");
    assertReason(Reason.TRUNCATED, Arrays.copyOf(jpg, 2), "two-bytes.jpg", "signature");
  }

  @Test
  void truncatedPngIsRefused() throws IOException {
    byte[] png = write(picture(30, 30, 10), "png");
    assertReason(Reason.TRUNCATED, Arrays.copyOf(png, png.length / 2), "half.png", "IDAT");
    assertReason(Reason.TRUNCATED, Arrays.copyOf(png, png.length - 12), "no-iend.png", "IEND");
  }

  @Test
  void truncatedBmpAndTiffAreRefused() throws IOException {
    BufferedImage src = new BufferedImage(20, 10, BufferedImage.TYPE_3BYTE_BGR);
    src.getGraphics().drawImage(picture(10, 20, 13), 0, 0, null);
    byte[] bmp = write(src, "bmp");
    // Without its last byte the JDK's reader would decode it silently.
    assertReason(Reason.TRUNCATED, Arrays.copyOf(bmp, bmp.length - 1), "cut.bmp", "pixel rows");
    byte[] tif = writeTiff(src, null);
    assertReason(Reason.TRUNCATED, Arrays.copyOf(tif, tif.length / 2), "cut.tif", "TIFF stops");
  }

  @Test
  void damagedPngDataIsCorrupt() throws IOException {
    byte[] png = pngWithHeader(4, 4);
    assertReason(
        Reason.CORRUPT,
        withIdat(png, "not zlib data".getBytes(StandardCharsets.US_ASCII)),
        "garbage.png",
        "PNG data is damaged");
  }

  @Test
  void notAnImageIsNamedAsSuch() throws IOException {
    byte[] noise = new byte[1000];
    new Random(7).nextBytes(noise);
    assertReason(Reason.NOT_AN_IMAGE, noise, "photo.jpg", "not an image");
    BadImageException html =
        assertReason(
            Reason.NOT_AN_IMAGE,
            "<!DOCTYPE html><html>404".getBytes(StandardCharsets.US_ASCII),
            "cat.jpg",
            "(\"<!DOCTYPE");
    assertTrue(html.getMessage().startsWith("cat.jpg: not an image"), html.getMessage());
    assertTrue(html.getMessage().endsWith("not the name)"), html.getMessage());
    assertReason(Reason.EMPTY, new byte[0], "empty.jpg", "0 bytes");
    Path empty = Files.createFile(dir.resolve("empty.png"));
    assertEquals(
        Reason.EMPTY,
        assertThrows(BadImageException.class, () -> ImageDecoder.decode(empty, LIMIT)).reason());
  }

  @Test
  void webpHeicAndAvifAreUnsupported() throws IOException {
    for (String[] f :
        new String[][] {{"webp.webp", "WebP"}, {"heic.heic", "HEIC/HEIF"}, {"avif.avif", "AVIF"}}) {
      BadImageException e =
          assertThrows(BadImageException.class, () -> ImageDecoder.decode(fixture(f[0]), LIMIT));
      assertEquals(Reason.UNSUPPORTED_FORMAT, e.reason(), e.getMessage());
      assertTrue(e.getMessage().contains(f[1] + " image"), e.getMessage());
      assertTrue(e.getMessage().contains("JPEG, PNG, BMP, GIF or TIFF"), e.getMessage());
    }
    // A HEIF whose major brand is the generic 'mif1' still names the family.
    byte[] mif1 = new byte[32];
    System.arraycopy(
        "\0\0\0\u0018ftypmif1\0\0\0\0mif1heic".getBytes(StandardCharsets.ISO_8859_1),
        0,
        mif1,
        0,
        24);
    assertReason(Reason.UNSUPPORTED_FORMAT, mif1, "photo.jpg", "HEIC/HEIF image");
  }

  @Test
  void unreadableFilesAreNamed() throws IOException {
    Path missing = dir.resolve("missing.jpg");
    BadImageException e =
        assertThrows(BadImageException.class, () -> ImageDecoder.decode(missing, LIMIT));
    assertEquals(Reason.UNREADABLE, e.reason());
    assertEquals(missing.toString(), e.file());
    assertTrue(e.getMessage().startsWith(missing + ": no such file"), e.getMessage());

    BadImageException folder =
        assertThrows(BadImageException.class, () -> ImageDecoder.decode(dir, LIMIT));
    assertEquals(Reason.UNREADABLE, folder.reason());
    assertTrue(folder.getMessage().contains("is a folder"), folder.getMessage());

    // root reads files whatever their permissions; the check runs for other users only.
    assumeFalse("root".equals(System.getProperty("user.name")), "running as root");
    Path locked = dir.resolve("locked.png");
    Files.write(locked, write(picture(4, 4, 11), "png"));
    Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("---------"));
    BadImageException denied =
        assertThrows(BadImageException.class, () -> ImageDecoder.decode(locked, LIMIT));
    assertEquals(Reason.UNREADABLE, denied.reason());
    assertTrue(denied.getMessage().contains("permission denied"), denied.getMessage());
  }

  /** The comparisons above must be able to fail: wrong expectations are caught. */
  @Test
  void comparisonsCatchWrongImages() throws IOException {
    BufferedImage src = picture(13, 21, 3);
    Image img = ImageDecoder.decode(write(src, "png"), "rgb.png", LIMIT);
    float[] right = rgbOf(src);
    assertImage(13, 21, right, img, 0f, "control");
    float[] bgr = right.clone();
    for (int p = 0; p < bgr.length; p += 3) {
      bgr[p] = right[p + 2];
      bgr[p + 2] = right[p];
    }
    assertThrows(AssertionFailedError.class, () -> assertImage(13, 21, bgr, img, LEVEL, "BGR"));
    float[] offByTwo = right.clone();
    offByTwo[100] += 2 * LEVEL;
    assertThrows(AssertionFailedError.class, () -> assertImage(13, 21, offByTwo, img, LEVEL, "+2"));
    assertThrows(AssertionFailedError.class, () -> assertImage(21, 13, right, img, 0f, "h <-> w"));
    // Orientation 6 is not orientation 8.
    Image stored = ImageDecoder.decode(fixture("orient-1.jpg"), LIMIT);
    Image six = ImageDecoder.decode(fixture("orient-6.jpg"), LIMIT);
    Image eight = transformed(stored, 8);
    assertThrows(
        AssertionFailedError.class,
        () -> assertImage(eight.height(), eight.width(), eight.rgb(), six, 10 * LEVEL, "6 vs 8"));
    assertThrows(
        AssertionFailedError.class, () -> assertPixel(RED, six, 0, 0, 2 * LEVEL, "6 top-left"));
  }

  // ---------------------------------------------------------------- comparisons

  private static void assertImage(
      int h, int w, float[] expected, Image got, float tolerance, String what) {
    assertEquals(h, got.height(), what + ": height");
    assertEquals(w, got.width(), what + ": width");
    assertEquals(expected.length, got.rgb().length, what + ": values");
    double max = -1;
    int at = 0;
    for (int i = 0; i < expected.length; i++) {
      double d = Math.abs(expected[i] - got.rgb()[i]);
      if (d > max) {
        max = d;
        at = i;
      }
    }
    if (max > tolerance) {
      throw new AssertionFailedError(
          String.format(
              "%s: largest difference %.5f (%.2f levels) at y=%d x=%d channel %d, tolerance %.5f",
              what, max, max * 255, at / 3 / w, at / 3 % w, at % 3, tolerance));
    }
  }

  private static void assertMeanDiff(float[] expected, Image got, float tolerance, String what) {
    double sum = 0;
    for (int i = 0; i < expected.length; i++) {
      sum += Math.abs(expected[i] - got.rgb()[i]);
    }
    double mean = sum / expected.length;
    assertTrue(mean <= tolerance, what + ": mean difference " + mean * 255 + " levels");
  }

  private static void assertPixel(int[] rgb, Image img, int y, int x, float tol, String what) {
    int o = 3 * (y * img.width() + x);
    for (int c = 0; c < 3; c++) {
      float got = img.rgb()[o + c];
      if (Math.abs(rgb[c] / 255f - got) > tol) {
        throw new AssertionFailedError(
            what + ": expected " + Arrays.toString(rgb) + ", channel " + c + " is " + got * 255);
      }
    }
  }

  private static BadImageException assertReason(
      Reason reason, byte[] bytes, String name, String inMessage) {
    BadImageException e =
        assertThrows(BadImageException.class, () -> ImageDecoder.decode(bytes, name, LIMIT), name);
    assertEquals(reason, e.reason(), e.getMessage());
    assertEquals(name, e.file());
    assertTrue(e.getMessage().startsWith(name + ": "), e.getMessage());
    assertTrue(e.getMessage().contains(inMessage), e.getMessage());
    assertTrue(e.getMessage().contains("(expected "), e.getMessage());
    return e;
  }

  /** Lossless 8-bit: exact against the source, TensorFlow's decoder and Commons Imaging. */
  private static void check8Bit(String what, BufferedImage src, byte[] png, boolean viaCommons)
      throws IOException {
    Image img = ImageDecoder.decode(png, what, LIMIT);
    int h = src.getHeight();
    int w = src.getWidth();
    assertImage(h, w, tf.png(png), img, 0f, what + " vs TF DecodePng");
    if (viaCommons) {
      assertImage(h, w, commons(png), img, 0f, what + " vs Commons Imaging");
    }
    if (src.getType() == BufferedImage.TYPE_BYTE_GRAY || src.getRaster().getNumBands() == 2) {
      for (int p = 0; p < h * w; p++) {
        float v = src.getRaster().getSample(p % w, p / w, 0) / 255f;
        assertEquals(v, img.rgb()[3 * p], 0f, what + " gray sample as stored, pixel " + p);
      }
    }
  }

  // ---------------------------------------------------------------- second decoders

  /** TensorFlow's decode ops in one graph and session, shared by the tests. */
  private static final class Tf implements AutoCloseable {
    private final Graph graph = new Graph();
    private final Session session;
    private final Placeholder<TString> in;
    private final Operand<TUint8> jpeg;
    private final Operand<TUint8> png;
    private final Operand<TUint16> png16;
    private final Operand<TUint8> bmp;
    private final Operand<TUint8> gif;

    Tf() {
      Ops ops = Ops.create(graph);
      in = ops.placeholder(TString.class);
      jpeg =
          ops.image.decodeJpeg(
              in, DecodeJpeg.channels(3L), DecodeJpeg.dctMethod("INTEGER_ACCURATE"));
      png = ops.image.decodePng(in, TUint8.class, DecodePng.channels(3L));
      png16 = ops.image.decodePng(in, TUint16.class, DecodePng.channels(3L));
      bmp = ops.image.decodeBmp(in, DecodeBmp.channels(3L));
      gif = ops.image.decodeGif(in);
      session = new Session(graph);
    }

    float[] jpeg(byte[] b) {
      return bytes(jpeg, b);
    }

    float[] png(byte[] b) {
      return bytes(png, b);
    }

    float[] bmp(byte[] b) {
      return bytes(bmp, b);
    }

    float[] gif(byte[] b) {
      return bytes(gif, b);
    }

    float[] png16(byte[] b) {
      return run(
          png16,
          b,
          t -> {
            short[] v = new short[(int) t.shape().size()];
            t.asRawTensor().data().asShorts().read(v);
            float[] f = new float[v.length];
            for (int i = 0; i < v.length; i++) {
              f[i] = (v[i] & 0xFFFF) / 65535f;
            }
            return f;
          });
    }

    private float[] bytes(Operand<TUint8> op, byte[] b) {
      return run(
          op,
          b,
          t -> {
            byte[] v = new byte[(int) t.shape().size()];
            t.asRawTensor().data().read(v);
            float[] f = new float[v.length];
            for (int i = 0; i < v.length; i++) {
              f[i] = (v[i] & 0xFF) / 255f;
            }
            return f;
          });
    }

    /** Runs {@code op} on {@code b}; the values are copied out before the result is freed. */
    private float[] run(Operand<?> op, byte[] b, Function<Tensor, float[]> copy) {
      try (TString t = TString.tensorOfBytes(NdArrays.scalarOfObject(b));
          Result r = session.runner().feed(in, t).fetch(op).run()) {
        return copy.apply(r.get(0));
      }
    }

    @Override
    public void close() {
      session.close();
      graph.close();
    }
  }

  /**
   * Commons Imaging's decode through getRGB. Not for gray: it stores gray via setRGB into a
   * linear-light TYPE_BYTE_GRAY image, and the round trip back is off by up to 6 levels.
   */
  private static float[] commons(byte[] b) throws IOException {
    return rgbOf(Imaging.getBufferedImage(b));
  }

  // ---------------------------------------------------------------- fixtures

  /** Smooth random colour picture with texture, so JPEG has something to lose. */
  static BufferedImage picture(int h, int w, long seed) {
    Random r = new Random(seed);
    double[] f = new double[6];
    for (int i = 0; i < f.length; i++) {
      f[i] = 0.1 + r.nextDouble();
    }
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int red = clamp(128 + 100 * Math.sin(f[0] * 0.4 * x + f[1] * 0.3 * y) + r.nextInt(9));
        int green = clamp(128 + 100 * Math.sin(f[2] * 0.3 * x - f[3] * 0.5 * y) + r.nextInt(9));
        int blue = clamp(128 + 100 * Math.cos(f[4] * 0.2 * (x + y) + f[5]) + r.nextInt(9));
        img.setRGB(x, y, (red << 16) | (green << 8) | blue);
      }
    }
    return img;
  }

  private static int clamp(double v) {
    return (int) Math.max(0, Math.min(255, Math.round(v)));
  }

  /**
   * Five colours used from a full 256-entry palette (Commons Imaging misreads BMPs with short
   * palettes); with {@code transparent}, the fifth is transparent (tRNS in PNG).
   */
  private static BufferedImage palette(int w, int h, boolean transparent) {
    byte[] r = new byte[256];
    byte[] g = new byte[256];
    byte[] b = new byte[256];
    byte[] a = new byte[256];
    int[][] colours = {{255, 0, 0}, {0, 255, 0}, {17, 34, 51}, {200, 180, 20}, {90, 90, 90}};
    for (int i = 0; i < 256; i++) {
      int[] c = i < colours.length ? colours[i] : new int[] {i, i, i};
      r[i] = (byte) c[0];
      g[i] = (byte) c[1];
      b[i] = (byte) c[2];
      a[i] = (byte) (transparent && i == 4 ? 0 : 255);
    }
    BufferedImage img =
        new BufferedImage(
            w, h, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(8, 256, r, g, b, a));
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.getRaster().setSample(x, y, 0, (x + 2 * y) % 5);
      }
    }
    return img;
  }

  private static BufferedImage grayAlpha(int w, int h) {
    ComponentColorModel cm =
        new ComponentColorModel(
            ColorSpace.getInstance(ColorSpace.CS_GRAY),
            true,
            false,
            Transparency.TRANSLUCENT,
            DataBuffer.TYPE_BYTE);
    return new BufferedImage(cm, cm.createCompatibleWritableRaster(w, h), false, null);
  }

  /** 16 bits per sample, gray (bands = 1) or RGB (3), values spread over 0-65535. */
  private static BufferedImage sixteenBit(int h, int w, int bands) {
    ComponentColorModel cm =
        new ComponentColorModel(
            ColorSpace.getInstance(bands == 1 ? ColorSpace.CS_GRAY : ColorSpace.CS_sRGB),
            false,
            false,
            Transparency.OPAQUE,
            DataBuffer.TYPE_USHORT);
    WritableRaster raster = cm.createCompatibleWritableRaster(w, h);
    int[] px = new int[bands];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        for (int c = 0; c < bands; c++) {
          px[c] = (int) ((40_507L * (x + 1) + 7_919L * (y + 1) * (c + 3)) % 65_536);
        }
        px[0] = x == 0 && y == 0 ? 65_535 : px[0]; // the top value, which PIL's gray path clips
        raster.setPixel(x, y, px);
      }
    }
    return new BufferedImage(cm, raster, false, null);
  }

  static byte[] jpeg(BufferedImage img, float quality, boolean progressive)
      throws IOException {
    ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
    ImageWriteParam p = w.getDefaultWriteParam();
    p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
    p.setCompressionQuality(quality);
    if (progressive) {
      p.setProgressiveMode(ImageWriteParam.MODE_DEFAULT);
    }
    return writeWith(w, p, img);
  }

  private static byte[] writeTiff(BufferedImage img, String compression) throws IOException {
    ImageWriter w = ImageIO.getImageWritersByFormatName("tiff").next();
    ImageWriteParam p = w.getDefaultWriteParam();
    if (compression != null) {
      p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
      p.setCompressionType(compression);
    }
    return writeWith(w, p, img);
  }

  private static byte[] writeWith(ImageWriter w, ImageWriteParam p, BufferedImage img)
      throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
      w.setOutput(out);
      w.write(null, new IIOImage(img, null, null), p);
    } finally {
      w.dispose();
    }
    return bytes.toByteArray();
  }

  static byte[] write(BufferedImage img, String format) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    assertTrue(ImageIO.write(img, format, bytes), "no ImageIO writer for " + format);
    return bytes.toByteArray();
  }

  /** A structurally complete RGB PNG whose IHDR says w x h, with one tiny IDAT. */
  static byte[] pngWithHeader(int w, int h) {
    ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(w).putInt(h).put(new byte[] {8, 2, 0, 0, 0});
    Deflater deflater = new Deflater();
    deflater.setInput(new byte[1 + 3 * Math.min(w, 4)]); // one filtered row, at most
    deflater.finish();
    byte[] idat = new byte[64];
    idat = Arrays.copyOf(idat, deflater.deflate(idat));
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A});
    chunk(out, "IHDR", ihdr.array());
    chunk(out, "IDAT", idat);
    chunk(out, "IEND", new byte[0]);
    return out.toByteArray();
  }

  /** {@code png} (from pngWithHeader) with its IDAT data replaced. */
  private static byte[] withIdat(byte[] png, byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(png, 0, 8 + 12 + 13); // signature, IHDR
    chunk(out, "IDAT", data);
    chunk(out, "IEND", new byte[0]);
    return out.toByteArray();
  }

  private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
    byte[] t = type.getBytes(StandardCharsets.US_ASCII);
    CRC32 crc = new CRC32();
    crc.update(t);
    crc.update(data);
    out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
    out.writeBytes(t);
    out.writeBytes(data);
    out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
  }

  private static boolean hasMarker(byte[] jpg, int marker) {
    for (int i = 0; i + 1 < jpg.length; i++) {
      if ((jpg[i] & 0xFF) == 0xFF && (jpg[i + 1] & 0xFF) == marker) {
        return true;
      }
    }
    return false;
  }

  /** [h, w, 3] floats of an image via getRGB: exact for sRGB sources (RGB, ARGB, palette). */
  static float[] rgbOf(BufferedImage img) {
    int h = img.getHeight();
    int w = img.getWidth();
    float[] rgb = new float[h * w * 3];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int v = img.getRGB(x, y);
        int o = 3 * (y * w + x);
        rgb[o] = ((v >> 16) & 0xFF) / 255f;
        rgb[o + 1] = ((v >> 8) & 0xFF) / 255f;
        rgb[o + 2] = (v & 0xFF) / 255f;
      }
    }
    return rgb;
  }

  private static BufferedImage toBufferedImage(Image img) {
    BufferedImage out = new BufferedImage(img.width(), img.height(), BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < img.height(); y++) {
      for (int x = 0; x < img.width(); x++) {
        int o = 3 * (y * img.width() + x);
        int r = Math.round(img.rgb()[o] * 255);
        int g = Math.round(img.rgb()[o + 1] * 255);
        int b = Math.round(img.rgb()[o + 2] * 255);
        out.setRGB(x, y, (r << 16) | (g << 8) | b);
      }
    }
    return out;
  }

  private static Path fixture(String name) {
    try {
      return Path.of(ImageDecoderTest.class.getResource("/images/" + name).toURI());
    } catch (URISyntaxException | NullPointerException e) {
      throw new IllegalStateException("missing test fixture images/" + name, e);
    }
  }

  private static byte[] bytes(String fixture) {
    try {
      return Files.readAllBytes(fixture(fixture));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
