package dev.dino4j.export;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.ParamSpec;
import dev.dino4j.model.VisionTransformer;
import dev.dino4j.model.Weights;
import dev.dino4j.train.CheckpointWeights;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** A tiny config and random weights for export tests. */
public final class ExportFixtures {

  private ExportFixtures() {}

  /** ViT dim 16, depth 2, heads 2, patch 4 on 16-px global crops (4 x 4 native grid), K = 32. */
  public static DinoConfig tiny(Path runDir, String... extra) {
    List<String> o = new ArrayList<>(List.of(
        "model.arch=custom", "model.patch_size=4", "model.embed_dim=16", "model.depth=2", "model.heads=2",
        "augment.global_size=16", "augment.local_size=8", "augment.local_crops=2",
        "head.out_dim=32", "head.hidden_dim=24", "head.bottleneck_dim=8",
        "data.mean=[0.3,0.4,0.5]", "data.std=[0.2,0.25,0.3]",
        "train.batch_size=4", "train.epochs=1", "optim.warmup_epochs=0", "optim.freeze_last_layer=0", "train.output_dir=" + runDir));
    o.addAll(List.of(extra));
    return ConfigLoader.fromYaml("", o);
  }

  /** Random weights for every backbone and head parameter; larger than the init so every term matters. */
  public static Weights randomWeights(DinoConfig cfg, long seed) {
    Random r = new Random(seed);
    Weights w = new Weights();
    for (ParamSpec s : CheckpointWeights.specs(cfg)) {
      float[] v = new float[s.size()];
      boolean gain = s.name().endsWith("norm1.weight") || s.name().endsWith("norm2.weight") || s.name().equals("norm.weight");
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (r.nextGaussian() * 0.3) + (gain ? 1f : 0f);
      }
      w.put(s.name(), s.shape(), v);
    }
    return w;
  }

  /** Backbone weights only. */
  public static Weights backbone(DinoConfig cfg, Weights all) {
    Weights w = new Weights();
    VisionTransformer.Dims d = VisionTransformer.Dims.of(cfg.model(), cfg.augment().globalSize());
    for (ParamSpec s : VisionTransformer.params(d)) {
      w.put(s.name(), s.shape(), all.get(s.name()).values());
    }
    return w;
  }

  /** Uniform [0, 1) pixels [n, h, w, 3]. */
  public static float[] images(int n, int h, int w, long seed) {
    Random r = new Random(seed);
    float[] x = new float[n * h * w * 3];
    for (int i = 0; i < x.length; i++) {
      x[i] = r.nextFloat();
    }
    return x;
  }
}
