package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.Params;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.types.TFloat32;

/**
 * The training step against plain-Java recomputations: the DINO loss from the logits the graph
 * produced, the center update, AdamW (decay, clipping, frozen last layer, bias correction) and the
 * teacher EMA, over several steps.
 */
class DinoStepTest {

  private static final int B = 3;

  private record Setup(DinoConfig cfg, float[] globals, float[] locals) {
    static Setup of(double clip) {
      DinoConfig cfg = TestConfigs.tiny(2, 0.1, clip, "unused");
      DinoConfig.Augment a = cfg.augment();
      return new Setup(cfg,
          GraphRunner.gaussian(2L * B * a.globalSize() * a.globalSize() * 3, 11),
          GraphRunner.gaussian(2L * B * a.localSize() * a.localSize() * 3, 12));
    }

    GraphRunner.Feed feed(DinoGraph g, float lr, float wd, float m, float tt, boolean freeze, long step) {
      DinoConfig.Augment a = cfg.augment();
      return GraphRunner.Feed.of(g, globals, locals, B, a.globalSize(), a.localSize(), lr, wd, m, tt, freeze, step);
    }
  }

  @Test
  void teacherStartsAsExactCopyOfStudent() {
    Setup s = Setup.of(3.0);
    try (Graph g = new Graph(); var dg = new Holder(g, s.cfg); Session sess = new Session(g)) {
      dg.g.initialize(sess, 5);
      Map<String, float[]> st = GraphRunner.values(sess, dg.g.student);
      Map<String, float[]> te = GraphRunner.values(sess, dg.g.teacher);
      assertEquals(st.keySet(), te.keySet());
      for (String k : st.keySet()) {
        assertArrayEquals(st.get(k), te.get(k), 0f, k);
      }
      // reference init: trunc-normal(0.02) weights, zero biases, unit LayerNorm gains
      assertEquals(0.02, std(st.get("blocks.0.attn.qkv.weight")), 0.002);
      assertArrayEquals(new float[st.get("blocks.0.attn.qkv.bias").length], st.get("blocks.0.attn.qkv.bias"), 0f);
      for (float v : st.get("norm.weight")) {
        assertEquals(1f, v);
      }
    }
  }

  @Test
  void lossAndCenterMatchJavaRecomputation() {
    Setup s = Setup.of(3.0);
    DinoConfig cfg = s.cfg;
    int k = cfg.head().outDim();
    int views = 2 + cfg.augment().localCrops();
    try (Graph g = new Graph(); var h = new Holder(g, cfg); Session sess = new Session(g)) {
      DinoGraph dg = h.g;
      dg.initialize(sess, 1);
      // one step first so that the center is non-zero
      try (var f = s.feed(dg, 1e-3f, 0.04f, 0.99f, 0.04f, false, 0)) {
        f.into(sess.runner(), dg).addTarget(dg.trainStep).run().close();
      }
      float[] oldCenter = GraphRunner.fetch(sess, List.of(dg.center)).get(0);
      assertTrue(maxAbs(oldCenter) > 0, "center moved after one step");
      float tt = 0.05f;
      float[] studentLogits;
      float[] teacherLogits;
      float loss;
      float entropy;
      float kl;
      try (var f = s.feed(dg, 1e-3f, 0.04f, 0.99f, tt, false, 1);
          Result r = f.into(sess.runner(), dg).addTarget(dg.trainStep).fetch(dg.studentLogits).fetch(dg.teacherLogits)
              .fetch(dg.loss).fetch(dg.teacherEntropy).fetch(dg.klDivergence).run()) {
        studentLogits = GraphRunner.toArray((TFloat32) r.get(0));
        teacherLogits = GraphRunner.toArray((TFloat32) r.get(1));
        loss = ((TFloat32) r.get(2)).getFloat();
        entropy = ((TFloat32) r.get(3)).getFloat();
        kl = ((TFloat32) r.get(4)).getFloat();
      }
      float[] newCenter = GraphRunner.fetch(sess, List.of(dg.center)).get(0);

      // reference: the loop of DINOLoss.forward, in double
      double[][] q = new double[2 * B][];
      for (int row = 0; row < 2 * B; row++) {
        double[] z = new double[k];
        for (int j = 0; j < k; j++) {
          z[j] = (teacherLogits[row * k + j] - oldCenter[j]) / tt;
        }
        q[row] = softmax(z);
      }
      double total = 0;
      int terms = 0;
      for (int iq = 0; iq < 2; iq++) {
        for (int v = 0; v < views; v++) {
          if (v == iq) {
            continue;
          }
          double mean = 0;
          for (int b = 0; b < B; b++) {
            double[] z = new double[k];
            for (int j = 0; j < k; j++) {
              z[j] = studentLogits[(v * B + b) * k + j] / 0.1;
            }
            double[] logp = logSoftmax(z);
            double ce = 0;
            for (int j = 0; j < k; j++) {
              ce -= q[iq * B + b][j] * logp[j];
            }
            mean += ce / B;
          }
          total += mean;
          terms++;
        }
      }
      double expectedLoss = total / terms;
      assertEquals(expectedLoss, loss, 1e-5 * Math.abs(expectedLoss));
      double h0 = 0;
      for (double[] row : q) {
        for (double p : row) {
          h0 -= p > 0 ? p * Math.log(p) : 0;
        }
      }
      h0 /= 2 * B;
      assertEquals(h0, entropy, 1e-4 * Math.max(1, h0));
      assertEquals(expectedLoss - h0, kl, 1e-4 * Math.max(1, expectedLoss));
      for (int j = 0; j < k; j++) {
        double mean = 0;
        for (int row = 0; row < 2 * B; row++) {
          mean += teacherLogits[row * k + j];
        }
        mean /= 2 * B;
        double expected = 0.9 * oldCenter[j] + 0.1 * mean;
        assertEquals(expected, newCenter[j], 1e-6, "center[" + j + "]");
      }
    }
  }

