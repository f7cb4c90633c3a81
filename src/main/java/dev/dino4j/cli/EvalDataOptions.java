package dev.dino4j.cli;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.eval.EvalData;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** The labelled train/test data an evaluation command reads: shared options (a picocli mixin). */
final class EvalDataOptions {

  @Option(names = "--data", description = "Dataset location for both splits (IDX folder); same as --set data.path=PATH.")
  String data;

  @Option(names = "--train-data", description = "Location of the labelled training split (e.g. an image folder).")
  String trainData;

  @Option(names = "--test-data", description = "Location of the labelled test split.")
  String testData;

  @Option(names = "--set", description = "Override a key of the run's config, e.g. --set data.source=folder (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--limit-train", defaultValue = "0", description = "Use only the first N training images (0 = all).")
  int limitTrain;

  @Option(names = "--limit-test", defaultValue = "0", description = "Use only the first N test images (0 = all).")
  int limitTest;

  /** Config overrides: --data as data.path first, then every --set (which wins). */
  List<String> configOverrides() {
    List<String> all = new ArrayList<>();
    if (data != null && !data.isBlank()) {
      all.add("data.path=" + data);
    }
    all.addAll(overrides);
    return all;
  }

  void checkLimits() {
    if (limitTrain < 0 || limitTest < 0) {
      throw new IllegalArgumentException(
          "--limit-train/--limit-test must be >= 0, got " + limitTrain + "/" + limitTest);
    }
  }

  ImageDataset train(DinoConfig cfg) throws IOException {
    return EvalData.open(cfg, "train", trainData);
  }

  ImageDataset test(DinoConfig cfg) throws IOException {
    return EvalData.open(cfg, "test", testData);
  }
}
