package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class RandomResizedCropTest {

  /**
   * Over many draws, every crop lies inside the image, and its (integer, rounded) size is
   * consistent with an area share in [min, max] and a ratio in [3/4, 4/3] before rounding; the
   * draws also reach both ends of the range.
   */
  @Test
  void cropsStayInsideImageAndRanges() {
    int[][] sizes = {{28, 28}, {224, 224}, {50, 20}, {300, 400}};
    double[][] scales = {{0.4, 1.0}, {0.05, 0.4}};
    SplittableRandom rng = new SplittableRandom(42);
    for (int[] hw : sizes) {
      int height = hw[0];
      int width = hw[1];
      double area = (double) height * width;
      for (double[] scale : scales) {
        double minShare = Double.MAX_VALUE;
        double maxShare = 0;
        double minRatio = Double.MAX_VALUE;
        double maxRatio = 0;
        for (int i = 0; i < 20000; i++) {
          RandomResizedCrop.Box b =
              RandomResizedCrop.sample(height, width, scale[0], scale[1], rng);
          String msg = hw[0] + "x" + hw[1] + " " + b;
          assertTrue(b.top() >= 0 && b.left() >= 0, msg);
          assertTrue(b.height() >= 1 && b.width() >= 1, msg);
          assertTrue(b.top() + b.height() <= height && b.left() + b.width() <= width, msg);
          double h = b.height();
          double w = b.width();
          if (h == height && w == width) {
            continue; // possibly the fallback, which ignores the scale range
          }
          // w = round(sqrt(A r)), h = round(sqrt(A / r)): the unrounded values are within 0.5.
          assertTrue((w + 0.5) * (h + 0.5) >= scale[0] * area, msg);
          assertTrue((w - 0.5) * (h - 0.5) <= scale[1] * area, msg);
          assertTrue((w + 0.5) / (h - 0.5) >= 3.0 / 4.0, msg);
          assertTrue((w - 0.5) / (h + 0.5) <= 4.0 / 3.0, msg);
          minShare = Math.min(minShare, w * h / area);
          maxShare = Math.max(maxShare, w * h / area);
          minRatio = Math.min(minRatio, w / h);
          maxRatio = Math.max(maxRatio, w / h);
        }
        if (height >= 224) { // big enough for rounding not to blur the ends of the ranges
          assertEquals(scale[0], minShare, 0.01, "smallest area share");
          assertTrue(maxShare > scale[1] - 0.05, "largest area share " + maxShare);
          assertEquals(3.0 / 4.0, minRatio, 0.02);
          assertEquals(4.0 / 3.0, maxRatio, 0.02);
        }
      }
    }
  }

  @Test
  void positionsCoverTheImage() {
    SplittableRandom rng = new SplittableRandom(1);
    boolean sawTop0 = false;
    boolean sawBottom = false;
    for (int i = 0; i < 5000; i++) {
      RandomResizedCrop.Box b = RandomResizedCrop.sample(28, 28, 0.05, 0.4, rng);
      sawTop0 |= b.top() == 0;
      sawBottom |= b.top() + b.height() == 28;
    }
    assertTrue(sawTop0 && sawBottom);
  }

  /**
   * No try can fit a 1-pixel-high strip (every candidate is at least 2 px high), so torchvision
   * falls back to a centred crop with the ratio clamped to 4/3: round(4/3) = 1 px wide, at (100 -
   * 1) // 2 = 49.
   */
  @Test
  void fallbackIsCentredClampedCrop() {
    SplittableRandom rng = new SplittableRandom(3);
    assertEquals(
        new RandomResizedCrop.Box(0, 49, 1, 1), RandomResizedCrop.sample(1, 100, 0.05, 0.4, rng));
    assertEquals(
        new RandomResizedCrop.Box(49, 0, 1, 1), RandomResizedCrop.sample(100, 1, 0.05, 0.4, rng));
    // 3 wide x 10 high: ratio 0.3 < 3/4, so w = 3, h = round(3 / 0.75) = 4, top = (10 - 4) // 2.
    assertEquals(
        new RandomResizedCrop.Box(3, 0, 4, 3), RandomResizedCrop.sample(10, 3, 0.99, 1.0, rng));
  }
}
