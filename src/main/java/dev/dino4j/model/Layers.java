package dev.dino4j.model;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/** Graph builders for the small pieces a ViT is made of. {@code Ops tf} comes first, always. */
public final class Layers {

  private Layers() {}

  /** x [..., in] @ w [in, out] + b [out] for a rank-2 x. */
  public static Operand<TFloat32> linear(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> w, Operand<TFloat32> b) {
    Operand<TFloat32> y = tf.linalg.matMul(x, w);
    return b == null ? y : tf.math.add(y, b);
  }

  /** Linear layer on tokens: x [B, N, in] -> [B, N, out], through a rank-2 matmul. */
  public static Operand<TFloat32> linearTokens(
      Ops tf, Operand<TFloat32> x, long tokens, long in, long out, Operand<TFloat32> w,
      Operand<TFloat32> b) {
    Operand<TFloat32> flat = tf.reshape(x, tf.constant(new long[] {-1, in})); // [B*N, in]
    Operand<TFloat32> y = linear(tf, flat, w, b); // [B*N, out]
    return tf.reshape(y, tf.constant(new long[] {-1, tokens, out})); // [B, N, out]
  }

  /** LayerNorm over the last axis (TF has no LayerNorm op): (x - mean) / sqrt(var + eps) * g + b. */
  public static Operand<TFloat32> layerNorm(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> gain, Operand<TFloat32> bias, float eps) {
    Operand<TInt32> last = tf.constant(new int[] {-1});
    Operand<TFloat32> mean = tf.math.mean(x, last, org.tensorflow.op.math.Mean.keepDims(true));
    Operand<TFloat32> var =
        tf.math.mean(
            tf.math.squaredDifference(x, mean), last, org.tensorflow.op.math.Mean.keepDims(true));
    Operand<TFloat32> norm =
        tf.math.mul(tf.math.sub(x, mean), tf.math.rsqrt(tf.math.add(var, tf.constant(eps))));
    return tf.math.add(tf.math.mul(norm, gain), bias);
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
