package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dino4j.data.BadImageException.Reason;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * TIFF predictors and bit depths that Pillow reads, from fixtures written by
 * src/test/resources/images/make_tiff_predictor.py (Java's TIFF writer cannot write a predictor).
 * That script checked each file decodes in Pillow to the samples of its pixels(); {@link #sample}
 * is the same formula here, so the expected values do not come from ImageDecoder.
 */
class TiffPredictorTest {

  private static final long LIMIT = ImageDecoder.DEFAULT_MAX_PIXELS;
  private static final int H = 23;
  private static final int W = 37;

  /** pixels() of make_tiff_predictor.py: sample {@code c} of pixel (y, x). */
  static int sample(int y, int x, int c, int bits) {
    if (bits == 8) {
      return (x * 37 + y * 11 + c * 85 + (x * y) % 7) % 256;
    }
    return (x * 4099 + y * 977 + c * 21845 + (x * y * 31) % 257) % 65536;
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "tiff16-gray-lzw-pred2-II.tif, 1, 16", // the file of issue 22: 16-bit LZW + horizontal predictor
    "tiff16-rgb-lzw-pred2-MM.tif, 3, 16",
    "tiff16-rgba-deflate-pred2-II.tif, 4, 16",
    "tiff16-rgb-lzw-pred1-II.tif, 3, 16",
    "tiff8-gray-lzw-pred2-MM.tif, 1, 8",
    "tiff8-rgb-deflate-pred2-II.tif, 3, 8",
  })
  void decodesToTheWrittenSamples(String file, int samplesPerPixel, int bits) throws IOException {
    Image img = ImageDecoder.decode(fixture(file), LIMIT);
    assertEquals(H, img.height(), file);
    assertEquals(W, img.width(), file);
    float max = (1 << bits) - 1;
    for (int y = 0; y < H; y++) {
      for (int x = 0; x < W; x++) {
        for (int c = 0; c < 3; c++) {
          // gray copied to R, G, B; alpha dropped, as convert("RGB")
          float want = sample(y, x, samplesPerPixel == 1 ? 0 : c, bits) / max;
          float got = img.rgb()[(y * W + x) * 3 + c];
          if (want != got) {
            throw new AssertionError(file + ": pixel (" + y + ", " + x + ") channel " + c + ": " + got
                + ", expected " + want + " (" + sample(y, x, c, bits) + " / " + (int) max + ")");
          }
        }
      }
    }
  }

  @Test
  void floatingPointPredictorIsRefusedWithAReason() throws IOException {
    BadImageException e = assertThrows(BadImageException.class,
        () -> ImageDecoder.decode(fixture("tiff-float-pred3.tif"), LIMIT));
    assertEquals(Reason.UNSUPPORTED_FORMAT, e.reason());
    assertTrue(e.getMessage().contains("floating-point predictor (Predictor 3)"), e.getMessage());
    assertTrue(e.getMessage().contains("tiff-float-pred3.tif"), e.getMessage());
  }

  @Test
  void tiledSixteenBitWithThePredictorIsRefusedNotMisdecoded() throws IOException {
    byte[] b = Files.readAllBytes(fixture("tiff16-gray-lzw-pred2-II.tif"));
    // rename the RowsPerStrip entry (278) to TileWidth (322): the directory now claims tiles
    int ifd = (int) JpegMarkers.u32(b, 4, true);
    int n = JpegMarkers.u16(b, ifd, true);
    for (int i = 0; i < n; i++) {
      int at = ifd + 2 + 12 * i;
      if (JpegMarkers.u16(b, at, true) == 278) {
        b[at] = (byte) (322 & 0xFF);
        b[at + 1] = (byte) (322 >> 8);
      }
    }
    BadImageException e = assertThrows(BadImageException.class, () -> ImageDecoder.decode(b, "tiled.tif", LIMIT));
    assertEquals(Reason.UNSUPPORTED_FORMAT, e.reason());
    assertTrue(e.getMessage().contains("tiled 16-bit TIFF"), e.getMessage());
  }

  private static Path fixture(String name) {
    try {
      return Path.of(TiffPredictorTest.class.getResource("/images/" + name).toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }
}