  @Test
  void adamWAndEmaMatchHandComputationWithClipping() {
    checkAdamWAndEma(0.05); // small clip: clipping active on most tensors
  }

  @Test
  void adamWAndEmaMatchHandComputationWithoutClipping() {
    checkAdamWAndEma(0.0);
  }

  private void checkAdamWAndEma(double clip) {
    Setup s = Setup.of(clip);
    DinoConfig.Optim o = s.cfg.optim();
    try (Graph g = new Graph(); var h = new Holder(g, s.cfg); Session sess = new Session(g)) {
      DinoGraph dg = h.g;
      dg.initialize(sess, 3);
      List<Params.Param> trainable = dg.optimizer.trainable();
      Map<String, double[]> m = new HashMap<>();
      Map<String, double[]> v = new HashMap<>();
      int stepsAll = 0;
      int stepsLast = 0;
      boolean sawClip = false;
      float[] lrs = {2e-2f, 1e-2f, 5e-3f}; // large lr * wd so that decay is far above float noise
      float[] wds = {0.5f, 1.0f, 2.0f};
      float[] moms = {0.9f, 0.95f, 0.996f};
      boolean[] frozen = {true, false, false};
      for (int step = 0; step < 3; step++) {
        Map<String, float[]> before = GraphRunner.values(sess, dg.student);
        Map<String, float[]> teacherBefore = GraphRunner.values(sess, dg.teacher);
        List<float[]> grads = new ArrayList<>();
        try (var f = s.feed(dg, lrs[step], wds[step], moms[step], 0.04f, frozen[step], step)) {
          Session.Runner r = f.into(sess.runner(), dg).addTarget(dg.trainStep);
          for (Operand<TFloat32> gr : dg.gradients) {
            r.fetch(gr);
          }
          try (Result res = r.run()) {
            for (int i = 0; i < dg.gradients.size(); i++) {
              grads.add(GraphRunner.toArray((TFloat32) res.get(i)));
            }
          }
        }
        Map<String, float[]> after = GraphRunner.values(sess, dg.student);
        Map<String, float[]> teacherAfter = GraphRunner.values(sess, dg.teacher);
        stepsAll++;
        if (!frozen[step]) {
          stepsLast++;
        }
        for (int i = 0; i < trainable.size(); i++) {
          String name = trainable.get(i).spec().name();
          long[] shape = trainable.get(i).spec().shape();
          boolean last = name.startsWith("head.last_layer");
          float[] p0 = before.get(name);
          float[] p1 = after.get(name);
          if (last && frozen[step]) {
            assertArrayEquals(p0, p1, 0f, "frozen last layer must not move: " + name);
            continue;
          }
          double[] gr = toDouble(grads.get(i));
          if (clip > 0) {
            double norm = Math.sqrt(dot(gr, gr));
            double coef = clip / (norm + 1e-6);
            if (coef < 1) {
              sawClip = true;
              for (int j = 0; j < gr.length; j++) {
                gr[j] *= coef;
              }
            }
          }
          double[] mi = m.computeIfAbsent(name, n -> new double[p0.length]);
          double[] vi = v.computeIfAbsent(name, n -> new double[p0.length]);
          int t = last ? stepsLast : stepsAll;
          double bc1 = 1 - Math.pow(o.beta1(), t);
          double bc2 = 1 - Math.pow(o.beta2(), t);
          // the reference decays every tensor except biases and 1-D ones
          boolean decay = !name.endsWith(".bias") && shape.length > 1;
          for (int j = 0; j < p0.length; j++) {
            mi[j] = o.beta1() * mi[j] + (1 - o.beta1()) * gr[j];
            vi[j] = o.beta2() * vi[j] + (1 - o.beta2()) * gr[j] * gr[j];
            double p = p0[j];
            if (decay) {
              p *= 1 - (double) lrs[step] * wds[step];
            }
            p -= lrs[step] / bc1 * mi[j] / (Math.sqrt(vi[j]) / Math.sqrt(bc2) + o.eps());
            assertEquals(p, p1[j], 1e-6 + 1e-4 * Math.abs(p - p0[j]), name + "[" + j + "] step " + step);
          }
        }
        // weight_g is frozen at 1 by norm_last_layer
        for (float gval : after.get("head.last_layer.weight_g")) {
          assertEquals(1f, gval);
        }
        // EMA with the UPDATED student
        float mom = moms[step];
        for (String name : teacherBefore.keySet()) {
          float[] t0 = teacherBefore.get(name);
          float[] t1 = teacherAfter.get(name);
          float[] st = after.get(name);
          for (int j = 0; j < t0.length; j++) {
            float expected = t0[j] * mom + st[j] * (1f - mom);
            assertEquals(expected, t1[j], 1e-7f + 1e-6f * Math.abs(expected), "teacher " + name + "[" + j + "]");
          }
        }
      }
      assertEquals(clip > 0, sawClip, "clipping active iff clip > 0");
      assertEquals(3L, dg.globalStep(sess));
    }
  }

