package dev.dino4j.cli;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.eval.Backbones;
import dev.dino4j.eval.Knn;
import dev.dino4j.eval.KnnEvaluation;
import dev.dino4j.eval.SavedModelFeatures;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dino4j knn}: weighted k-NN accuracy of frozen features, the DINO protocol. */
@Command(
    name = "knn",
    mixinStandardHelpOptions = true,
    description = {
      "k-NN evaluation (DINO protocol): L2-normalised CLS features of a labelled train and test split,",
      "cosine top-k, votes weighted exp(sim / T), top-1 and top-5 per k.",
      "Data: the run's dataset (its config) with split train / test, unless --data/--train-data/--test-data say otherwise."
    })
final class KnnCommand implements Callable<Integer> {

  @Parameters(index = "0", arity = "0..1", paramLabel = "RUN_OR_CKPT",
      description = "Run directory (its latest checkpoint), checkpoint folder, or SavedModel (version folder, or model folder: highest version). Not needed with --features pixels.")
  Path run;

  @Option(names = "--network", defaultValue = "teacher",
      description = "teacher (the reference protocol: the EMA network) or student. Default: ${DEFAULT-VALUE}.")
  String network;

  @Option(names = "--features", defaultValue = "cls",
      description = "cls (the network's CLS output), pixels (flattened pixels in [0, 1]: the baseline every"
          + " learned feature must beat), pixels-normalised (the same with the training mean/std) or random (the same network freshly initialised from the config's"
          + " train.seed: what training adds). Default: ${DEFAULT-VALUE}.")
  String features;

  @Option(names = {"-c", "--config"}, description = "Config for data and model when no RUN_OR_CKPT is given"
      + " (pixels, random). Default: configs/fmnist-tiny.yaml.")
  Path config;




  @Option(names = "--k", defaultValue = "10,20,100,200", description = "Neighbour counts, comma-separated. Default: ${DEFAULT-VALUE}.")
  String ks;

  @Option(names = "--temperature", defaultValue = "0.07", description = "Vote temperature T. Default: ${DEFAULT-VALUE}.")
  double temperature;

  @Option(names = "--features-dir", description = "Save the features as .npy here, and reuse them when they match.")
  Path featuresDir;



  @Option(names = "--batch-size", defaultValue = "256", description = "Images per forward pass. Default: ${DEFAULT-VALUE}.")
  int batchSize;

  @Mixin EvalDataOptions dataOptions;

  @Override
  public Integer call() throws Exception {
    int[] kList = Knn.parseKs(ks);
    check();
    Setup s = setup(run, config, network, features, dataOptions.configOverrides());
    ImageDataset train = dataOptions.train(s.cfg());
    ImageDataset test = dataOptions.test(s.cfg());
    KnnEvaluation.Outcome o = KnnEvaluation.run(s.kind(), s.net(), s.cfg(), train, test, dataOptions.limitTrain,
        dataOptions.limitTest,
        kList, temperature, batchSize, featuresDir, s.name(), true);
    System.out.print(Knn.table(String.format(Locale.ROOT,
        "k-NN, %s: %d-dim features, %d train / %d test images, T = %s (features %.1f s + %.1f s, k-NN %.1f s)",
        s.title(), o.dim(), o.trainCount(), o.testCount(), temperature, o.timing().trainFeatures(),
        o.timing().testFeatures(), o.timing().knn()), o.results()));
    return 0;
  }

  private void check() {
    if (!(temperature > 0)) {
      throw new IllegalArgumentException("--temperature must be > 0, got " + temperature);
    }
    dataOptions.checkLimits();
    if (batchSize < 1) {
      throw new IllegalArgumentException("--batch-size must be >= 1, got " + batchSize);
    }
  }

  /** What to evaluate: the features' kind, the network (null for pixels), the config, names. */
  record Setup(KnnEvaluation.Kind kind, Backbones.Loaded net, DinoConfig cfg, String name, String title) {}

  static Setup setup(Path run, Path config, String network, String features, List<String> all) {
    switch (features) {
      case "cls": {
        if (run == null) {
          throw new IllegalArgumentException(
              "--features cls needs RUN_OR_CKPT (a run directory, checkpoint folder or SavedModel)");
        }
        if (SavedModelFeatures.locate(run).isPresent()) {
          Backbones.Loaded sm;
          try {
            sm = Backbones.fromSavedModel(run);
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e.getMessage(), e);
          }
          DinoConfig cfg = all.isEmpty() ? sm.config()
              : ConfigLoader.fromYaml(ConfigLoader.toJson(sm.config()), all);
          return new Setup(KnnEvaluation.Kind.SAVED_MODEL, sm, cfg, "savedmodel", sm.description());
        }
        Backbones.Loaded net = Backbones.fromCheckpoint(run, network, all);
        return new Setup(KnnEvaluation.Kind.NETWORK, net, net.config(), network, net.description());
      }
      case "pixels":
      case "pixels-normalised":
      case "random": {
        DinoConfig cfg = run != null ? Backbones.configOf(run, all)
            : ConfigLoader.load(config != null ? config : Path.of("configs/fmnist-tiny.yaml"), all);
        if (features.equals("pixels")) {
          return new Setup(KnnEvaluation.Kind.PIXELS, null, cfg, "pixels", "raw pixels in [0, 1]");
        }
        if (features.equals("pixels-normalised")) {
          return new Setup(KnnEvaluation.Kind.PIXELS_NORMALISED, null, cfg, "pixels-normalised",
              "pixels normalised with the training mean/std");
        }
        Backbones.Loaded net = Backbones.randomInit(cfg);
        return new Setup(KnnEvaluation.Kind.NETWORK, net, cfg, "random", net.description());
      }
      default:
        throw new IllegalArgumentException("--features '" + features + "' is not one of cls, pixels, pixels-normalised, random");
    }
  }
}
