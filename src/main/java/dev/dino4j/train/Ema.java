package dev.dino4j.train;

import dev.dino4j.model.FusedKernels;
import dev.dino4j.model.Params;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/** The teacher's exponential moving average of the student, as one grouped op of assigns. */
public final class Ema {

  private Ema() {}

  /**
   * theta_t <- m theta_t + (1 - m) theta_s for every parameter, pairing by name. {@code tf} must
   * carry a control dependency on the optimizer update: the student is re-read here, after it.
   */
  public static Op build(Ops tf, Params teacher, Params student, Operand<TFloat32> momentum) {
    return build(tf, teacher, student, momentum, false);
  }

  /** As above; {@code fused}: one {@link FusedKernels#ema} op per parameter (the same arithmetic). */
  public static Op build(Ops tf, Params teacher, Params student, Operand<TFloat32> momentum, boolean fused) {
    Operand<TFloat32> oneMinus = tf.math.sub(tf.constant(1f), momentum);
    List<Op> assigns = new ArrayList<>();
    for (Params.Param t : teacher.all()) {
      Params.Param s = student.param(t.spec().name());
      Operand<TFloat32> updatedStudent = tf.identity(s.variable()); // read after the update
      Operand<TFloat32> value =
          fused
              ? FusedKernels.ema(tf, t.value(), updatedStudent, momentum)
              : tf.math.add(tf.math.mul(t.value(), momentum), tf.math.mul(updatedStudent, oneMinus));
      assigns.add(tf.assign(t.variable(), value));
    }
    return tf.withControlDependencies(assigns).withName("update").noOp();
  }
}
