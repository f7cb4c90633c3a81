package dev.dino4j.data;

import java.util.HashMap;

/**
 * PIL's bicubic resampling ({@code Image.resize(size, Image.BICUBIC)}, Pillow's Resample.c) on
 * float RGB: a separable convolution with the Keys cubic (a = -0.5) whose support widens by the
 * scale factor when shrinking, which is PIL's antialiasing, and whose weights are renormalised
 * where they run past the edge instead of repeating edge pixels. torchvision's RandomResizedCrop
 * crops first and then resizes the crop, so "the edge" is the crop window's edge.
 *
 * <p>No clamping here: the result may overshoot [0, 1] near sharp edges; callers clamp, as PIL's
 * 8-bit path does.
 */
final class BicubicResize {

  /** Support of the Keys cubic at scale 1, in input pixels either side of the centre. */
  private static final double SUPPORT = 2.0;

  private BicubicResize() {}

  /**
   * Per-output-pixel convolution weights along one axis: output {@code o} reads inputs {@code
   * start[o] .. start[o] + count[o] - 1} with weights {@code weights[o * taps + k]}.
   */
  record Weights(int taps, int[] start, int[] count, float[] weights) {}

  /** Keys cubic convolution kernel with a = -0.5, as Pillow's {@code bicubic_filter}. */
  static double cubic(double x) {
    final double a = -0.5;
    x = Math.abs(x);
    if (x < 1.0) {
      return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    }
    if (x < 2.0) {
      return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    }
    return 0.0;
  }

  /**
   * Weights by (input, output) length, kept per thread: crops of small images repeat the same few
   * lengths, and computing weights costs as much as applying them at 32 px. Bounded in floats so
   * that large images with many distinct crop lengths cannot grow it without limit.
   */
  static final class WeightsCache {
    private static final long MAX_FLOATS = 1L << 22; // 16 MB

    private final HashMap<Long, Weights> map = new HashMap<>();
    private long floats;

    Weights get(int inSize, int outSize) {
      Long key = ((long) inSize << 32) | outSize;
      Weights w = map.get(key);
      if (w == null) {
        w = weights(inSize, outSize);
        if (floats + w.weights().length > MAX_FLOATS) {
          map.clear();
          floats = 0;
        }
        map.put(key, w);
        floats += w.weights().length;
      }
      return w;
    }
  }

  /**
   * Weights for resampling {@code inSize} pixels to {@code outSize}, Pillow's precompute_coeffs.
   */
  static Weights weights(int inSize, int outSize) {
    double scale = (double) inSize / outSize;
    double filterScale = Math.max(scale, 1.0); // widen the kernel only when shrinking
    double support = SUPPORT * filterScale;
    int taps = (int) Math.ceil(support) * 2 + 1;
    int[] start = new int[outSize];
    int[] count = new int[outSize];
    float[] w = new float[outSize * taps];
    double[] k = new double[taps];
    double invFilterScale = 1.0 / filterScale;
    for (int o = 0; o < outSize; o++) {
      double center = (o + 0.5) * scale;
      // (int) truncates toward zero like the C cast; negative values are clamped to 0 anyway.
      int min = Math.max((int) (center - support + 0.5), 0);
      int max = Math.min((int) (center + support + 0.5), inSize);
      int n = max - min;
      double sum = 0;
      for (int i = 0; i < n; i++) {
        k[i] = cubic((i + min - center + 0.5) * invFilterScale);
        sum += k[i];
      }
      for (int i = 0; i < n; i++) {
        w[o * taps + i] = (float) (sum != 0.0 ? k[i] / sum : k[i]);
      }
      start[o] = min;
      count[o] = n;
    }
    return new Weights(taps, start, count, w);
  }

  /**
   * Resizes the window {@code [top, top + cropH) x [left, left + cropW)} of {@code src} to {@code
   * outH x outW} into {@code dst} starting at {@code dstOff}. Horizontal pass first, then vertical,
   * as Pillow.
   *
   * @param src source pixels // [srcH, srcW, 3]
   * @param dst destination // [outH, outW, 3] from dstOff
   * @param tmp scratch of at least {@code cropH * outW * 3} floats
   * @param cache weights already computed, or null
   */
  static void resize(
      float[] src,
      int srcW,
      int top,
      int left,
      int cropH,
      int cropW,
      float[] dst,
      int dstOff,
      int outH,
      int outW,
      float[] tmp,
      WeightsCache cache) {
    // Horizontal: [cropH, cropW, 3] window -> tmp [cropH, outW, 3].
    if (cropW == outW) {
      for (int y = 0; y < cropH; y++) {
        System.arraycopy(src, ((top + y) * srcW + left) * 3, tmp, y * outW * 3, outW * 3);
      }
    } else {
      Weights wx = cache != null ? cache.get(cropW, outW) : weights(cropW, outW);
      int taps = wx.taps();
      int[] start = wx.start();
      int[] count = wx.count();
      float[] w = wx.weights();
      for (int y = 0; y < cropH; y++) {
        int rowIn = ((top + y) * srcW + left) * 3;
        int rowOut = y * outW * 3;
        for (int x = 0; x < outW; x++) {
          float r = 0;
          float g = 0;
          float b = 0;
          int in = rowIn + start[x] * 3;
          int wo = x * taps;
          for (int i = 0, n = count[x]; i < n; i++, in += 3) {
            float c = w[wo + i];
            r += c * src[in];
            g += c * src[in + 1];
            b += c * src[in + 2];
          }
          int o = rowOut + x * 3;
          tmp[o] = r;
          tmp[o + 1] = g;
          tmp[o + 2] = b;
        }
      }
    }
    // Vertical: tmp [cropH, outW, 3] -> dst [outH, outW, 3]; whole rows at a time so the inner
    // loop runs over contiguous memory.
    int rowLen = outW * 3;
    if (cropH == outH) {
      System.arraycopy(tmp, 0, dst, dstOff, outH * rowLen);
      return;
    }
    Weights wy = cache != null ? cache.get(cropH, outH) : weights(cropH, outH);
    int taps = wy.taps();
    int[] start = wy.start();
    int[] count = wy.count();
    float[] w = wy.weights();
    for (int y = 0; y < outH; y++) {
      int out = dstOff + y * rowLen;
      java.util.Arrays.fill(dst, out, out + rowLen, 0f);
      for (int i = 0, n = count[y]; i < n; i++) {
        float c = w[y * taps + i];
        int in = (start[y] + i) * rowLen;
        for (int j = 0; j < rowLen; j++) {
          dst[out + j] += c * tmp[in + j];
        }
      }
    }
  }
}
