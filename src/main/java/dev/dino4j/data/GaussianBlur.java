package dev.dino4j.data;

/**
 * PIL's {@code ImageFilter.GaussianBlur(radius)} on float RGB: Pillow does not convolve with a
 * sampled Gaussian but runs three "extended box" blurs per axis (Gwosdek et al., 2011), whose box
 * radius is fractional so that the total variance is exactly radius^2; edges repeat the border
 * pixel. DINO passes radius = sigma drawn in [0.1, 2.0].
 */
final class GaussianBlur {

  /** Box passes per axis; Pillow's default. */
  static final int PASSES = 3;

  private GaussianBlur() {}

  /**
   * Fractional box radius whose {@code passes}-fold repetition has variance sigma^2, Pillow's
   * {@code _gaussian_blur_radius}.
   */
  static double boxRadius(double sigma, int passes) {
    double sigma2 = sigma * sigma / passes;
    double boxLength = Math.sqrt(12.0 * sigma2 + 1.0);
    double l = Math.floor((boxLength - 1.0) / 2.0);
    double a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
    a /= 6 * (sigma2 - (l + 1) * (l + 1));
    return l + a;
  }

  /**
   * Blurs {@code img} in place.
   *
   * @param img pixels // [h, w, 3] from off
   * @param scratch reusable buffer, grown when too small
   * @return the scratch buffer to keep for the next call
   */
  static float[] blur(float[] img, int off, int h, int w, double sigma, float[] scratch) {
    if (sigma <= 0) {
      return scratch;
    }
    double r = boxRadius(sigma, PASSES);
    int l = (int) r; // whole pixels at full weight either side
    int pad = l + 1;
    double inner = 1.0 / (2.0 * r + 1.0);
    float ww = (float) inner; // weight of the 2l+1 inner pixels
    float fw = (float) ((1.0 - (2 * l + 1) * inner) / 2.0); // weight of the 2 outer ones
    int row = w * 3;
    int need = Math.max((w + 2 * pad) * 3, (h + 2 * pad) * row) + row;
    if (scratch == null || scratch.length < need) {
      scratch = new float[need];
    }
    // Each pass is a weighted sum of 2l+3 shifted copies of an edge-padded line: branch-free
    // loops over contiguous memory, 4x faster here than a sliding window sum with clamped indices,
    // which also drifts by its rounding errors in float (Pillow's sums are exact integers).
    for (int pass = 0; pass < PASSES; pass++) {
      for (int y = 0; y < h; y++) {
        int base = off + y * row;
        // padded row: [w + 2 pad, 3], edge pixels repeated
        for (int x = -pad; x < w + pad; x++) {
          int src = base + 3 * Math.min(Math.max(x, 0), w - 1);
          int dst = 3 * (x + pad);
          scratch[dst] = img[src];
          scratch[dst + 1] = img[src + 1];
          scratch[dst + 2] = img[src + 2];
        }
        shiftedSum(scratch, 0, 3, img, base, row, l, ww, fw);
      }
    }
    for (int pass = 0; pass < PASSES; pass++) {
      // padded image: [h + 2 pad, w, 3], edge rows repeated
      for (int y = -pad; y < h + pad; y++) {
        int src = off + row * Math.min(Math.max(y, 0), h - 1);
        System.arraycopy(img, src, scratch, row * (y + pad), row);
      }
      for (int y = 0; y < h; y++) {
        shiftedSum(scratch, row * y, row, img, off + row * y, row, l, ww, fw);
      }
    }
    return scratch;
  }

  /**
   * out[j] = ww * sum(in[j + k step], k = 1 .. 2l+1) + fw * (in[j] + in[j + (2l+2) step]) for j in
   * [0, len): the extended box centred at in[j + (l+1) step].
   */
  private static void shiftedSum(
      float[] in,
      int inOff,
      int step,
      float[] out,
      int outOff,
      int len,
      int l,
      float ww,
      float fw) {
    int far = inOff + (2 * l + 2) * step;
    for (int j = 0; j < len; j++) {
      out[outOff + j] = fw * (in[inOff + j] + in[far + j]);
    }
    for (int k = 1; k <= 2 * l + 1; k++) {
      int src = inOff + k * step;
      for (int j = 0; j < len; j++) {
        out[outOff + j] += ww * in[src + j];
      }
    }
  }
}
