package dev.dino4j.train;

import java.util.List;
import java.util.function.UnaryOperator;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Max;
import org.tensorflow.op.core.Sum;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The DINO cross-entropy between the sharpened, centred teacher and the student over all pairs
 * (teacher global view i, student view v) with v != i, each averaged over the batch, divided by
 * the number of pairs 2 * (V - 1); the teacher's probabilities by DINO's EMA center or DINOv2's
 * Sinkhorn-Knopp; and DINOv2's KoLeo regulariser.
 *
 * <p>The cross-entropy is computed without a loop over pairs: with S = sum_v log p_v, the pairs of
 * teacher view i sum to -q_i . (S - log p_i).
 */
public final class DinoLoss {

  /** The loss and the teacher's mean per-sample entropy (both scalars). */
  public record Terms(Operand<TFloat32> loss, Operand<TFloat32> teacherEntropy) {}

  private DinoLoss() {}

  /**
   * DINO's teacher: softmax((t - center) / tau), no gradient.
   *
   * @param teacher [2B, K] teacher logits
   * @param center [1, K] the center BEFORE this step's update
   */
  public static Operand<TFloat32> centredTeacher(
      Ops tf, Operand<TFloat32> teacher, Operand<TFloat32> center, Operand<TFloat32> teacherTemp) {
    return tf.stopGradient(tf.nn.softmax(tf.math.div(tf.math.sub(teacher, center), teacherTemp))); // [2B, K]
  }

  /**
   * DINOv2's Sinkhorn-Knopp teacher: Q = exp(t / tau), then {@code iterations} rounds of dividing
   * each prototype's column by its sum over the batch (and by K) and each sample's row by its sum
   * (and by B), so that every prototype gets an equal share of the batch; rows sum to 1 at the end.
   * B counts the rows of every worker: {@code allSum} sums a tensor over the workers (identity on
   * one), as the official code all-reduces its sums. No gradient.
   *
   * @param teacher [n, K] teacher logits of this worker's 2 global views (all its towers)
   * @param shift a scalar subtracted from t / tau before exp, the same on every worker (the global
   *     max), so exp cannot overflow; a constant shift cancels in the first normalisation
   */
  public static Operand<TFloat32> sinkhornTeacher(
      Ops tf, Operand<TFloat32> teacher, Operand<TFloat32> teacherTemp, int iterations, int workers,
      Operand<TFloat32> shift, List<UnaryOperator<Operand<TFloat32>>> allSums) {
    Operand<TFloat32> t = tf.stopGradient(teacher);
    Operand<TFloat32> q = tf.math.exp(tf.math.sub(tf.math.div(t, teacherTemp), shift)); // [n, K]
    Operand<TFloat32> k = tf.dtypes.cast(tf.slice(tf.shape(t), tf.constant(new int[] {1}), tf.constant(new int[] {1})),
        TFloat32.class); // [1]
    Operand<TFloat32> b = tf.math.mul(
        tf.dtypes.cast(tf.slice(tf.shape(t), tf.constant(new int[] {0}), tf.constant(new int[] {1})), TFloat32.class),
        tf.constant((float) workers)); // [1]: samples of all workers
    q = tf.math.div(q, allSums.get(0).apply(tf.sum(q, tf.constant(new int[] {0, 1})))); // sum over all of Q = 1
    for (int it = 0; it < iterations; it++) {
      Operand<TFloat32> perPrototype =
          allSums.get(1 + it).apply(tf.sum(q, tf.constant(new int[] {0}), Sum.keepDims(true))); // [1, K]
      q = tf.math.div(tf.math.div(q, perPrototype), k);
      q = tf.math.div(tf.math.div(q, tf.sum(q, tf.constant(new int[] {1}), Sum.keepDims(true))), b); // rows: 1 / B
    }
    return tf.stopGradient(tf.math.mul(q, b)); // [n, K], rows sum to 1
  }

  /** The largest t / tau of this worker's teacher logits (a scalar), for {@link #sinkhornTeacher}'s shift. */
  public static Operand<TFloat32> maxScaled(Ops tf, Operand<TFloat32> teacher, Operand<TFloat32> teacherTemp) {
    return tf.max(tf.math.div(tf.stopGradient(teacher), teacherTemp), tf.constant(new int[] {0, 1}), Max.keepDims(false));
  }

