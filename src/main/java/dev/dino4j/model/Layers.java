package dev.dino4j.model;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.nn.FusedBatchNorm;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/** Graph builders for the small pieces a ViT is made of. {@code Ops tf} comes first, always. */
public final class Layers {

  private Layers() {}

  /**
   * x [M, in] @ w [in, out] + b [out]. BiasAdd, not Add: Grappler fuses MatMul + BiasAdd into one
   * oneDNN matmul, and BiasAdd's gradient is one reduction where Add's needs the operand shapes
   * (whose Shape ops, as extra consumers of the product, would block that fusion).
   */
  public static Operand<TFloat32> linear(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> w, Operand<TFloat32> b) {
    Operand<TFloat32> y = tf.linalg.matMul(x, w);
    return b == null ? y : tf.nn.biasAdd(y, b);
  }

  /**
   * A linear layer's weight [in, out] and bias [out], as operands: the block folds the LayerNorm
   * affine before it, and constant factors around it, into these small tensors (the gradient flows
   * through the folding ops to the variables), so that no elementwise op touches the big
   * activations for them.
   */
  public record Linear(Operand<TFloat32> weight, Operand<TFloat32> bias) {

    /**
     * This layer applied to x g + s, where g and s [in] are a per-feature gain and shift (a
     * LayerNorm's affine part): (x g + s) W + b = x (g[:, None] W) + (s W + b).
     */
    public Linear afterAffine(Ops tf, Operand<TFloat32> gain, Operand<TFloat32> shift) {
      Operand<TFloat32> w = tf.math.mul(weight, tf.expandDims(gain, tf.constant(-1))); // [in, out]
      Operand<TFloat32> sw =
          tf.reshape(tf.linalg.matMul(tf.expandDims(shift, tf.constant(0)), weight), tf.constant(new long[] {-1})); // [out]
      return new Linear(w, tf.math.add(bias, sw));
    }

    /** This layer with its outputs multiplied by {@code scale}, [out] or a scalar: W scale, b scale. */
    public Linear scaled(Ops tf, Operand<TFloat32> scale) {
      return new Linear(tf.math.mul(weight, scale), tf.math.mul(bias, scale));
    }

    /** This layer with its inputs multiplied by the scalar {@code scale}: (x scale) W + b = x (W scale) + b. */
    public Linear inputScaled(Ops tf, float scale) {
      return new Linear(tf.math.mul(weight, tf.constant(scale)), bias);
    }
  }

  /** {@link #linear} with the weight and bias of {@code l}. */
  public static Operand<TFloat32> linear(Ops tf, Operand<TFloat32> x, Linear l) {
    return linear(tf, x, l.weight(), l.bias());
  }

  /** Linear layer on tokens: x [B, N, in] -> [B, N, out], through a rank-2 matmul. */
  public static Operand<TFloat32> linearTokens(
      Ops tf, Operand<TFloat32> x, long tokens, long in, long out, Operand<TFloat32> w,
      Operand<TFloat32> b) {
    Operand<TFloat32> flat = tf.reshape(x, tf.constant(new long[] {-1, in})); // [B*N, in]
    Operand<TFloat32> y = linear(tf, flat, w, b); // [B*N, out]
    return tf.reshape(y, tf.constant(new long[] {-1, tokens, out})); // [B, N, out]
  }

  /**
   * LayerNorm over the last axis, (x - mean) / sqrt(var + eps) * g + b with the biased variance:
   * {@link #normalize} then the per-feature affine map.
   */
  public static Operand<TFloat32> layerNorm(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> gain, Operand<TFloat32> bias, float eps) {
    return tf.nn.biasAdd(tf.math.mul(normalize(tf, x, eps), gain), bias);
  }

  /**
   * LayerNorm without its affine part: (x - mean) / sqrt(var + eps) over the last axis, with the
   * biased variance. Where a linear layer follows, the affine part folds into its weights
   * ({@link Linear#afterAffine}).
   *
   * <p>TF has no LayerNorm op. Written out it is ~9 elementwise passes forward and ~20 in its
   * gradient; here it is one FusedBatchNormV3 in training mode on x viewed as NCHW [1, rows, D, 1]:
   * every row is a "channel", normalised over its D values with the biased batch variance, exactly
   * LayerNorm's statistics (Keras's fused LayerNormalization does the same). Its gradient is one
   * FusedBatchNormGradV3.
   */
  public static Operand<TFloat32> normalize(Ops tf, Operand<TFloat32> x, float eps) {
    Operand<TInt32> shape = tf.shape(x);
    Operand<TFloat32> rows = tf.reshape(x, tf.constant(new long[] {1, -1, x.shape().get(-1), 1})); // [1, R, D, 1]
    Operand<TInt32> channels = tf.slice(tf.shape(rows), tf.constant(new int[] {1}), tf.constant(new int[] {1})); // [1] = R
    Operand<TFloat32> ones = tf.fill(channels, tf.constant(1f)); // [R]
    Operand<TFloat32> zeros = tf.fill(channels, tf.constant(0f)); // [R]
    Operand<TFloat32> none = tf.constant(new float[0]); // no running statistics in training mode
    Operand<TFloat32> norm =
        tf.nn.fusedBatchNorm(rows, ones, zeros, none, none, FusedBatchNorm.epsilon(eps),
                FusedBatchNorm.dataFormat("NCHW"), FusedBatchNorm.isTraining(true))
            .y(); // [1, R, D, 1]
    return tf.reshape(norm, shape); // like x
  }

  /** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's nn.GELU() default. */
  public static Operand<TFloat32> gelu(Ops tf, Operand<TFloat32> x) {
    Operand<TFloat32> cdf =
        tf.math.mul(
            tf.constant(0.5f),
            tf.math.add(
                tf.constant(1f),
                tf.math.erf(tf.math.mul(x, tf.constant((float) (1.0 / Math.sqrt(2.0)))))));
    return tf.math.mul(x, cdf);
  }

  /** Row-wise L2 normalisation of x [M, C]: x / max(||x||, eps), as torch F.normalize. */
  public static Operand<TFloat32> l2Normalize(Ops tf, Operand<TFloat32> x, float eps) {
    Operand<TFloat32> norm =
        tf.math.sqrt(
            tf.sum(
                tf.math.square(x),
                tf.constant(new int[] {-1}),
                org.tensorflow.op.core.Sum.keepDims(true)));
    return tf.math.div(x, tf.math.maximum(norm, tf.constant(eps)));
  }
}