  /** Closes nothing itself; exists so try-with-resources can build the graph in order. */
  private record Holder(DinoGraph g) implements AutoCloseable {
    Holder(Graph graph, DinoConfig cfg) {
      this(new DinoGraph(graph, cfg));
    }

    @Override
    public void close() {}
  }

  static double[] softmax(double[] z) {
    double[] l = logSoftmax(z);
    double[] p = new double[z.length];
    for (int i = 0; i < z.length; i++) {
      p[i] = Math.exp(l[i]);
    }
    return p;
  }

  static double[] logSoftmax(double[] z) {
    double max = Double.NEGATIVE_INFINITY;
    for (double x : z) {
      max = Math.max(max, x);
    }
    double sum = 0;
    for (double x : z) {
      sum += Math.exp(x - max);
    }
    double lse = max + Math.log(sum);
    double[] out = new double[z.length];
    for (int i = 0; i < z.length; i++) {
      out[i] = z[i] - lse;
    }
    return out;
  }

  private static double[] toDouble(float[] x) {
    double[] d = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      d[i] = x[i];
    }
    return d;
  }

  private static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += a[i] * b[i];
    }
    return s;
  }

  private static double maxAbs(float[] x) {
    double m = 0;
    for (float v : x) {
      m = Math.max(m, Math.abs(v));
    }
    return m;
  }

  private static double std(float[] x) {
    double s = 0;
    double s2 = 0;
    for (float v : x) {
      s += v;
      s2 += v * v;
    }
    double mean = s / x.length;
    return Math.sqrt(s2 / x.length - mean * mean);
  }
}
