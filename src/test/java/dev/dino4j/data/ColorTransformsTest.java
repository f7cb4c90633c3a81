package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.awt.Color;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Photometric steps against hand computations and java.awt.Color's HSB conversion. */
class ColorTransformsTest {

  private static final float EPS = 1e-6f;

  // Two pixels: (0.2, 0.4, 0.6) with luma 0.363 and (1, 0, 0) with luma 0.299; mean luma 0.331.
  private static float[] twoPixels() {
    return new float[] {0.2f, 0.4f, 0.6f, 1f, 0f, 0f};
  }

  @Test
  void brightnessScalesAndClamps() {
    float[] a = {0.2f, 0.5f, 0.8f};
    ColorTransforms.brightness(a, 0, 1, 1.5f);
    assertArrayEquals(new float[] {0.3f, 0.75f, 1f}, a, EPS); // 1.2 clamps to 1
  }

  @Test
  void contrastBlendsWithMeanLuma() {
    float[] a = twoPixels();
    ColorTransforms.contrast(a, 0, 2, 0.5f); // 0.5 x + 0.5 * 0.331
    assertArrayEquals(new float[] {0.2655f, 0.3655f, 0.4655f, 0.6655f, 0.1655f, 0.1655f}, a, EPS);
    float[] b = twoPixels();
    ColorTransforms.contrast(b, 0, 2, 2f); // 2 x - 0.331, clamped
    assertArrayEquals(new float[] {0.069f, 0.469f, 0.869f, 1f, 0f, 0f}, b, EPS);
  }

  @Test
  void saturationBlendsWithOwnLuma() {
    float[] a = twoPixels();
    ColorTransforms.saturation(a, 0, 2, 0f); // fully gray
    assertArrayEquals(new float[] {0.363f, 0.363f, 0.363f, 0.299f, 0.299f, 0.299f}, a, EPS);
    float[] b = twoPixels();
    ColorTransforms.saturation(b, 0, 2, 2f); // 2 x - luma, clamped
    assertArrayEquals(new float[] {0.037f, 0.437f, 0.837f, 1f, 0f, 0f}, b, EPS);
  }

  @Test
  void grayscaleUsesItuWeights() {
    float[] a = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    ColorTransforms.grayscale(a, 0, 3);
    assertArrayEquals(
        new float[] {0.299f, 0.299f, 0.299f, 0.587f, 0.587f, 0.587f, 0.114f, 0.114f, 0.114f},
        a,
        EPS);
  }

  @Test
  void solarizeInvertsFrom128() {
    float[] a = {127 / 255f, 128 / 255f, 1f, 0f, 0.5f, 0.9f};
    ColorTransforms.solarize(a, 0, 2);
    // 0.5 = 127.5/255 is below the threshold; 0.9 is above
    assertArrayEquals(new float[] {127 / 255f, 127 / 255f, 0f, 0f, 0.5f, 0.1f}, a, EPS);
  }

  @Test
  void flipMirrorsRows() {
    // 2 rows x 3 columns, pixel value = 10 * row + column in all channels
    float[] a = new float[18];
    for (int y = 0; y < 2; y++) {
      for (int x = 0; x < 3; x++) {
        for (int c = 0; c < 3; c++) {
          a[3 * (3 * y + x) + c] = 10 * y + x + c / 10f;
        }
      }
    }
    ColorTransforms.flipHorizontal(a, 0, 2, 3);
    float[] want = {
      2, 2.1f, 2.2f, 1, 1.1f, 1.2f, 0, 0.1f, 0.2f, 12, 12.1f, 12.2f, 11, 11.1f, 11.2f, 10, 10.1f,
      10.2f
    };
    assertArrayEquals(want, a, EPS);
  }

  @Test
  void hueShiftMatchesAwtHsb() {
    SplittableRandom rng = new SplittableRandom(7);
    float[] hsb = new float[3];
    for (int trial = 0; trial < 2000; trial++) {
      int r = rng.nextInt(256);
      int g = rng.nextInt(256);
      int b = rng.nextInt(256);
      float shift = (float) (rng.nextDouble() - 0.5);
      float[] a = {r / 255f, g / 255f, b / 255f};
      ColorTransforms.hue(a, 0, 1, shift);

      Color.RGBtoHSB(r, g, b, hsb);
      float h = hsb[0] + shift;
      h -= (float) Math.floor(h);
      int rgb = Color.HSBtoRGB(h, hsb[1], hsb[2]); // rounds to 8 bits
      float[] want = {((rgb >> 16) & 0xFF) / 255f, ((rgb >> 8) & 0xFF) / 255f, (rgb & 0xFF) / 255f};
      String msg = "rgb " + r + "," + g + "," + b + " shift " + shift;
      assertArrayEquals(want, a, 0.5f / 255f + 1e-4f, msg);
    }
  }

  @Test
  void hueThirdTurnMovesRedToGreenAndKeepsGray() {
    float[] a = {1f, 0f, 0f, 0.4f, 0.4f, 0.4f};
    ColorTransforms.hue(a, 0, 2, 1f / 3f);
    assertArrayEquals(new float[] {0f, 1f, 0f, 0.4f, 0.4f, 0.4f}, a, 1e-6f);
    float[] c = {0f, 0f, 1f};
    ColorTransforms.hue(c, 0, 1, -1f / 3f); // blue -> green
    assertArrayEquals(new float[] {0f, 1f, 0f}, c, 1e-6f);
  }

  @Test
  void offsetsLeaveOtherPixelsAlone() {
    float[] a = {0.5f, 0.5f, 0.5f, 0.2f, 0.4f, 0.6f, 0.9f, 0.9f, 0.9f};
    ColorTransforms.brightness(a, 3, 1, 0f);
    assertArrayEquals(new float[] {0.5f, 0.5f, 0.5f, 0, 0, 0, 0.9f, 0.9f, 0.9f}, a, 0f);
    assertEquals(0.9f, a[8]);
  }
}
