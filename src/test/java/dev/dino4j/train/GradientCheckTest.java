package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.Params;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.types.TFloat32;

/**
 * The graph's gradients (TF Java's symbolic gradients through ViT, head and loss, including the
 * bicubic position-embedding matrix on the local crops and stochastic depth with a fixed seed)
 * against central finite differences of the loss, along the gradient and along a random
 * direction, per parameter tensor.
 */
class GradientCheckTest {

  private static final int B = 2;

  /** stem: the patch projection, or the conv stem (its im2col slices, GELUs and 1x1 projection). */
  @ParameterizedTest(name = "stem {0}")
  @ValueSource(strings = {"patch", "conv"})
  void gradientsMatchFiniteDifferences(String stem) {
    DinoConfig c = TestConfigs.tiny(2, 0.2, 3.0, "unused");
    DinoConfig.Model m = c.model();
    DinoConfig cfg = new DinoConfig(c.data(), c.augment(), new DinoConfig.Model(m.arch(), m.patchSize(), m.embedDim(),
        m.depth(), m.heads(), m.mlpRatio(), m.dropPathRate(), 0.0, 0, 0.0, stem), c.head(), c.loss(), c.optim(),
        c.train(), c.eval());
    DinoConfig.Augment a = cfg.augment();
    float[] globals = GraphRunner.gaussian(2L * B * a.globalSize() * a.globalSize() * 3, 21);
    float[] locals = GraphRunner.gaussian(2L * B * a.localSize() * a.localSize() * 3, 22);
    List<String> embedding = stem.equals("conv")
        ? List.of("patch_embed.stem.0.weight", "patch_embed.stem.0.bias", "patch_embed.stem.1.weight", "patch_embed.proj.weight")
        : List.of("patch_embed.proj.weight");
    List<String> checked = new java.util.ArrayList<>(embedding);
    checked.addAll(List.of(
        "pos_embed", "cls_token", "blocks.0.attn.qkv.weight", "blocks.1.mlp.fc1.bias",
        "blocks.1.norm2.weight", "norm.bias", "head.mlp.0.weight", "head.mlp.4.weight", "head.last_layer.weight_v"));
    try (Graph g = new Graph()) {
      DinoGraph dg = new DinoGraph(g, cfg);
      try (Session s = new Session(g);
          var f = GraphRunner.Feed.of(dg, globals, locals, B, a.globalSize(), a.localSize(), 1e-3f, 0.04f, 0.99f, 0.07f, false, 3)) {
        dg.initialize(s, 9);
        List<Params.Param> trainable = dg.optimizer.trainable();
        Random rng = new Random(4);
        for (String name : checked) {
          int i = indexOf(trainable, name);
          Params.Param p = trainable.get(i);
          float[] w;
          float[] grad;
          try (Result r = f.into(s.runner(), dg).fetch(p.value()).fetch(dg.gradients.get(i)).run()) {
            w = GraphRunner.toArray((TFloat32) r.get(0));
            grad = GraphRunner.toArray((TFloat32) r.get(1));
          }
          double gnorm = norm(grad);
          assertTrue(gnorm > 0, "gradient of " + name + " is zero");
          float[] along = scale(grad, 1 / gnorm);
          float[] random = new float[w.length];
          for (int j = 0; j < w.length; j++) {
            random[j] = (float) rng.nextGaussian();
          }
          random = scale(random, 1 / norm(random));
          for (float[] dir : List.of(along, random)) {
            double analytic = dot(grad, dir);
            // the loss curves hard along its gradient (cosine logits / 0.1): a shorter step there
            double eps = dir == along ? 5e-4 : 2e-3;
            double numeric =
                (loss(s, dg, f, p, w, dir, eps) - loss(s, dg, f, p, w, dir, -eps)) / (2 * eps);
            assertEquals(analytic, numeric, 0.03 * Math.abs(analytic) + 2e-3 * gnorm,
                name + ": directional derivative, |grad| = " + gnorm);
          }
        }
      }
    }
  }

  /** Loss with parameter p replaced by w + eps * dir (feeding its read overrides the variable). */
  private static double loss(Session s, DinoGraph dg, GraphRunner.Feed f, Params.Param p, float[] w, float[] dir,
      double eps) {
    float[] moved = new float[w.length];
    for (int j = 0; j < w.length; j++) {
      moved[j] = (float) (w[j] + eps * dir[j]);
    }
    try (TFloat32 t = TFloat32.tensorOf(Shape.of(p.spec().shape()), DataBuffers.of(moved, true, false));
        Result r = f.into(s.runner(), dg).feed(p.value(), t).fetch(dg.loss).run()) {
      return ((TFloat32) r.get(0)).getFloat();
    }
  }

  private static int indexOf(List<Params.Param> ps, String name) {
    for (int i = 0; i < ps.size(); i++) {
      if (ps.get(i).spec().name().equals(name)) {
        return i;
      }
    }
    throw new AssertionError("no trainable parameter " + name);
  }

  private static double norm(float[] x) {
    return Math.sqrt(dot(x, x));
  }

  private static double dot(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += (double) a[i] * b[i];
    }
    return s;
  }

  private static float[] scale(float[] x, double c) {
    float[] y = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      y[i] = (float) (x[i] * c);
    }
    return y;
  }
}
