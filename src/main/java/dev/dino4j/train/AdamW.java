package dev.dino4j.train;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.FusedKernels;
import dev.dino4j.model.Params;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TFloat64;
import org.tensorflow.types.TInt64;

/**
 * AdamW from graph ops, with PyTorch's torch.optim.AdamW arithmetic:
 *
 * <pre>
 *   g  <- g * min(1, clip / (||g|| + 1e-6))          per parameter tensor (clip = 0: off)
 *   p  <- p * (1 - lr * wd)                          only params with decay (rank > 1, not a bias)
 *   m  <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
 *   p  <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * </pre>
 *
 * lr and wd are fed per step. TF's ApplyAdam kernel puts eps in a different place, so the update is
 * written out. While the head's last layer is frozen it gets no update, no decay and no moment
 * change, and its own step count t does not advance (PyTorch skips a parameter whose grad is None).
 */
public final class AdamW {

  private final Params params;
  private final List<Params.Param> trainable = new ArrayList<>();
  private final List<Variable<TFloat32>> expAvg = new ArrayList<>();
  private final List<Variable<TFloat32>> expAvgSq = new ArrayList<>();
  private final Variable<TInt64> step; // optimizer steps taken (t for all but the last layer)
  private final Variable<TInt64> lastLayerStep; // steps the last layer was actually updated
  private final double beta1;
  private final double beta2;
  private final float eps;

  /** Creates the slot variables (call before building the forward graph). */
  public AdamW(Ops tf, Params params, DinoConfig.Optim cfg) {
    this.params = params;
    this.beta1 = cfg.beta1();
    this.beta2 = cfg.beta2();
    this.eps = (float) cfg.eps();
    Ops opt = tf.withSubScope("optimizer");
    for (Params.Param p : params.all()) {
      if (!p.spec().trainable()) {
        continue;
      }
      trainable.add(p);
      Shape shape = Shape.of(p.spec().shape());
      expAvg.add(opt.withSubScope("exp_avg").withName(p.spec().name()).variable(shape, TFloat32.class));
      expAvgSq.add(opt.withSubScope("exp_avg_sq").withName(p.spec().name()).variable(shape, TFloat32.class));
    }
    step = opt.withName("step").variable(Shape.scalar(), TInt64.class);
    lastLayerStep = opt.withName("last_layer_step").variable(Shape.scalar(), TInt64.class);
  }

  /** The parameters this optimizer updates, in the order gradients must be given. */
  public List<Params.Param> trainable() {
    return trainable;
  }

  public Params params() {
    return params;
  }

  /** Zero moments and counters. */
  public List<Op> initializers(Ops tf) {
    List<Op> ops = new ArrayList<>();
    for (int i = 0; i < trainable.size(); i++) {
      Operand<TInt64> shape = tf.constant(trainable.get(i).spec().shape());
      ops.add(tf.assign(expAvg.get(i), tf.zeros(shape, TFloat32.class)));
      ops.add(tf.assign(expAvgSq.get(i), tf.zeros(shape, TFloat32.class)));
    }
    ops.add(tf.assign(step, tf.constant(0L)));
    ops.add(tf.assign(lastLayerStep, tf.constant(0L)));
    return ops;
  }

  /**
   * The update op. {@code tf} must carry the gate (all gradients computed) as a control dependency.
   */
  public Op applyGradients(
      Ops tf, List<Operand<TFloat32>> grads, Operand<TFloat32> lr, Operand<TFloat32> wd,
      Operand<TBool> freezeLastLayer, double clip) {
    return applyGradients(tf, grads, lr, wd, freezeLastLayer, clip, false);
  }

