package dev.dino4j.eval;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.ParamSpec;
import dev.dino4j.model.VisionTransformer;
import dev.dino4j.model.Weights;
import dev.dino4j.train.CheckpointWeights;
import dev.dino4j.train.Checkpoints;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/** Where evaluated backbones come from: a training checkpoint, or a fresh initialisation. */
public final class Backbones {

  /**
   * A backbone: its weights, or for an export the SavedModel folder (weights null), the config it
   * was trained (or drawn) with, and a name for tables.
   */
  public record Loaded(DinoConfig config, Weights weights, String description, Path savedModel) {
    public Loaded(DinoConfig config, Weights weights, String description) {
      this(config, weights, description, null);
    }
  }

  /** An exported SavedModel (version folder, or model folder: highest version). */
  public static Loaded fromSavedModel(Path dir) throws java.io.IOException {
    try (SavedModelFeatures sm = SavedModelFeatures.open(dir)) {
      return new Loaded(sm.config(), null, "SavedModel " + sm.dir(), sm.dir());
    }
  }

  private Backbones() {}

  /**
   * The {@code network} ("teacher" or "student") of a run directory's latest checkpoint or of a
   * checkpoint folder; the stored config with {@code overrides} (e.g. {@code data.path=...})
   * applied.
   */
  public static Loaded fromCheckpoint(Path runOrCheckpoint, String network, List<String> overrides) {
    if (!"teacher".equals(network) && !"student".equals(network)) {
      throw new IllegalArgumentException("--network '" + network + "' is not one of teacher, student");
    }
    CheckpointWeights.Source src = CheckpointWeights.resolve(runOrCheckpoint);
    DinoConfig cfg = overrides.isEmpty() ? src.config()
        : ConfigLoader.fromYaml(Checkpoints.config(src.checkpoint()), overrides);
    Weights w = CheckpointWeights.read(src.checkpoint(), cfg, network);
    return new Loaded(cfg, w, network + " of " + src.checkpoint());
  }

  /** The config stored with a run's latest checkpoint (or a checkpoint folder's), with overrides. */
  public static DinoConfig configOf(Path runOrCheckpoint, List<String> overrides) {
    CheckpointWeights.Source src = CheckpointWeights.resolve(runOrCheckpoint);
    return overrides.isEmpty() ? src.config() : ConfigLoader.fromYaml(Checkpoints.config(src.checkpoint()), overrides);
  }

  /**
   * The backbone as training would start it: drawn from {@code train.seed} with the reference
   * init, in the same order as the trainer's student (the backbone's parameters come first), so
   * these are exactly the weights of step 0.
   */
  public static Loaded randomInit(DinoConfig cfg) {
    VisionTransformer.Dims dims = VisionTransformer.Dims.of(cfg.model(), cfg.augment().globalSize());
    Random rng = new Random(cfg.train().seed());
    Weights w = new Weights();
    for (ParamSpec spec : VisionTransformer.params(dims)) {
      float[] values = new float[spec.size()];
      spec.init().fill(values, rng);
      w.put(spec.name(), spec.shape(), values);
    }
    return new Loaded(cfg, w, "random init (seed " + cfg.train().seed() + ")");
  }
}
