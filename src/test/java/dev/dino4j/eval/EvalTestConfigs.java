package dev.dino4j.eval;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;

/** A tiny evaluation config: ViT dim 16, depth 3, heads 2, patch 4 on 16-px globals. */
final class EvalTestConfigs {

  private EvalTestConfigs() {}

  static DinoConfig tiny(String outputDir) {
    return ConfigLoader.fromYaml(String.join("\n",
        "data: {source: fashion-mnist, mean: [0.286, 0.286, 0.286], std: [0.353, 0.353, 0.353]}",
        "augment: {global_size: 16, local_size: 8, local_crops: 2}",
        "model: {arch: custom, patch_size: 4, embed_dim: 16, depth: 3, heads: 2}",
        "head: {out_dim: 32, hidden_dim: 24, bottleneck_dim: 8}",
        "train: {output_dir: '" + outputDir + "', seed: 3}", ""), java.util.List.of());
  }
}