  /**
   * As above; {@code fused}: each parameter's clip and update as one {@link FusedKernels#adamW} op
   * (the same arithmetic), instead of ~15 elementwise ops each a pass over the tensor.
   */
  public Op applyGradients(
      Ops tf, List<Operand<TFloat32>> grads, Operand<TFloat32> lr, Operand<TFloat32> wd,
      Operand<TBool> freezeLastLayer, double clip, boolean fused) {
    Ops opt = tf.withSubScope("adamw");
    Operand<TInt64> stepNext = opt.math.add(opt.identity(step), opt.constant(1L));
    Operand<TInt64> lastNext =
        opt.select(freezeLastLayer, opt.identity(lastLayerStep), opt.math.add(opt.identity(lastLayerStep), opt.constant(1L)));
    Corrections main = corrections(opt, stepNext);
    Corrections last = corrections(opt, lastNext);
    Operand<TFloat32> one = opt.constant(1f);
    Operand<TFloat32> decayFactor = opt.math.sub(one, opt.math.mul(lr, wd));

    // the fused op's scalars, per (corrections, decay) pair: [lr/bc1, sqrt bc2, decay, clip, b1, 1-b1, b2, 1-b2, eps]
    Operand<TFloat32>[][] hyper = null;
    if (fused) {
      @SuppressWarnings("unchecked")
      Operand<TFloat32>[][] h = new Operand[2][2];
      Corrections[] cs = {main, last};
      Operand<TFloat32> tail =
          opt.constant(new float[] {(float) clip, (float) beta1, (float) (1 - beta1), (float) beta2, (float) (1 - beta2), eps});
      for (int k = 0; k < 2; k++) {
        for (int dk = 0; dk < 2; dk++) {
          Operand<TFloat32> head =
              opt.stack(List.of(opt.math.div(lr, cs[k].bc1()), cs[k].sqrtBc2(), dk == 1 ? decayFactor : one));
          h[k][dk] = opt.concat(List.of(head, tail), opt.constant(0));
        }
      }
      hyper = h;
    }

    List<Op> updates = new ArrayList<>();
    for (int i = 0; i < trainable.size(); i++) {
      Params.Param p = trainable.get(i);
      Ops o = opt.withSubScope("p" + i);
      Operand<TFloat32> g = grads.get(i);
      if (p.spec().trainable() && g == null) {
        throw new IllegalStateException("no gradient reaches " + p.spec().name());
      }
      Operand<TFloat32> m = o.identity(expAvg.get(i));
      Operand<TFloat32> v = o.identity(expAvgSq.get(i));
      Operand<TFloat32> w = p.value();
      Operand<TFloat32> mNew;
      Operand<TFloat32> vNew;
      Operand<TFloat32> wNew;
      if (fused) {
        List<Operand<TFloat32>> next =
            FusedKernels.adamW(o, w, m, v, g, hyper[p.spec().lastLayer() ? 1 : 0][p.spec().decay() ? 1 : 0]);
        wNew = next.get(0);
        mNew = next.get(1);
        vNew = next.get(2);
      } else {
        if (clip > 0) {
          Operand<TFloat32> norm = o.math.sqrt(o.sum(o.math.square(g), allAxes(o, p)));
          Operand<TFloat32> coef = o.math.div(o.constant((float) clip), o.math.add(norm, o.constant(1e-6f)));
          g = o.math.mul(g, o.math.minimum(coef, one));
        }
        Corrections c = p.spec().lastLayer() ? last : main;
        mNew = o.math.add(o.math.mul(m, o.constant((float) beta1)), o.math.mul(g, o.constant((float) (1 - beta1))));
        vNew = o.math.add(o.math.mul(v, o.constant((float) beta2)), o.math.mul(o.math.square(g), o.constant((float) (1 - beta2))));
        Operand<TFloat32> decayed = p.spec().decay() ? o.math.mul(w, decayFactor) : w;
        Operand<TFloat32> denom = o.math.add(o.math.div(o.math.sqrt(vNew), c.sqrtBc2()), o.constant(eps));
        wNew = o.math.sub(decayed, o.math.mul(o.math.div(lr, c.bc1()), o.math.div(mNew, denom)));
      }
      if (p.spec().lastLayer()) {
        wNew = o.select(freezeLastLayer, w, wNew);
        mNew = o.select(freezeLastLayer, m, mNew);
        vNew = o.select(freezeLastLayer, v, vNew);
      }
      updates.add(o.assign(expAvg.get(i), mNew));
      updates.add(o.assign(expAvgSq.get(i), vNew));
      updates.add(o.assign(p.variable(), wNew));
    }
    updates.add(opt.assign(step, stepNext));
    updates.add(opt.assign(lastLayerStep, lastNext));
    return opt.withControlDependencies(updates).withName("update").noOp();
  }

  private record Corrections(Operand<TFloat32> bc1, Operand<TFloat32> sqrtBc2) {}

  // Bias corrections in float64, as PyTorch computes them in Python floats, then cast once.
  private Corrections corrections(Ops tf, Operand<TInt64> t) {
    Operand<TFloat64> t64 = tf.dtypes.cast(t, TFloat64.class);
    Operand<TFloat64> one = tf.constant(1.0);
    Operand<TFloat64> bc1 = tf.math.sub(one, tf.math.pow(tf.constant((double) beta1), t64));
    Operand<TFloat64> bc2 = tf.math.sub(one, tf.math.pow(tf.constant((double) beta2), t64));
    return new Corrections(
        tf.dtypes.cast(bc1, TFloat32.class), tf.dtypes.cast(tf.math.sqrt(bc2), TFloat32.class));
  }

  private static Operand<org.tensorflow.types.TInt32> allAxes(Ops tf, Params.Param p) {
    int[] axes = new int[p.spec().shape().length];
    for (int i = 0; i < axes.length; i++) {
      axes[i] = i;
    }
    return tf.constant(axes);
  }
}
