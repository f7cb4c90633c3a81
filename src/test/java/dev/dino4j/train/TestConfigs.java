package dev.dino4j.train;

import dev.dino4j.config.DinoConfig;

/** Small hand-built configs for graph tests (independent of the YAML loader). */
final class TestConfigs {

  private TestConfigs() {}

  /** A ViT with dim 16, depth 2, heads 2, patch 4 on 8-px globals / 4-px locals, K = 32. */
  static DinoConfig tiny(int localCrops, double dropPath, double clip, int outDir) {
    return tiny(localCrops, dropPath, clip, "runs/test-" + outDir);
  }

  static DinoConfig tiny(int localCrops, double dropPath, double clip, String outDir) {
    return new DinoConfig(
        new DinoConfig.Data("fashion-mnist", "", "train", "auto", "skip", 89_478_485L, 1, 2,
            new float[] {0.5f, 0.5f, 0.5f}, new float[] {0.25f, 0.25f, 0.25f}),
        new DinoConfig.Augment(8, 4, localCrops, new double[] {0.4, 1.0}, new double[] {0.05, 0.4},
            0.5, 0.8, 0.4, 0.4, 0.2, 0.1, 0.2, 1.0, 0.1, 0.5, 0.1, 2.0, 0.2),
        new DinoConfig.Model("custom", 4, 16, 2, 2, 4.0, dropPath),
        new DinoConfig.Head(32, 24, 8, 3, true),
        new DinoConfig.Loss(0.1, 0.04, 0.04, 0, 0.9),
        new DinoConfig.Optim(0.0005, 1e-6, 1, 0.04, 0.4, clip, 1, 0.996, 0.9, 0.999, 1e-8),
        new DinoConfig.Train(2, 4, 0, 0, outDir, 1, 0, "fp32", 1, 1, "auto"),
        new DinoConfig.Eval(0, 20, 0.07, 0, 0));
  }

  /**
   * {@link #tiny} on 16-px globals (4 x 4 patches, so block masks of 1-8 patches fit) and 8-px
   * locals, with iBOT (weight 1, DINOv2's mask settings) and {@code koleo} on top of the DINO loss.
   */
  static DinoConfig tinyIbot(int localCrops, double dropPath, double clip, String outDir, double koleo) {
    DinoConfig c = tiny(localCrops, dropPath, clip, outDir);
    DinoConfig.Augment a = c.augment();
    DinoConfig.Augment a16 = new DinoConfig.Augment(16, 8, localCrops, a.globalScale(), a.localScale(),
        0.5, 0.8, 0.4, 0.4, 0.2, 0.1, 0.2, 1.0, 0.1, 0.5, 0.1, 2.0, 0.2);
    DinoConfig.Loss l = c.loss();
    DinoConfig.Loss ibot = new DinoConfig.Loss(l.studentTemp(), l.teacherTemp(), l.warmupTeacherTemp(),
        l.warmupTeacherTempEpochs(), l.centerMomentum(), koleo, "ema", 3, 1.0, 0.1, 0.5, 0.5, false, 0);
    return new DinoConfig(c.data(), a16, c.model(), c.head(), ibot, c.optim(), c.train(), c.eval());
  }
}
