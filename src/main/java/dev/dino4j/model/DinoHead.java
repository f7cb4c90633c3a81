package dev.dino4j.model;

import dev.dino4j.config.DinoConfig;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Sum;
import org.tensorflow.types.TFloat32;

/**
 * The DINO projection head: an MLP (Linear-GELU x (layers-1), Linear to the bottleneck), L2
 * normalisation, then a weight-normalised linear layer with K outputs and no bias. With
 * norm_last_layer the weight-norm gain stays at 1, so the logits are cosines in [-1, 1].
 * Parameter names are the reference's (MultiCropWrapper's "head." + nn.Sequential indices):
 * head.mlp.0, head.mlp.2, head.mlp.4, head.last_layer.
 */
public final class DinoHead {

  /** Name prefix of every head parameter, as in the reference's MultiCropWrapper state_dict. */
  public static final String PREFIX = "head.";

  private DinoHead() {}

  /** iBOT's separate patch head's name prefix (DINOv2's student.ibot_head). */
  public static final String IBOT_PREFIX = "ibot_head.";

  public static List<ParamSpec> params(DinoConfig.Head h, int inDim) {
    return params(PREFIX, h, inDim);
  }

  /** The separate iBOT head's sizes: the DINO head's, with loss.ibot_out_dim prototypes when set. */
  public static DinoConfig.Head ibotHead(DinoConfig cfg) {
    DinoConfig.Head h = cfg.head();
    return new DinoConfig.Head(cfg.loss().ibotPrototypes(h), h.hiddenDim(), h.bottleneckDim(), h.layers(),
        h.normLastLayer());
  }

  /** The separate iBOT head's parameters; none without one. */
  public static List<ParamSpec> ibotHeadParams(DinoConfig cfg) {
    return cfg.loss().ibot() && cfg.loss().ibotSeparateHead()
        ? params(IBOT_PREFIX, ibotHead(cfg), cfg.model().embedDim())
        : List.of();
  }

  /** A head's parameters under {@code prefix} ("head." or {@link #IBOT_PREFIX}). */
  public static List<ParamSpec> params(String prefix, DinoConfig.Head h, int inDim) {
    List<ParamSpec> s = new ArrayList<>();
    int layers = Math.max(h.layers(), 1);
    int in = inDim;
    for (int i = 0; i < layers; i++) {
      int out = i == layers - 1 ? h.bottleneckDim() : h.hiddenDim();
      String name = prefix + "mlp." + (2 * i);
      if (layers == 1) {
        name = prefix + "mlp"; // the reference uses a bare Linear when nlayers == 1
      }
      s.add(ParamSpec.of(name + ".weight", Init.truncNormal02(), in, out));
      s.add(ParamSpec.of(name + ".bias", new Init.Zeros(), out));
      in = out;
    }
    // The reference creates last_layer after its trunc-normal init pass, so weight_v keeps
    // PyTorch's default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); weight_g starts at 1.
    s.add(
        ParamSpec.of(
                prefix + "last_layer.weight_v",
                new Init.Uniform(1.0 / Math.sqrt(h.bottleneckDim())),
                h.bottleneckDim(),
                h.outDim())
            .inLastLayer());
    ParamSpec gain = ParamSpec.of(prefix + "last_layer.weight_g", new Init.Constant(1f), 1, h.outDim()).inLastLayer();
    s.add(h.normLastLayer() ? gain.frozen() : gain);
    return s;
  }

  /** x [M, D] -> logits [M, K]. */
  public static Operand<TFloat32> forward(Ops tf, Params w, DinoConfig.Head h, Operand<TFloat32> x) {
    return forward(tf, w, PREFIX, h, x);
  }

  /** x [M, D] -> logits [M, K] through the head under {@code prefix}. */
  public static Operand<TFloat32> forward(Ops tf, Params w, String prefix, DinoConfig.Head h, Operand<TFloat32> x) {
    int layers = Math.max(h.layers(), 1);
    for (int i = 0; i < layers; i++) {
      String name = prefix + (layers == 1 ? "mlp" : "mlp." + (2 * i));
      x = Layers.linear(tf, x, w.get(name + ".weight"), w.get(name + ".bias"));
      if (i < layers - 1) {
        x = Layers.gelu(tf, x);
      }
    }
    x = Layers.l2Normalize(tf, x, 1e-12f); // [M, bottleneck]
    Operand<TFloat32> v = w.get(prefix + "last_layer.weight_v"); // [bottleneck, K]
    Operand<TFloat32> vNorm =
        tf.math.sqrt(tf.sum(tf.math.square(v), tf.constant(new int[] {0}), Sum.keepDims(true))); // [1, K]
    Operand<TFloat32> weight = tf.math.mul(tf.math.div(v, vNorm), w.get(prefix + "last_layer.weight_g")); // [bottleneck, K]
    return tf.linalg.matMul(x, weight); // [M, K]
  }
}
