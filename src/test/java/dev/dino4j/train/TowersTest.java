package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.ConfigException;
import dev.dino4j.config.DinoConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;

/**
 * train.towers: the batch split into equal chains inside one graph is the same step as one chain
 * (stochastic depth included), and the session runs the towers side by side on one thread each.
 */
class TowersTest {

  static final int B = 4;

  private static DinoConfig withTowers(DinoConfig c, int threads, int towers) {
    return with(c, threads, towers, c.train().kernels());
  }

  /** c with batch {@link #B}, these threads, towers and train.kernels. */
  static DinoConfig with(DinoConfig c, int threads, int towers, String kernels) {
    DinoConfig.Train t = c.train();
    return new DinoConfig(c.data(), c.augment(), c.model(), c.head(), c.loss(), c.optim(),
        new DinoConfig.Train(t.epochs(), B, t.seed(), t.stepsPerEpoch(), t.outputDir(), t.logEvery(),
            t.saveEvery(), t.precision(), threads, towers, kernels),
        c.eval());
  }

  /** Per step: loss, entropy, the logits in the worker's view-major order; then every variable. */
  static List<float[]> run(DinoConfig cfg, int steps) {
    DinoConfig.Augment a = cfg.augment();
    float[] globals = GraphRunner.gaussian(2L * B * a.globalSize() * a.globalSize() * 3, 21);
    float[] locals = GraphRunner.gaussian((long) a.localCrops() * B * a.localSize() * a.localSize() * 3, 22);
    List<float[]> out = new ArrayList<>();
    try (Graph g = new Graph()) {
      DinoGraph dg = new DinoGraph(g, cfg);
      assertEquals(SessionOptions.towers(cfg.train(), B), dg.towers);
      try (Session s = new Session(g, SessionOptions.of(cfg.train()))) {
        dg.initialize(s, 3);
        for (int step = 0; step < steps; step++) {
          try (var f = GraphRunner.Feed.of(dg, globals, locals, B, a.globalSize(), a.localSize(), 2e-3f, 0.04f,
                  0.99f, 0.04f, false, step);
              Result r = f.into(s.runner(), dg).addTarget(dg.trainStep).fetch(dg.loss).fetch(dg.teacherEntropy)
                  .fetch(dg.studentLogits).fetch(dg.teacherLogits).run()) {
            for (int i = 0; i < 4; i++) {
              out.add(GraphRunner.toArray((TFloat32) r.get(i)));
            }
          }
        }
        List<Operand<TFloat32>> state = new ArrayList<>();
        state.add(dg.center);
        if (dg.ibotCenter != null) {
          state.add(dg.ibotCenter);
        }
        out.addAll(GraphRunner.fetch(s, state));
        for (Map<String, float[]> vars : List.of(GraphRunner.values(s, dg.student), GraphRunner.values(s, dg.teacher))) {
          out.addAll(vars.values());
        }
      }
    }
    return out;
  }

  @Test
  void twoTowersTakeTheSameStepsAsOneChain() {
    // drop path on, two local crops: the towers must draw the masks one chain would and keep
    // each view's samples in order
    assertTowersTakeTheSameSteps(TestConfigs.tiny(2, 0.2, 3.0, "unused"));
  }

  @Test
  void twoTowersTakeTheSameStepsWithKoLeoAndSinkhorn() {
    // both are over the worker's whole batch: the towers' rows must meet in one Sinkhorn-Knopp and
    // one nearest-neighbour search per view, not one per tower
    DinoConfig c = TestConfigs.tiny(2, 0.2, 3.0, "unused");
    DinoConfig.Loss l = c.loss();
    DinoConfig v2 = new DinoConfig(c.data(), c.augment(), c.model(), c.head(),
        new DinoConfig.Loss(l.studentTemp(), l.teacherTemp(), l.warmupTeacherTemp(), l.warmupTeacherTempEpochs(),
            l.centerMomentum(), 0.1, "sinkhorn", 3),
        c.optim(), c.train(), c.eval());
    assertTowersTakeTheSameSteps(v2);
  }

  @Test
  void twoTowersTakeTheSameStepsWithIbot() {
    // iBOT: each tower gathers its own views' masked patches; the center pools them by sums and
    // counts (towers hold different numbers of masked patches), the loss is the towers' mean
    assertTowersTakeTheSameSteps(TestConfigs.tinyIbot(2, 0.2, 3.0, "unused", 0.1));
  }

  @Test
  void twoTowersTakeTheSameStepsWithASeparateIbotHead() {
    DinoConfig c = TestConfigs.tinyIbot(2, 0.2, 3.0, "unused", 0.0);
    DinoConfig.Loss l = c.loss();
    DinoConfig.Loss sep = new DinoConfig.Loss(l.studentTemp(), l.teacherTemp(), l.warmupTeacherTemp(),
        l.warmupTeacherTempEpochs(), l.centerMomentum(), 0.0, "ema", 3, 1.0, 0.1, 0.5, 0.5, true, 16);
    assertTowersTakeTheSameSteps(new DinoConfig(c.data(), c.augment(), c.model(), c.head(), sep, c.optim(), c.train(),
        c.eval()));
  }

