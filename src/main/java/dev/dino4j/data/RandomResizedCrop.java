package dev.dino4j.data;

import java.util.SplittableRandom;

/**
 * torchvision's {@code RandomResizedCrop.get_params}: up to 10 tries at a crop whose area is a
 * uniform share in [scaleMin, scaleMax] of the image and whose aspect ratio is log-uniform in [3/4,
 * 4/3]; if none fits, the largest centred crop with a ratio in that range.
 */
final class RandomResizedCrop {

  static final double RATIO_MIN = 3.0 / 4.0;
  static final double RATIO_MAX = 4.0 / 3.0;
  static final int ATTEMPTS = 10;

  private static final double LOG_RATIO_MIN = Math.log(RATIO_MIN);
  private static final double LOG_RATIO_MAX = Math.log(RATIO_MAX);

  private RandomResizedCrop() {}

  /** A crop window in pixels. */
  record Box(int top, int left, int height, int width) {}

  static Box sample(int height, int width, double scaleMin, double scaleMax, SplittableRandom rng) {
    double area = (double) height * width;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
      double targetArea = area * uniform(rng, scaleMin, scaleMax);
      double aspect = Math.exp(uniform(rng, LOG_RATIO_MIN, LOG_RATIO_MAX));
      // Math.rint rounds half to even, as Python's round().
      int w = (int) Math.rint(Math.sqrt(targetArea * aspect));
      int h = (int) Math.rint(Math.sqrt(targetArea / aspect));
      if (0 < w && w <= width && 0 < h && h <= height) {
        int top = rng.nextInt(height - h + 1);
        int left = rng.nextInt(width - w + 1);
        return new Box(top, left, h, w);
      }
    }
    double inRatio = (double) width / height;
    int w;
    int h;
    if (inRatio < RATIO_MIN) {
      w = width;
      h = (int) Math.rint(w / RATIO_MIN);
    } else if (inRatio > RATIO_MAX) {
      h = height;
      w = (int) Math.rint(h * RATIO_MAX);
    } else {
      w = width;
      h = height;
    }
    return new Box((height - h) / 2, (width - w) / 2, h, w);
  }

  /** Uniform in [lo, hi); SplittableRandom.nextDouble(lo, hi) rejects lo == hi. */
  static double uniform(SplittableRandom rng, double lo, double hi) {
    return lo + (hi - lo) * rng.nextDouble();
  }
}
