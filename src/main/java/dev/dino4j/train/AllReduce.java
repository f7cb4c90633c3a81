package dev.dino4j.train;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Output;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.DataType;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.family.TNumber;

/**
 * Collective reductions over the workers of a {@link Cluster}, as graph ops (TF's
 * CollectiveReduceV2: a ring all-reduce between the workers' gRPC servers).
 *
 * <p>Every worker builds the same collectives with the same keys: one group (all workers) and one
 * instance key per collective op, so worker i's op k meets worker j's op k. Many tensors travel as
 * one packed vector (one op, one ring pass) rather than one op per tensor. {@code timeout_seconds}
 * bounds the wait for the other workers: a dead or unreachable worker makes the op fail with
 * DEADLINE_EXCEEDED or UNAVAILABLE instead of hanging.
 */
final class AllReduce {

  static final int GROUP_KEY = 1;
  /** Instance keys, fixed so that every worker's graph agrees. */
  static final int STEP = 1; // gradients, center statistic, loss terms, stop flag

  static final int COPY_FLOAT = 2; // start-up copy of the chief's variables

  static final int COPY_INT64 = 3;
  static final int PROBE = 4; // benchmark: a bare all-reduce of the gradient payload

  static final int SAME_RUN = 5; // start-up check: every worker's config and dataset fingerprint

  static final int SINKHORN_MAX = 6; // Sinkhorn-Knopp: the global max of t / tau (exp's shift)

  static final int SINKHORN_SUMS = 100; // Sinkhorn-Knopp: 100 + i, its i-th sum over the workers

  private AllReduce() {}

  /**
   * The mean over all workers of each tensor, in one collective.
   *
   * @param shapes the tensors' shapes (static: every worker must send the same layout)
   * @return the means, in the order and shapes of {@code xs}
   */
  static List<Operand<TFloat32>> mean(
      Ops tf, Cluster c, List<Operand<TFloat32>> xs, List<Shape> shapes, int instanceKey, double timeoutSeconds) {
    return unpack(tf, reduce(tf, c, pack(tf, xs), instanceKey, "Div", timeoutSeconds), shapes);
  }

  /**
   * One CollectiveReduceV2 summing ({@code finalOp} "Id") or averaging ("Div") {@code x} over the
   * workers, on this worker's CPU.
   */
  static <T extends TNumber> Operand<T> reduce(
      Ops tf, Cluster c, Operand<T> x, int instanceKey, String finalOp, double timeoutSeconds) {
    return reduce(tf, c, x, instanceKey, "Add", finalOp, timeoutSeconds);
  }

  /** As above with another merge op ("Max", "Min", "Mul"). */
  static <T extends TNumber> Operand<T> reduce(
      Ops tf, Cluster c, Operand<T> x, int instanceKey, String mergeOp, String finalOp, double timeoutSeconds) {
    Output<T> out =
        tf.scope().opBuilder("CollectiveReduceV2", "all_reduce")
            .addInput(x.asOutput())
            .addInput(tf.constant(c.size()).asOutput()) // group_size
            .addInput(tf.constant(GROUP_KEY).asOutput())
            .addInput(tf.constant(instanceKey).asOutput())
            .addInputList(new Output<?>[0]) // ordering tokens: none needed on CPU
            .setAttr("merge_op", mergeOp)
            .setAttr("final_op", finalOp)
            .setAttr("timeout_seconds", (float) timeoutSeconds)
            .setDevice(c.device())
            .build()
            .output(0);
    return out;
  }

  /**
   * Copies every variable of the graph from the chief to all workers: the chief contributes its
   * values, the others zeros, and the sum is assigned everywhere (x + 0 is exact). Run once at
   * start-up, after the chief initialised or restored: the workers then start identical, whether
   * or not they can read the chief's checkpoints. Build it after every variable exists.
   */
  static Op copyFromChief(Ops tf, Graph graph, Cluster c, double timeoutSeconds) {
    List<Output<TFloat32>> floats = new ArrayList<>();
    List<Output<TInt64>> longs = new ArrayList<>();
    for (Iterator<GraphOperation> it = graph.operations(); it.hasNext(); ) {
      GraphOperation op = it.next();
      if (!op.type().equals("VariableV2")) {
        continue;
      }
      DataType dt = op.output(0).dataType();
      if (dt == DataType.DT_FLOAT_REF) {
        floats.add(op.output(0));
      } else if (dt == DataType.DT_INT64_REF) {
        longs.add(op.output(0));
      } else {
        throw new IllegalStateException("variable " + op.name() + " has type " + dt + "; copyFromChief handles float and int64");
      }
    }
    List<Op> assigns = new ArrayList<>();
    assigns.addAll(copy(tf.withSubScope("float"), c, floats, TFloat32.class, COPY_FLOAT, timeoutSeconds));
    assigns.addAll(copy(tf.withSubScope("int64"), c, longs, TInt64.class, COPY_INT64, timeoutSeconds));
    return tf.withControlDependencies(assigns).withName("copy_from_chief").noOp();
  }

  private static <T extends TNumber> List<Op> copy(
      Ops tf, Cluster c, List<Output<T>> vars, Class<T> type, int instanceKey, double timeoutSeconds) {
    List<Op> assigns = new ArrayList<>();
    if (vars.isEmpty()) {
      return assigns;
    }
    List<Operand<T>> mine = new ArrayList<>();
    List<Shape> shapes = new ArrayList<>();
    for (Output<T> v : vars) {
      Shape s = v.shape();
      if (s.isUnknown() || s.hasUnknownDimension()) {
        throw new IllegalStateException("variable " + v.op().name() + " has no static shape: " + s);
      }
      shapes.add(s);
      mine.add(c.chief() ? tf.identity(v) : tf.zeros(tf.constant(s.asArray()), type));
    }
    List<Operand<T>> chiefs = unpack(tf, reduce(tf, c, pack(tf, mine), instanceKey, "Id", timeoutSeconds), shapes);
    for (int i = 0; i < vars.size(); i++) {
      assigns.add(tf.assign(vars.get(i), chiefs.get(i)));
    }
    return assigns;
  }

  /** Flattens and concatenates: [sum of sizes]. */
  static <T extends TNumber> Operand<T> pack(Ops tf, List<? extends Operand<T>> xs) {
    List<Operand<T>> flat = new ArrayList<>();
    for (Operand<T> x : xs) {
      flat.add(tf.reshape(x, tf.constant(new long[] {-1})));
    }
    return tf.concat(flat, tf.constant(0));
  }

  /** Inverse of {@link #pack}: consecutive slices reshaped to {@code shapes}. */
  static <T extends TNumber> List<Operand<T>> unpack(Ops tf, Operand<T> packed, List<Shape> shapes) {
    List<Operand<T>> out = new ArrayList<>();
    long offset = 0;
    for (Shape s : shapes) {
      long n = s.size();
      Operand<T> part = tf.slice(packed, tf.constant(new long[] {offset}), tf.constant(new long[] {n}));
      out.add(tf.reshape(part, tf.constant(s.asArray())));
      offset += n;
    }
    return out;
  }
}
