package dev.dino4j.train;

import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Sum;
import org.tensorflow.types.TFloat32;

/**
 * The DINO cross-entropy between the sharpened, centred teacher and the student over all pairs
 * (teacher global view i, student view v) with v != i, each averaged over the batch, divided by
 * the number of pairs 2 * (V - 1).
 *
 * <p>Computed without a loop over pairs: with S = sum_v log p_v, the pairs of teacher view i sum
 * to -q_i . (S - log p_i).
 */
public final class DinoLoss {

  /** The loss and the teacher's mean per-sample entropy (both scalars). */
  public record Terms(Operand<TFloat32> loss, Operand<TFloat32> teacherEntropy) {}

  private DinoLoss() {}

  /**
   * @param student [V*B, K] student logits, view-major (views 0 and 1 are the global ones)
   * @param teacher [2B, K] teacher logits, view-major
   * @param center [1, K] the center BEFORE this step's update
   */
  public static Terms build(
      Ops tf, Operand<TFloat32> student, Operand<TFloat32> teacher, Operand<TFloat32> center,
      Operand<TFloat32> teacherTemp, float studentTemp, int views, int k) {
    // Rank-2 log-softmax only: TF's LogSoftmax gradient is wrong for rank > 2.
    Operand<TFloat32> logP = tf.nn.logSoftmax(tf.math.div(student, tf.constant(studentTemp))); // [V*B, K]
    logP = tf.reshape(logP, tf.constant(new long[] {views, -1, k})); // [V, B, K]
    Operand<TFloat32> centred = tf.math.div(tf.math.sub(teacher, center), teacherTemp); // [2B, K]
    Operand<TFloat32> q = tf.stopGradient(tf.nn.softmax(centred)); // [2B, K]
    Operand<TFloat32> logQ = tf.stopGradient(tf.nn.logSoftmax(centred)); // [2B, K]
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

    Operand<TFloat32> entropy =
        tf.withName("teacher_entropy").math.mean(
            tf.math.neg(tf.sum(tf.math.mul(q, logQ), tf.constant(new int[] {1}))),
            tf.constant(new int[] {0}));
    return new Terms(loss, entropy);
  }
}
