package dev.dino4j.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The linear probe's classifier as a TensorFlow graph: logits = x W + b over frozen features,
 * mean softmax cross-entropy, and PyTorch's SGD with momentum written out as assigns (buf <- m buf
 * + g + wd p; p <- p - lr buf), lr fed per step. Init as the reference's LinearClassifier: W ~
 * N(0, 0.01), b = 0.
 *
 * <p>Order within {@link #step}: loss and gradients are computed (gate), then the momentum
 * buffers, then the parameters, so no read sees a half-updated variable.
 */
public final class LinearClassifier implements AutoCloseable {

  /** The four state tensors, for checkpoints: weight [F, C], bias [C] and their momentum buffers. */
  public record State(float[] weight, float[] bias, float[] weightMomentum, float[] biasMomentum) {}

  private final Graph graph = new Graph();
  private final Session session;
  private final int features;
  private final int classes;
  private final Placeholder<TFloat32> x; // [B, F]
  private final Placeholder<TInt32> y; // [B]
  private final Placeholder<TFloat32> lr;
  private final Operand<TFloat32> logits; // [B, C]
  private final Operand<TFloat32> loss;
  private final Op step;
  private final List<Variable<TFloat32>> vars = new ArrayList<>(); // W, b, bufW, bufB
  private final List<Placeholder<TFloat32>> setFeeds = new ArrayList<>();
  private final Op setAll;
  private final List<Operand<TFloat32>> reads = new ArrayList<>();

  public LinearClassifier(int features, int classes, double momentum, double weightDecay) {
    if (features < 1 || classes < 2) {
      throw new IllegalArgumentException("a linear probe needs >= 1 feature and >= 2 classes, got " + features
          + " and " + classes);
    }
    this.features = features;
    this.classes = classes;
    Ops tf = Ops.create(graph);
    Ops lin = tf.withSubScope("linear");
    long[][] shapes = {{features, classes}, {classes}, {features, classes}, {classes}};
    String[] names = {"weight", "bias", "momentum_weight", "momentum_bias"};
    List<Op> sets = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      Variable<TFloat32> v = lin.withName(names[i]).variable(Shape.of(shapes[i]), TFloat32.class);
      vars.add(v);
      reads.add(lin.withSubScope(names[i]).withName("read").identity(v));
      Placeholder<TFloat32> ph = lin.withSubScope(names[i]).withName("value")
          .placeholder(TFloat32.class, Placeholder.shape(Shape.of(shapes[i])));
      setFeeds.add(ph);
      sets.add(lin.assign(v, ph));
    }
    setAll = tf.withControlDependencies(sets).withName("set_all").noOp();
    Operand<TFloat32> w = reads.get(0);
    Operand<TFloat32> b = reads.get(1);
    x = tf.withName("features").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, features)));
    y = tf.withName("labels").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
    lr = tf.withName("lr").placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
    logits = tf.math.add(tf.linalg.matMul(x, w), b); // [B, C]
    // cross-entropy by hand: TF Java has no gradient for SparseSoftmaxCrossEntropyWithLogits;
    // logSoftmax's gradient is right for rank 2 (DESIGN.md)
    Operand<TFloat32> oneHot = tf.oneHot(y, tf.constant(classes), tf.constant(1f), tf.constant(0f)); // [B, C]
    Operand<TFloat32> nll = tf.math.neg(tf.sum(tf.math.mul(oneHot, tf.nn.logSoftmax(logits)), tf.constant(1))); // [B]
    loss = tf.withName("loss").math.mean(nll, tf.constant(0));
    var grads = tf.gradients(loss, List.of(w, b));
    Operand<TFloat32> gw = grads.dy(0);
    Operand<TFloat32> gb = grads.dy(1);
    List<Op> gateDeps = List.of(gw, gb, loss);
    Ops gated = tf.withControlDependencies(List.of(tf.withControlDependencies(gateDeps).withName("gate").noOp()));
    float m = (float) momentum;
    float wd = (float) weightDecay;
    // PyTorch SGD: d = g + wd * p; buf = m * buf + d; p = p - lr * buf (no dampening, no nesterov)
    Operand<TFloat32> dW = tf.math.add(gw, tf.math.mul(w, tf.constant(wd)));
    Operand<TFloat32> dB = tf.math.add(gb, tf.math.mul(b, tf.constant(wd)));
    Operand<TFloat32> bufW = tf.math.add(tf.math.mul(reads.get(2), tf.constant(m)), dW);
    Operand<TFloat32> bufB = tf.math.add(tf.math.mul(reads.get(3), tf.constant(m)), dB);
    Operand<TFloat32> newW = tf.math.sub(w, tf.math.mul(lr, bufW));
    Operand<TFloat32> newB = tf.math.sub(b, tf.math.mul(lr, bufB));
    // every new value exists before the first write (the reads alias the variable buffers)
    Op computed = gated.withControlDependencies(List.of(newW, newB, bufW, bufB)).withName("computed").noOp();
    Ops after = tf.withControlDependencies(List.of(computed));
    List<Op> writes = List.of(after.assign(vars.get(2), bufW), after.assign(vars.get(3), bufB),
        after.assign(vars.get(0), newW), after.assign(vars.get(1), newB));
    step = tf.withControlDependencies(writes).withName("step").noOp();
    session = new Session(graph);
  }

  /** Fresh parameters: W ~ N(0, 0.01) drawn from {@code seed}, b and the buffers zero. */
  public void initialize(long seed) {
    Random rng = new Random(seed);
    float[] w = new float[features * classes];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) (rng.nextGaussian() * 0.01);
    }
    set(new State(w, new float[classes], new float[features * classes], new float[classes]));
  }

  /** Replaces the whole state (resume). */
  public void set(State s) {
    float[][] values = {s.weight(), s.bias(), s.weightMomentum(), s.biasMomentum()};
    List<TFloat32> tensors = new ArrayList<>();
    try {
      Session.Runner r = session.runner().addTarget(setAll);
      for (int i = 0; i < 4; i++) {
        long[] shape = i % 2 == 0 ? new long[] {features, classes} : new long[] {classes};
        TFloat32 t = TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(values[i], true, false));
        tensors.add(t);
        r.feed(setFeeds.get(i), t);
      }
      r.run().close();
    } finally {
      tensors.forEach(TFloat32::close);
    }
  }

  /** The current state (checkpoint). */
  public State get() {
    float[][] out = {new float[features * classes], new float[classes], new float[features * classes],
        new float[classes]};
    Session.Runner r = session.runner();
    reads.forEach(r::fetch);
    try (Result res = r.run()) {
      for (int i = 0; i < 4; i++) {
        ((TFloat32) res.get(i)).copyTo(DataBuffers.of(out[i], false, false));
      }
    }
    return new State(out[0], out[1], out[2], out[3]);
  }

  /** One SGD step on a batch // x [b, F], labels [b]; returns the batch loss before the step. */
  public float step(float[] xs, int[] labels, int b, float learningRate) {
    try (TFloat32 xt = TFloat32.tensorOf(Shape.of(b, features), DataBuffers.of(xs, true, false));
        TInt32 yt = TInt32.tensorOf(Shape.of(b), DataBuffers.of(labels, true, false));
        TFloat32 lt = TFloat32.scalarOf(learningRate);
        Result res = session.runner().feed(x, xt).feed(y, yt).feed(lr, lt).addTarget(step).fetch(loss).run()) {
      return ((TFloat32) res.get(0)).getFloat();
    }
  }

  /** Logits of a batch // [b, F] -> [b, C]. */
  public float[] logits(float[] xs, int b) {
    float[] out = new float[b * classes];
    try (TFloat32 xt = TFloat32.tensorOf(Shape.of(b, features), DataBuffers.of(xs, true, false));
        Result res = session.runner().feed(x, xt).fetch(logits).run()) {
      ((TFloat32) res.get(0)).copyTo(DataBuffers.of(out, false, false));
    }
    return out;
  }

  /** Top-1 and top-5 accuracy (percent) on labelled features, in batches of 1024. */
  public double[] accuracy(Features test) {
    long top1 = 0;
    long top5 = 0;
    int counted = 0;
    double[] row = new double[classes];
    for (int start = 0; start < test.count(); start += 1024) {
      int b = Math.min(1024, test.count() - start);
      float[] xs = java.util.Arrays.copyOfRange(test.values(), start * features, (start + b) * features);
      float[] lg = logits(xs, b);
      for (int i = 0; i < b; i++) {
        int truth = test.labels()[start + i];
        if (truth < 0 || truth >= classes) {
          continue;
        }
        counted++;
        for (int c = 0; c < classes; c++) {
          row[c] = lg[i * classes + c];
        }
        int rank = Knn.rank(row, truth);
        top1 += rank == 0 ? 1 : 0;
        top5 += rank < 5 ? 1 : 0;
      }
    }
    double n = Math.max(counted, 1);
    return new double[] {100.0 * top1 / n, 100.0 * top5 / n};
  }

  public int features() {
    return features;
  }

  public int classes() {
    return classes;
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }
}
