package dev.dino4j.cli;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.train.Cluster;
import dev.dino4j.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code dino4j train}: trains (or resumes) a DINO run described by a YAML recipe. */
@Command(
    name = "train",
    mixinStandardHelpOptions = true,
    description = {
      "Train a ViT with DINO. Starting again with the same train.output_dir resumes from its last checkpoint.",
      "Ctrl-C writes a checkpoint and stops; run the same command to continue.",
      "Data-parallel on several workers: start one process per worker with --cluster FILE --task N (or TF_CONFIG);",
      "train.batch_size is then the global batch, split evenly over the workers."
    })
final class TrainCommand implements Callable<Integer> {

  @Option(names = {"-c", "--config"}, description = "YAML recipe (default: configs/fmnist-tiny.yaml).",
      defaultValue = "configs/fmnist-tiny.yaml")
  Path config;

  @Option(names = "--data", description = "Dataset location; same as --set data.path=PATH, plus data.source ="
      + " folder / list / cifar10 when the recipe's source is fashion-mnist and PATH is an image folder, a list file"
      + " or CIFAR-10 batches (an explicit --set data.source wins).")
  String data;

  @Option(names = {"-o", "--output"}, description = "Run directory; same as --set train.output_dir=DIR.")
  String output;

  @Option(names = "--set", description = "Override a config key, e.g. --set train.epochs=5 (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--cluster", description = "Cluster file (YAML: workers: [host:port, ...], optional "
      + "collective_timeout_s, startup_timeout_s): synchronous data-parallel training, one process per worker. "
      + "Without it, the TF_CONFIG environment variable is used when set.")
  Path cluster;

  @Option(names = "--task", description = "This process's worker index in --cluster (0 = the chief, which writes "
      + "checkpoints and metrics).")
  Integer task;

  @Override
  public Integer call() throws Exception {
    List<String> all = new ArrayList<>();
    if (data != null && !data.isBlank()) {
      all.add("data.path=" + data);
      // `make train DATA=/photos` with the default recipe should read the photos, not look for IDX files there.
      String source = inferSource(Path.of(data));
      if (source != null && ConfigLoader.load(config, List.of()).data().source().equals("fashion-mnist")) {
        all.add("data.source=" + source);
      }
    }
    if (output != null && !output.isBlank()) {
      all.add("train.output_dir=" + output);
    }
    all.addAll(overrides); // explicit --set wins over the shorthands
    DinoConfig cfg = ConfigLoader.load(config, all);
    Cluster workers = cluster();
    // The run directory keeps the image index, so a restart does not walk the tree again (one per
    // worker: workers on one machine share the run directory).
    Path runDir = Path.of(cfg.train().outputDir());
    ImageDataset dataset = ImageDataset.open(cfg.data(), workers.chief() ? runDir : runDir.resolve("worker" + workers.task()));
    Trainer.Outcome outcome = new Trainer(cfg, dataset, workers).run();
    return outcome.interrupted() ? 130 : 0;
  }

  /** The source a --data path looks like: cifar10, list (a file), folder, or null (IDX files, or unknown). */
  static String inferSource(Path p) {
    if (Files.isRegularFile(p)) {
      return "list";
    }
    if (!Files.isDirectory(p)) {
      return null;
    }
    if (Files.exists(p.resolve("data_batch_1.bin")) || Files.exists(p.resolve("cifar-10-batches-bin"))) {
      return "cifar10";
    }
    try (Stream<Path> s = Files.list(p)) {
      return s.anyMatch(f -> f.getFileName().toString().contains("idx") && f.getFileName().toString().contains("ubyte"))
          ? null : "folder";
    } catch (IOException e) {
      return null;
    }
  }

  private Cluster cluster() {
    String tfConfig = System.getenv("TF_CONFIG");
    if (cluster != null) {
      if (task == null) {
        throw new IllegalArgumentException("--cluster needs --task N: which worker of " + cluster + " this process is");
      }
      return Cluster.fromYaml(cluster, task);
    }
    if (task != null) {
      throw new IllegalArgumentException("--task needs --cluster FILE");
    }
    if (tfConfig != null && !tfConfig.isBlank()) {
      return Cluster.fromTfConfig(tfConfig);
    }
    return Cluster.single();
  }
}