  private static void assertTowersTakeTheSameSteps(DinoConfig base) {
    List<float[]> one = run(withTowers(base, 1, 1), 3);
    List<float[]> two = run(withTowers(base, 2, 2), 3);
    assertEquals(one.size(), two.size());
    // names of the tensors after the 12 per-step ones: center, then student and teacher in graph order
    List<String> names = new ArrayList<>(java.util.Collections.nCopies(12, "step output"));
    names.add("center");
    if (base.loss().ibot()) {
      names.add("ibot_center");
    }
    for (String scope : List.of("student", "teacher")) {
      CheckpointWeights.specs(base).forEach(p -> names.add(scope + "/" + p.name()));
      if (base.loss().ibot()) {
        names.add(scope + "/mask_token");
        dev.dino4j.model.DinoHead.ibotHeadParams(base).forEach(p -> names.add(scope + "/" + p.name()));
      }
    }
    assertEquals(one.size(), names.size());
    int dim = base.model().embedDim();
    for (int i = 0; i < one.size(); i++) {
      float[] x = one.get(i);
      float[] y = two.get(i);
      assertEquals(x.length, y.length, "tensor " + i);
      // the key third of a qkv bias has a true gradient of 0 (softmax ignores a per-row shift), so
      // what it gets is float noise, which Adam turns into steps of up to lr: its difference between
      // two summation orders is noise by construction (docs/parity.md); it is bounded by one step
      boolean qkvBias = names.get(i).endsWith("attn.qkv.bias");
      double scale = 0;
      double diff = 0;
      int at = -1;
      for (int j = 0; j < x.length; j++) {
        if (qkvBias && j >= dim && j < 2 * dim) {
          assertTrue(Math.abs(x[j] - y[j]) <= 2e-3 * 3, names.get(i) + " key bias " + j + ": " + Math.abs(x[j] - y[j]));
          continue;
        }
        scale = Math.max(scale, Math.abs(x[j]));
        if (Math.abs(x[j] - y[j]) > diff) {
          diff = Math.abs(x[j] - y[j]);
          at = j;
        }
      }
      // float sums in another order: ~1e-7 relative; AdamW then scales every update to ~lr
      // (2e-3) whatever the gradient's size, so a weight whose gradient is near float noise may
      // move by up to a percent of one update differently
      assertTrue(diff <= 1e-4 * Math.max(scale, 1e-3) + 2e-5, "tensor " + i + " (" + names.get(i) + "): max diff " + diff + " (element " + at + " of " + x.length
          + ") at scale " + scale);
      if (Boolean.getBoolean("towers.print")) {
        System.out.printf("tensor %d: max diff %.2e at scale %.2e%n", i, diff, scale);
      }
    }
    // and the weights did move, so the comparison means something: the state after 3 steps
    // (from index 12 on: center, student, teacher) against the initial state
    List<float[]> init = run(withTowers(base, 1, 1), 0);
    double moved = 0;
    for (int i = 1; i < init.size(); i++) {
      for (int j = 0; j < init.get(i).length; j++) {
        moved = Math.max(moved, Math.abs(init.get(i)[j] - one.get(12 + i)[j]));
      }
    }
    assertTrue(moved > 1e-3, "largest weight change " + moved);
  }

  @Test
  void autoSplitsIntoOneTowerPerCoreOfAtLeast16Samples() {
    DinoConfig.Train t = new DinoConfig.Train(1, 64, 0, 0, "runs/x", 1, 0, "fp32", 2, 0, "auto");
    assertEquals(2, SessionOptions.towers(t, 64));
    assertEquals(1, SessionOptions.towers(t, 31), "16 + 15: no equal split of at least 16");
    assertEquals(1, SessionOptions.towers(t, 16));
    DinoConfig.Train four = new DinoConfig.Train(1, 96, 0, 0, "runs/x", 1, 0, "fp32", 4, 0, "auto");
    assertEquals(3, SessionOptions.towers(four, 48), "4 does not divide 48 into parts of >= 16; 3 does");
    DinoConfig.Train one = new DinoConfig.Train(1, 64, 0, 0, "runs/x", 1, 0, "fp32", 1, 0, "auto");
    assertEquals(1, SessionOptions.towers(one, 64), "one thread: one tower");
  }

  @Test
  void explicitTowersMustDivideTheProcessBatch() {
    DinoConfig.Train t = new DinoConfig.Train(1, 64, 0, 0, "runs/x", 1, 0, "fp32", 0, 3, "auto");
    ConfigException e = assertThrows(ConfigException.class, () -> SessionOptions.towers(t, 64));
    assertEquals(List.of("train.towers"), e.keys());
    assertTrue(e.getMessage().contains("64"), e.getMessage());
    assertEquals(4, SessionOptions.towers(new DinoConfig.Train(1, 64, 0, 0, "runs/x", 1, 0, "fp32", 0, 4, "auto"), 64));
  }

  @Test
  void towersRunSideBySideOnOneThreadEach() {
    ConfigProto p = SessionOptions.of(new DinoConfig.Train(1, 64, 0, 0, "runs/x", 1, 0, "fp32", 4, 2, "auto"));
    assertEquals(2, p.getIntraOpParallelismThreads(), "4 threads over 2 towers");
    assertEquals(2, p.getInterOpParallelismThreads());
    ConfigProto single = SessionOptions.of(new DinoConfig.Train(1, 64, 0, 0, "runs/x", 1, 0, "fp32", 2, 1, "auto"));
    assertEquals(2, single.getIntraOpParallelismThreads());
    assertEquals(1, single.getInterOpParallelismThreads());
  }
}
