package dev.dino4j.cli;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.export.SafetensorsWeights;
import dev.dino4j.train.CheckpointWeights;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code dino4j import}: a safetensors file of ViT (and optionally DINO head) weights becomes step
 * 0 of a new run, student and teacher both starting from them, so {@code dino4j train} continues
 * from it and {@code dino4j export} exports it.
 */
@Command(
    name = "import",
    mixinStandardHelpOptions = true,
    description = {
      "Import ViT/DINO weights from a safetensors file into a new run directory.",
      "Namings are detected: official DINO/timm (fused attn.qkv, optional module./backbone./student./teacher. "
          + "prefixes) or Hugging Face ViT (separate q/k/v, transformers 4.x and 5.x names).",
      "The architecture is checked against the config; every mismatch is listed."
    })
final class ImportCommand implements Callable<Integer> {

  /** DINO's full checkpoints hold both networks; these pick one. */
  enum Network { teacher, student }

  @Spec CommandSpec spec;

  @Parameters(index = "0", paramLabel = "WEIGHTS.safetensors", description = "The weights file.")
  Path weights;

  @Option(names = {"-c", "--config"}, required = true,
      description = "Recipe describing the model the weights belong to (and the training to continue with).")
  Path config;

  @Option(names = {"-o", "--output"}, required = true,
      description = "New run directory (must not hold a checkpoint yet); same as --set train.output_dir=DIR.")
  String output;

  @Option(names = "--backbone-only",
      description = "Import the ViT only; the DINO head starts from a fresh initialisation (train.seed).")
  boolean backboneOnly;

  @Option(names = "--network",
      description = "For files holding both networks (teacher.*/student.*): which one to import (default: teacher).")
  Network network;

  @Option(names = "--set", description = "Override a config key, e.g. --set augment.global_size=224 (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    List<String> all = new ArrayList<>(overrides);
    all.add("train.output_dir=" + output); // --output wins: the run directory is what this command makes
    DinoConfig cfg = ConfigLoader.load(config, all);
    SafetensorsWeights.Loaded loaded =
        SafetensorsWeights.load(weights, cfg, network == null ? null : network.name(), backboneOnly);
    Path ckpt = CheckpointWeights.writeRun(cfg, loaded.weights(), backboneOnly);
    Path runDir = Path.of(cfg.train().outputDir());
    // the resolved config next to the checkpoint: "train --config RUN/config.yaml" continues the run
    Files.writeString(runDir.resolve("config.yaml"), ConfigLoader.toYaml(cfg));
    PrintWriter out = spec.commandLine().getOut();
    out.printf("imported %d tensors (%s naming%s) from %s into %s%n", loaded.weights().size(),
        loaded.naming().cliName, backboneOnly ? ", backbone only; head freshly initialised" : "", weights, ckpt);
    for (String s : loaded.skipped()) {
      out.println("  skipped " + s);
    }
    // the names cannot tell an official DINO checkpoint from a timm one, so say which rule is in force
    out.printf(java.util.Locale.ROOT, "position embedding at other sizes: model.interpolate_offset = %s (0.1 reproduces "
        + "the official DINO / DINOv2 code's features, 0 timm's and Hugging Face's)%n", cfg.model().interpolateOffset());
    out.println("continue training with: dino4j train --config " + runDir.resolve("config.yaml"));
    out.flush();
    return 0;
  }
}