  /**
   * @param student [V*B, K] student logits, view-major (views 0 and 1 are the global ones)
   * @param q [2B, K] the teacher's probabilities ({@link #centredTeacher} or {@link #sinkhornTeacher}), view-major
   */
  public static Terms build(
      Ops tf, Operand<TFloat32> student, Operand<TFloat32> q, float studentTemp, int views, int k) {
    // Rank-2 log-softmax only: TF's LogSoftmax gradient is wrong for rank > 2.
    Operand<TFloat32> logP = tf.nn.logSoftmax(tf.math.div(student, tf.constant(studentTemp))); // [V*B, K]
    logP = tf.reshape(logP, tf.constant(new long[] {views, -1, k})); // [V, B, K]
    Operand<TFloat32> q3 = tf.reshape(q, tf.constant(new long[] {2, -1, k})); // [2, B, K]

    Operand<TFloat32> sumLogP = tf.sum(logP, tf.constant(new int[] {0}), Sum.keepDims(true)); // [1, B, K]
    Operand<TFloat32> globalLogP =
        tf.slice(logP, tf.constant(new int[] {0, 0, 0}), tf.constant(new int[] {2, -1, -1})); // [2, B, K]
    Operand<TFloat32> others = tf.math.sub(sumLogP, globalLogP); // [2, B, K]: sum over v != i
    Operand<TFloat32> perSample =
        tf.math.neg(tf.sum(tf.math.mul(q3, others), tf.constant(new int[] {2}))); // [2, B]
    // mean over the batch of each pair, summed over pairs, / number of pairs
    Operand<TFloat32> loss =
        tf.withName("value").math.div(
            tf.sum(tf.math.mean(perSample, tf.constant(new int[] {1})), tf.constant(new int[] {0})),
            tf.constant((float) (2 * (views - 1))));

    // xlogy: 0 log 0 = 0, so a prototype that Sinkhorn-Knopp left at exactly 0 adds nothing
    Operand<TFloat32> entropy =
        tf.withName("teacher_entropy").math.mean(
            tf.math.neg(tf.sum(tf.math.xlogy(q, q), tf.constant(new int[] {1}))),
            tf.constant(new int[] {0}));
    return new Terms(loss, entropy);
  }

  /**
   * DINOv2's KoLeo regulariser of one view's features: L2-normalise each row, find each one's
   * nearest other row (largest cosine, no gradient through the search), and return -mean log(||x_i -
   * x_nn(i) + 1e-8|| + 1e-8) (the official code's PairwiseDistance and eps). Gradients reach both
   * the sample and its neighbour, as there.
   *
   * @param x [n, D] the student's CLS features of one global view, n >= 2
   */
  public static Operand<TFloat32> koleo(Ops tf, Operand<TFloat32> x) {
    float eps = 1e-8f;
    Operand<TFloat32> norm = tf.math.sqrt(tf.sum(tf.math.square(x), tf.constant(new int[] {1}), Sum.keepDims(true)));
    Operand<TFloat32> xn = tf.math.div(x, tf.math.maximum(norm, tf.constant(eps))); // [n, D]
    Operand<TFloat32> dots = tf.stopGradient(tf.linalg.matMul(xn, xn, org.tensorflow.op.linalg.MatMul.transposeB(true))); // [n, n]
    Operand<TInt32> n = tf.slice(tf.shape(x), tf.constant(new int[] {0}), tf.constant(new int[] {1})); // [1]
    // a row's own cosine (1) must not win: the diagonal is set to -1 (the official code's fill_(-1))
    Operand<TFloat32> others = tf.linalg.matrixSetDiag(dots, tf.fill(n, tf.constant(-1f)), tf.constant(0)); // [n, n]
    Operand<TInt32> nearest = tf.math.argMax(others, tf.constant(1), TInt32.class); // [n]
    Operand<TFloat32> neighbour = tf.gather(xn, nearest, tf.constant(0)); // [n, D]
    Operand<TFloat32> diff = tf.math.add(tf.math.sub(xn, neighbour), tf.constant(eps));
    Operand<TFloat32> dist = tf.math.sqrt(tf.sum(tf.math.square(diff), tf.constant(new int[] {1}))); // [n]
    return tf.math.neg(tf.math.mean(tf.math.log(tf.math.add(dist, tf.constant(eps))), tf.constant(0)));
  }

  /**
   * iBOT's masked-patch cross-entropy (DINOv2's forward_masked): for every masked patch j of
   * sample i(j), -q_j . log_softmax(s_j / tau_s), weighted by 1 / (masked patches of i(j)), summed
   * and divided by the number of global views {@code samples} (views without a mask count as 0).
   *
   * @param student [M, K] the student's head logits at the M masked patches
   * @param q [M, K] the teacher's centred probabilities at the same patches (unmasked views)
   * @param weights [M] 1 / (masked patches of the patch's view)
   * @param samples the global views these M patches come from (2b)
   */
  public static Operand<TFloat32> ibot(
      Ops tf, Operand<TFloat32> student, Operand<TFloat32> q, Operand<TFloat32> weights, int samples,
      float studentTemp) {
    Operand<TFloat32> logP = tf.nn.logSoftmax(tf.math.div(student, tf.constant(studentTemp))); // [M, K]
    Operand<TFloat32> perPatch = tf.sum(tf.math.mul(q, logP), tf.constant(new int[] {1})); // [M]
    return tf.withName("ibot").math.div(
        tf.math.neg(tf.sum(tf.math.mul(perPatch, weights), tf.constant(new int[] {0}))),
        tf.constant((float) samples));
  }
}
