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

  public static List<ParamSpec> params(DinoConfig.Head h, int inDim) {
    List<ParamSpec> s = new ArrayList<>();
    int layers = Math.max(h.layers(), 1);
    int in = inDim;
    for (int i = 0; i < layers; i++) {
      int out = i == layers - 1 ? h.bottleneckDim() : h.hiddenDim();
      String name = PREFIX + "mlp." + (2 * i);
      if (layers == 1) {
        name = PREFIX + "mlp"; // the reference uses a bare Linear when nlayers == 1
      }
      s.add(ParamSpec.of(name + ".weight", Init.truncNormal02(), in, out));
      s.add(ParamSpec.of(name + ".bias", new Init.Zeros(), out));
      in = out;
    }
    // The reference creates last_layer after its trunc-normal init pass, so weight_v keeps
    // PyTorch's default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); weight_g starts at 1.
    s.add(
        ParamSpec.of(
                PREFIX + "last_layer.weight_v",
                new Init.Uniform(1.0 / Math.sqrt(h.bottleneckDim())),
                h.bottleneckDim(),
                h.outDim())
            .inLastLayer());
    ParamSpec gain = ParamSpec.of(PREFIX + "last_layer.weight_g", new Init.Constant(1f), 1, h.outDim()).inLastLayer();
    s.add(h.normLastLayer() ? gain.frozen() : gain);
    return s;
  }

  /** x [M, D] -> logits [M, K]. */
  public static Operand<TFloat32> forward(Ops tf, Params w, DinoConfig.Head h, Operand<TFloat32> x) {
    int layers = Math.max(h.layers(), 1);
    for (int i = 0; i < layers; i++) {
      String name = PREFIX + (layers == 1 ? "mlp" : "mlp." + (2 * i));
      x = Layers.linear(tf, x, w.get(name + ".weight"), w.get(name + ".bias"));
      if (i < layers - 1) {
        x = Layers.gelu(tf, x);
      }
    }
    x = Layers.l2Normalize(tf, x, 1e-12f); // [M, bottleneck]
    Operand<TFloat32> v = w.get(PREFIX + "last_layer.weight_v"); // [bottleneck, K]
    Operand<TFloat32> vNorm =
        tf.math.sqrt(tf.sum(tf.math.square(v), tf.constant(new int[] {0}), Sum.keepDims(true))); // [1, K]
    Operand<TFloat32> weight = tf.math.mul(tf.math.div(v, vNorm), w.get(PREFIX + "last_layer.weight_g")); // [bottleneck, K]
    return tf.linalg.matMul(x, weight); // [M, K]
  }
}
