package dev.dino4j.data;

/**
 * The photometric steps of DINO's augmentation on float RGB in [0, 1], with torchvision's formulas
 * ({@code torchvision.transforms.functional}): every blend clamps to [0, 1] as {@code _blend} does.
 * All operate in place on {@code n} interleaved RGB pixels starting at {@code off}.
 */
final class ColorTransforms {

  /** ITU-R 601-2 luma weights, as PIL's convert("L") and torchvision's rgb_to_grayscale. */
  static final float GRAY_R = 0.299f;

  static final float GRAY_G = 0.587f;
  static final float GRAY_B = 0.114f;

  /** PIL's ImageOps.solarize(img, threshold=128) on 8-bit values, moved to [0, 1]. */
  static final float SOLARIZE_THRESHOLD = 128f / 255f;

  private ColorTransforms() {}

  static float gray(float r, float g, float b) {
    return GRAY_R * r + GRAY_G * g + GRAY_B * b;
  }

  /** Blend with black: x * factor. */
  static void brightness(float[] a, int off, int n, float factor) {
    for (int i = off, end = off + 3 * n; i < end; i++) {
      a[i] = clamp01(factor * a[i]);
    }
  }

  /** Blend with the mean of the grayscale image: mean + factor * (x - mean). */
  static void contrast(float[] a, int off, int n, float factor) {
    double sum = 0;
    for (int p = off, end = off + 3 * n; p < end; p += 3) {
      sum += gray(a[p], a[p + 1], a[p + 2]);
    }
    float mean = (float) (sum / n);
    float bias = (1f - factor) * mean;
    for (int i = off, end = off + 3 * n; i < end; i++) {
      a[i] = clamp01(factor * a[i] + bias);
    }
  }

  /** Blend with the pixel's own gray value: gray + factor * (x - gray). */
  static void saturation(float[] a, int off, int n, float factor) {
    float keep = 1f - factor;
    for (int p = off, end = off + 3 * n; p < end; p += 3) {
      float gray = keep * gray(a[p], a[p + 1], a[p + 2]);
      a[p] = clamp01(factor * a[p] + gray);
      a[p + 1] = clamp01(factor * a[p + 1] + gray);
      a[p + 2] = clamp01(factor * a[p + 2] + gray);
    }
  }

  /**
   * Rotates hue by {@code shift} turns (in [-0.5, 0.5]): RGB -> HSV, h = (h + shift) mod 1, HSV ->
   * RGB, as torchvision's tensor adjust_hue. Gray pixels have no hue and stay as they are.
   */
  static void hue(float[] a, int off, int n, float shift) {
    for (int p = off, end = off + 3 * n; p < end; p += 3) {
      float r = a[p];
      float g = a[p + 1];
      float b = a[p + 2];
      float max = Math.max(r, Math.max(g, b));
      float min = Math.min(r, Math.min(g, b));
      float chroma = max - min;
      if (chroma == 0f) {
        continue;
      }
      float s = chroma / max;
      float h;
      if (max == r) {
        h = (g - b) / chroma;
      } else if (max == g) {
        h = 2f + (b - r) / chroma;
      } else {
        h = 4f + (r - g) / chroma;
      }
      h = h / 6f + shift;
      h -= (float) Math.floor(h); // mod 1 into [0, 1)
      float h6 = h * 6f;
      int sector = (int) h6;
      float f = h6 - sector;
      float v = max;
      float pp = clamp01(v * (1f - s));
      float q = clamp01(v * (1f - s * f));
      float t = clamp01(v * (1f - s * (1f - f)));
      switch (sector % 6) {
        case 0 -> set(a, p, v, t, pp);
        case 1 -> set(a, p, q, v, pp);
        case 2 -> set(a, p, pp, v, t);
        case 3 -> set(a, p, pp, q, v);
        case 4 -> set(a, p, t, pp, v);
        default -> set(a, p, v, pp, q);
      }
    }
  }

  /** Replaces every pixel by its luma in all three channels. */
  static void grayscale(float[] a, int off, int n) {
    for (int p = off, end = off + 3 * n; p < end; p += 3) {
      float gray = gray(a[p], a[p + 1], a[p + 2]);
      a[p] = gray;
      a[p + 1] = gray;
      a[p + 2] = gray;
    }
  }

  /** Inverts every value at or above {@link #SOLARIZE_THRESHOLD}. */
  static void solarize(float[] a, int off, int n) {
    for (int i = off, end = off + 3 * n; i < end; i++) {
      if (a[i] >= SOLARIZE_THRESHOLD) {
        a[i] = 1f - a[i];
      }
    }
  }

  /** Clamps every value to [0, 1]; resampling overshoots near sharp edges. */
  static void clamp(float[] a, int off, int n) {
    for (int i = off, end = off + 3 * n; i < end; i++) {
      a[i] = clamp01(a[i]);
    }
  }

  /** Mirrors an image left-right in place. */
  static void flipHorizontal(float[] a, int off, int h, int w) {
    for (int y = 0; y < h; y++) {
      int row = off + y * w * 3;
      for (int x = 0, xr = w - 1; x < xr; x++, xr--) {
        int i = row + 3 * x;
        int j = row + 3 * xr;
        for (int c = 0; c < 3; c++) {
          float t = a[i + c];
          a[i + c] = a[j + c];
          a[j + c] = t;
        }
      }
    }
  }

  private static void set(float[] a, int p, float r, float g, float b) {
    a[p] = r;
    a[p + 1] = g;
    a[p + 2] = b;
  }

  static float clamp01(float v) {
    return v < 0f ? 0f : (v > 1f ? 1f : v);
  }
}
