package dev.dino4j.cli;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.train.Trainer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code dino4j train}: trains (or resumes) a DINO run described by a YAML recipe. */
@Command(
    name = "train",
    mixinStandardHelpOptions = true,
    description = {
      "Train a ViT with DINO. Starting again with the same train.output_dir resumes from its last checkpoint.",
      "Ctrl-C writes a checkpoint and stops; run the same command to continue."
    })
final class TrainCommand implements Callable<Integer> {

  @Option(names = {"-c", "--config"}, description = "YAML recipe (default: configs/fmnist-tiny.yaml).",
      defaultValue = "configs/fmnist-tiny.yaml")
  Path config;

  @Option(names = "--data", description = "Dataset location; same as --set data.path=PATH.")
  String data;

  @Option(names = {"-o", "--output"}, description = "Run directory; same as --set train.output_dir=DIR.")
  String output;

  @Option(names = "--set", description = "Override a config key, e.g. --set train.epochs=5 (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    List<String> all = new ArrayList<>();
    if (data != null && !data.isBlank()) {
      all.add("data.path=" + data);
    }
    if (output != null && !output.isBlank()) {
      all.add("train.output_dir=" + output);
    }
    all.addAll(overrides); // explicit --set wins over the shorthands
    DinoConfig cfg = ConfigLoader.load(config, all);
    // The run directory keeps the image index, so a restart does not walk the tree again.
    ImageDataset dataset = ImageDataset.open(cfg.data(), Path.of(cfg.train().outputDir()));
    Trainer.Outcome outcome = new Trainer(cfg, dataset).run();
    return outcome.interrupted() ? 130 : 0;
  }
}
