package dev.dino4j.model;

import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt32;

/**
 * Bicubic resampling of the position-embedding grid, as a fixed matrix.
 *
 * <p>Resizing is linear in the embedding, so instead of TF's ResizeBicubic (whose kernel
 * coefficient and pixel-centre convention differ from PyTorch's) the graph multiplies the patch
 * position embeddings by a matrix computed here with PyTorch's {@code interpolate(mode="bicubic",
 * align_corners=False, size=...)} arithmetic: cubic convolution with A = -0.75, half-pixel
 * centres, border indices clamped. That is what timm and Hugging Face ViT use ({@code offset} 0).
 * The official DINO and DINOv2 code pass {@code scale_factor=(out + 0.1) / in} instead, and PyTorch
 * then maps output o to source (o + 0.5) * in / (out + 0.1) - 0.5: {@code offset} 0.1
 * (model.interpolate_offset) reproduces that, so official checkpoints give the official features at
 * every size. When the grid matches, the graph skips the matrix, so the identity is exact.
 */
public final class PosEmbed {

  private static final double A = -0.75;

  private PosEmbed() {}

  /** 1-D weights [out, in] of the size arithmetic (offset 0). */
  public static double[][] bicubicWeights(int in, int out) {
    return bicubicWeights(in, out, 0);
  }

  /**
   * 1-D weights [out, in]: row o holds the contributions of each input sample to output o.
   *
   * @param offset 0: PyTorch's {@code size=out}; > 0: its {@code scale_factor=(out + offset) / in}
   */
  public static double[][] bicubicWeights(int in, int out, double offset) {
    double[][] w = new double[out][in];
    double scale = in / (out + offset);
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
    return gridMatrix(inH, inW, outH, outW, 0);
  }

  /**
   * {@link #gridMatrix(int, int, int, int)} with the given interpolation offset. At the native grid
   * the official code does not resample at all: the offset applies only when the grid changes, so
   * the native grid stays exactly the identity.
   */
  public static float[] gridMatrix(int inH, int inW, int outH, int outW, double offset) {
    if (outH == inH && outW == inW) {
      offset = 0;
    }
    double[][] wh = bicubicWeights(inH, outH, offset);
    double[][] ww = bicubicWeights(inW, outW, offset);
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

  /**
   * {@link #gridMatrix(int, int, int, int)} as graph ops, for an output grid known only at run
   * time (the export graph takes any image size). The same float64 arithmetic in the same order
   * (source position, floor, the four cubic coefficients, clamped taps accumulated from k = 0 to
   * 3, the 2-D product), then one cast to float32: the result equals the Java matrix exactly.
   *
   * @return [outH*outW, inH*inW]
   */
  public static Operand<TFloat32> gridMatrix(
      Ops tf, int inH, int inW, Operand<TInt32> outH, Operand<TInt32> outW) {
    return gridMatrix(tf, inH, inW, outH, outW, 0);
  }

  /** {@link #gridMatrix(Ops, int, int, Operand, Operand)} with the given interpolation offset. */
  public static Operand<TFloat32> gridMatrix(
      Ops tf, int inH, int inW, Operand<TInt32> outH, Operand<TInt32> outW, double offset) {
    // no offset at the native grid (the official code skips resampling there): exactly the identity
    Operand<TFloat64> off = tf.select(
        tf.math.logicalAnd(tf.math.equal(outH, tf.constant(inH)), tf.math.equal(outW, tf.constant(inW))),
        tf.constant(0.0), tf.constant(offset)); // []
    Operand<TFloat64> wh = bicubicWeights(tf, inH, outH, off); // [outH, inH]
    Operand<TFloat64> ww = bicubicWeights(tf, inW, outW, off); // [outW, inW]
    Operand<TFloat64> outer =
        tf.math.mul(
            tf.reshape(wh, tf.stack(List.of(outH, tf.constant(1), tf.constant(inH), tf.constant(1)))),
            tf.reshape(ww, tf.stack(List.of(tf.constant(1), outW, tf.constant(1), tf.constant(inW))))); // [outH, outW, inH, inW]
    Operand<TInt32> rows = tf.reshape(tf.math.mul(outH, outW), tf.constant(new int[] {1}));
    return tf.reshape(
        tf.dtypes.cast(outer, TFloat32.class),
        tf.concat(List.of(rows, tf.constant(new int[] {inH * inW})), tf.constant(0)));
  }

  /** {@link #bicubicWeights(int, int)} as graph ops: [out, in] float64. */
  static Operand<TFloat64> bicubicWeights(Ops tf, int in, Operand<TInt32> out, Operand<TFloat64> offset) {
    Operand<TFloat64> o = tf.dtypes.cast(tf.range(tf.constant(0), out, tf.constant(1)), TFloat64.class); // [out]
    Operand<TFloat64> scale = tf.math.div(tf.constant((double) in),
        tf.math.add(tf.dtypes.cast(out, TFloat64.class), offset));
    Operand<TFloat64> src =
        tf.math.sub(tf.math.mul(tf.math.add(o, tf.constant(0.5)), scale), tf.constant(0.5));
    Operand<TFloat64> floor = tf.math.floor(src);
    Operand<TFloat64> t = tf.math.sub(src, floor);
    Operand<TFloat64> one = tf.constant(1.0);
    List<Operand<TFloat64>> c =
        List.of(
            cubic2(tf, tf.math.add(t, one)),
            cubic1(tf, t),
            cubic1(tf, tf.math.sub(one, t)),
            cubic2(tf, tf.math.sub(tf.constant(2.0), t)));
    Operand<TInt32> i0 = tf.dtypes.cast(floor, TInt32.class);
    Operand<TFloat64> w = null;
    for (int k = 0; k < 4; k++) {
      Operand<TInt32> idx =
          tf.clipByValue(tf.math.add(i0, tf.constant(k - 1)), tf.constant(0), tf.constant(in - 1)); // [out]
      Operand<TFloat64> tap =
          tf.math.mul(
              tf.expandDims(c.get(k), tf.constant(1)),
              tf.oneHot(idx, tf.constant(in), tf.constant(1.0), tf.constant(0.0))); // [out, in]
      w = w == null ? tap : tf.math.add(w, tap);
    }
    return w;
  }

  private static Operand<TFloat64> cubic1(Ops tf, Operand<TFloat64> x) {
    // ((A + 2) * x - (A + 3)) * x * x + 1
    Operand<TFloat64> y = tf.math.sub(tf.math.mul(tf.constant(A + 2), x), tf.constant(A + 3));
    return tf.math.add(tf.math.mul(tf.math.mul(y, x), x), tf.constant(1.0));
  }

  private static Operand<TFloat64> cubic2(Ops tf, Operand<TFloat64> x) {
    // ((A * x - 5 * A) * x + 8 * A) * x - 4 * A
    Operand<TFloat64> y = tf.math.sub(tf.math.mul(tf.constant(A), x), tf.constant(5 * A));
    y = tf.math.add(tf.math.mul(y, x), tf.constant(8 * A));
    return tf.math.sub(tf.math.mul(y, x), tf.constant(4 * A));
  }

  // Keys' cubic convolution kernel pieces, |x| <= 1 and 1 < |x| < 2.
  private static double cubic1(double x) {
    return ((A + 2) * x - (A + 3)) * x * x + 1;
  }

  private static double cubic2(double x) {
    return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  }
}
