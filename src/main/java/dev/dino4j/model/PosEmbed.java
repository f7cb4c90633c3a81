package dev.dino4j.model;

/**
 * Bicubic resampling of the position-embedding grid, as a fixed matrix.
 *
 * <p>Resizing is linear in the embedding, so instead of TF's ResizeBicubic (whose kernel
 * coefficient and pixel-centre convention differ from PyTorch's) the graph multiplies the patch
 * position embeddings by a matrix computed here with PyTorch's {@code interpolate(mode="bicubic",
 * align_corners=False, size=...)} arithmetic: cubic convolution with A = -0.75, half-pixel
 * centres, border indices clamped. That is what timm and Hugging Face ViT use; the official DINO
 * code passes a scale factor with a +0.1 nudge instead, which moves sample points by under 1%.
 * When the grid matches, the graph skips the matrix, so the identity is exact.
 */
public final class PosEmbed {

  private static final double A = -0.75;

  private PosEmbed() {}

  /** 1-D weights [out, in]: row o holds the contributions of each input sample to output o. */
  public static double[][] bicubicWeights(int in, int out) {
    double[][] w = new double[out][in];
    double scale = (double) in / out;
    for (int o = 0; o < out; o++) {
      double src = (o + 0.5) * scale - 0.5; // no clamp for cubic, as PyTorch
      int i0 = (int) Math.floor(src);
      double t = src - i0;
      double[] c = {
        cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t),
      };
      for (int k = 0; k < 4; k++) {
        int idx = Math.min(Math.max(i0 - 1 + k, 0), in - 1);
        w[o][idx] += c[k];
      }
    }
    return w;
  }

  /**
   * 2-D resampling matrix [outH*outW, inH*inW] for a row-major grid: kron(Wh, Ww). Rows of the
   * flattened patch-position table are multiplied by it.
   */
  public static float[] gridMatrix(int inH, int inW, int outH, int outW) {
    double[][] wh = bicubicWeights(inH, outH);
    double[][] ww = bicubicWeights(inW, outW);
    float[] m = new float[outH * outW * inH * inW]; // [outH*outW, inH*inW]
    int cols = inH * inW;
    for (int oy = 0; oy < outH; oy++) {
      for (int ox = 0; ox < outW; ox++) {
        int row = oy * outW + ox;
        for (int iy = 0; iy < inH; iy++) {
          if (wh[oy][iy] == 0) {
            continue;
          }
          for (int ix = 0; ix < inW; ix++) {
            m[row * cols + iy * inW + ix] = (float) (wh[oy][iy] * ww[ox][ix]);
          }
        }
      }
    }
    return m;
  }

  // Keys' cubic convolution kernel pieces, |x| <= 1 and 1 < |x| < 2.
  private static double cubic1(double x) {
    return ((A + 2) * x - (A + 3)) * x * x + 1;
  }

  private static double cubic2(double x) {
    return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  }
}
