package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class GaussianBlurTest {

  private static void blur(float[] img, int h, int w, double sigma) {
    GaussianBlur.blur(img, 0, h, w, sigma, null);
  }

  @Test
  void constantImageStaysConstant() {
    float[] img = new float[13 * 9 * 3];
    Arrays.fill(img, 0.62f);
    blur(img, 13, 9, 1.7);
    for (float v : img) {
      assertEquals(0.62f, v, 1e-6f);
    }
  }

  /**
   * A unit impulse far from the edges: the blur keeps its mass, and the variance of the result
   * along each axis is sigma^2, the property Pillow's box radius is derived from.
   */
  @Test
  void impulseKeepsSumAndHasVarianceSigmaSquared() {
    int n = 61;
    int mid = n / 2;
    for (double sigma : new double[] {0.1, 0.5, 1.0, 1.37, 2.0}) {
      float[] img = new float[n * n * 3];
      for (int c = 0; c < 3; c++) {
        img[3 * (mid * n + mid) + c] = 1f;
      }
      blur(img, n, n, sigma);
      for (int c = 0; c < 3; c++) {
        double sum = 0;
        double varX = 0;
        double varY = 0;
        for (int y = 0; y < n; y++) {
          for (int x = 0; x < n; x++) {
            double v = img[3 * (y * n + x) + c];
            sum += v;
            varX += v * (x - mid) * (x - mid);
            varY += v * (y - mid) * (y - mid);
          }
        }
        assertEquals(1.0, sum, 1e-5, "sum, sigma " + sigma);
        assertEquals(sigma * sigma, varX, 1e-4 + 1e-4 * sigma * sigma, "var x, sigma " + sigma);
        assertEquals(sigma * sigma, varY, 1e-4 + 1e-4 * sigma * sigma, "var y, sigma " + sigma);
      }
    }
  }

  /** Close to a true Gaussian: the impulse response vs the sampled normal density. */
  @Test
  void approximatesAGaussian() {
    int n = 41;
    int mid = n / 2;
    double sigma = 2.0;
    float[] img = new float[n * n * 3];
    img[3 * (mid * n + mid)] = 1f;
    blur(img, n, n, sigma);
    for (int y = 0; y < n; y++) {
      for (int x = 0; x < n; x++) {
        double r2 = (x - mid) * (x - mid) + (y - mid) * (y - mid);
        double gauss = Math.exp(-r2 / (2 * sigma * sigma)) / (2 * Math.PI * sigma * sigma);
        // 3 box passes are a coarse Gaussian: within 10% of its peak everywhere.
        assertEquals(gauss, img[3 * (y * n + x)], 0.1 * 0.0398, "at " + y + "," + x);
      }
    }
  }

  /**
   * Pillow's 8-bit GaussianBlur of the same image, recorded by a Python script. Pillow rounds to 8
   * bits after each of its 6 passes (up to half a level each), so a few levels of difference at
   * single pixels are expected, and a fraction of a level on average.
   */
  @Test
  void matchesPillowWithinRounding() {
    for (PilReferences.Case c : PilReferences.load("blur")) {
      int h = (int) c.params()[0];
      int w = (int) c.params()[1];
      double sigma = c.params()[2];
      int[] src = PilReferences.pattern8(h, w);
      float[] img = new float[src.length];
      for (int i = 0; i < src.length; i++) {
        img[i] = src[i] / 255f;
      }
      blur(img, h, w, sigma);
      double maxDiff = 0;
      double sumDiff = 0;
      for (int i = 0; i < img.length; i++) {
        double d = Math.abs(img[i] * 255 - c.values()[i]);
        maxDiff = Math.max(maxDiff, d);
        sumDiff += d;
      }
      double meanDiff = sumDiff / img.length;
      String msg = "sigma " + sigma + ": max diff " + maxDiff + ", mean " + meanDiff + " levels";
      assertTrue(maxDiff <= 2.5 && meanDiff <= 0.5, msg); // measured: <= 2.03 and <= 0.41
    }
  }
}
