package dev.dino4j.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dino4j.data.BadImageException;
import dev.dino4j.data.Image;
import dev.dino4j.data.ImageDecoder;
import java.io.IOException;
import org.junit.jupiter.api.Tag;

/**
 * ImageDecoder on arbitrary bytes: an image of floats in [0, 1], or a BadImageException naming
 * the input. Seeds: one small file per decoded format (JPEG incl. CMYK, YCCK and EXIF-rotated,
 * PNG 8/16-bit and palette, GIF, BMP, TIFF incl. 16-bit LZW/Deflate with the predictor) and the
 * refused ones (WebP, HEIC, AVIF, float TIFF).
 */
@Tag("fuzz")
class ImageDecoderFuzzTest {

  /** Low, so a header may claim at most 12 MB of floats; the JVM runs with -Xmx512m in make fuzz. */
  private static final long MAX_PIXELS = 1L << 20;

  @FuzzTest
  void decode(byte[] data) throws IOException {
    Image img;
    try {
      img = ImageDecoder.decode(data, "fuzz.img", MAX_PIXELS);
    } catch (BadImageException e) {
      assertTrue(e.getMessage().startsWith("fuzz.img: "), e.getMessage());
      return;
    }
    assertTrue((long) img.height() * img.width() <= MAX_PIXELS);
    assertEquals((long) img.height() * img.width() * 3, img.rgb().length);
    for (float v : img.rgb()) {
      if (!(v >= 0f && v <= 1f)) {
        throw new AssertionError("pixel value " + v + " outside [0, 1]");
      }
    }
  }
}
