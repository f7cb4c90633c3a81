package dev.dino4j.cli;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.EvalViews;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.eval.Backbones;
import dev.dino4j.eval.EvalData;
import dev.dino4j.eval.FeatureExtractor;
import dev.dino4j.eval.Features;
import dev.dino4j.eval.LinearProbe;
import dev.dino4j.eval.Progress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dino4j linear}: the linear evaluation protocol on a frozen backbone. */
@Command(
    name = "linear",
    mixinStandardHelpOptions = true,
    description = {
      "Linear probe (DINO protocol): a linear classifier on frozen features (CLS of the last n blocks,",
      "optionally average-pooled patch tokens), SGD momentum 0.9, cosine lr, train-time random-resized-crop + flip;",
      "reports the best test top-1. --features pixels / random: the same probe on the raw pixels / the network at",
      "random init. Resumes from --output when run again with the same settings."
    })
final class LinearCommand implements Callable<Integer> {

  @Parameters(index = "0", arity = "0..1", paramLabel = "RUN_OR_CKPT",
      description = "Run directory or checkpoint folder. Not needed with --features pixels or random (then --config).")
  Path run;

  @Option(names = {"-o", "--output"}, required = true, description = "Folder for checkpoints and linear.jsonl.")
  Path output;

  @Option(names = "--network", defaultValue = "teacher", description = "teacher or student. Default: ${DEFAULT-VALUE}.")
  String network;

  @Option(names = "--n-last-blocks", description = "Concatenate the CLS tokens of the last n blocks"
      + " (reference: 4 for ViT-S). Default: min(4, depth).")
  Integer lastBlocks;

  @Option(names = "--avgpool", description = "Append the average of the last block's patch tokens (reference: ViT-B).")
  boolean avgPool;

  @Option(names = "--epochs", defaultValue = "100", description = "Default: ${DEFAULT-VALUE} (the reference).")
  int epochs;

  @Option(names = "--batch-size", defaultValue = "256", description = "Default: ${DEFAULT-VALUE}.")
  int batchSize;

  @Option(names = "--lr", defaultValue = "0.001",
      description = "Peak lr at batch 256, scaled by batch / 256 (the reference's rule). Default: ${DEFAULT-VALUE}.")
  double lr;

  @Option(names = "--momentum", defaultValue = "0.9", description = "Default: ${DEFAULT-VALUE}.")
  double momentum;

  @Option(names = "--weight-decay", defaultValue = "0", description = "Default: ${DEFAULT-VALUE} (the reference).")
  double weightDecay;

  @Option(names = "--no-augment", description = "Train on features of the centre view computed once (fast) instead"
      + " of fresh random-resized-crop + flip views every epoch.")
  boolean noAugment;

  @Option(names = "--crop-scale", defaultValue = "0.08,1.0", split = ",",
      description = "Area range of the training random-resized crop. Default: ${DEFAULT-VALUE} (torchvision's).")
  double[] cropScale;

  @Option(names = "--seed", defaultValue = "0", description = "Classifier init, shuffling and crops. Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--features", defaultValue = "cls",
      description = "cls (the network's CLS tokens), random (the same network freshly initialised from the config's"
          + " train.seed: what training adds) or pixels (flattened pixels in [0, 1], with the same crops and flips:"
          + " the baseline). Default: ${DEFAULT-VALUE}.")
  String features;

  @Option(names = {"-c", "--config"}, description = "Config for data and model when no RUN_OR_CKPT is given"
      + " (pixels, random). Default: configs/fmnist-tiny.yaml.")
  Path config;

  @Mixin EvalDataOptions dataOptions;

  /** What a probe trains on: test features, training features per epoch, and names for the key and the report. */
  private record Probe(Features test, LinearProbe.Source train, int dim, String description, String layout) {}

  /** A finished probe: what it read and what it scored. */
  record Outcome(String description, int dim, String layout, LinearProbe.Result result) {}

  @Override
  public Integer call() throws Exception {
    Outcome o = probe();
    LinearProbe.Result r = o.result();
    System.out.printf(Locale.ROOT, "linear probe, %s: %d-dim features (%s), %s, %d epochs: best top-1 %.2f%%"
        + " (top-5 %.2f%%) at epoch %d, last top-1 %.2f%%%n", o.description(), o.dim(), o.layout(),
        noAugment ? "centre views cached" : "fresh crops + flips every epoch", r.epochs(), r.bestTop1(), r.bestTop5(),
        r.bestEpoch(), r.lastTop1());
    return 0;
  }

  /** Trains (or resumes) the probe the options describe; eval-benchmark --linear runs it too. */
  Outcome probe() throws Exception {
    if (cropScale.length != 2 || !(cropScale[0] > 0 && cropScale[0] <= cropScale[1] && cropScale[1] <= 1)) {
      throw new IllegalArgumentException("--crop-scale needs two values 0 < min <= max <= 1, got "
          + java.util.Arrays.toString(cropScale));
    }
    dataOptions.checkLimits();
    LinearProbe.Options opts = new LinearProbe.Options(epochs, batchSize, lr * batchSize / 256.0, momentum,
        weightDecay, seed);
    Backbones.Loaded net;
    DinoConfig cfg;
    switch (features) {
      case "cls" -> {
        if (run == null) {
          throw new IllegalArgumentException("--features cls needs RUN_OR_CKPT (a run directory or checkpoint folder)");
        }
        net = Backbones.fromCheckpoint(run, network, dataOptions.configOverrides());
        cfg = net.config();
      }
      case "random", "pixels" -> {
        List<String> all = dataOptions.configOverrides();
        cfg = run != null ? Backbones.configOf(run, all)
            : ConfigLoader.load(config != null ? config : Path.of("configs/fmnist-tiny.yaml"), all);
        net = features.equals("random") ? Backbones.randomInit(cfg) : null;
      }
      default -> throw new IllegalArgumentException("--features '" + features + "' is not one of cls, random, pixels");
    }
    ImageDataset train = dataOptions.train(cfg);
    ImageDataset test = dataOptions.test(cfg);
    int testCount = dataOptions.limitTest > 0 ? Math.min(dataOptions.limitTest, test.size()) : test.size();
    int count = dataOptions.limitTrain > 0 ? Math.min(dataOptions.limitTrain, train.size()) : train.size();
    Files.createDirectories(output);
    int n = lastBlocks != null ? lastBlocks : Math.min(4, cfg.model().depth());
    if (net == null) {
      return train(pixelProbe(cfg, train, test, count, testCount), opts, 0, count);
    }
    int size = cfg.augment().globalSize();
    try (FeatureExtractor fx = new FeatureExtractor(cfg, net.weights(), new FeatureExtractor.Pooling(n, avgPool), size)) {
      Features testF = fx.extract(test, dataOptions.limitTest, EvalData.centre(cfg), 256,
          Progress.of("test features", testCount));
      LinearProbe.Source src = noAugment
          ? LinearProbe.cached(fx.extract(train, count, EvalData.centre(cfg), 256, Progress.of("train features", count)))
          : augmented(train, count, fx.dim(), cfg, size, (indices, view) -> fx.extract(train, indices, view, 256,
              Progress.QUIET));
      String layout = String.format(Locale.ROOT, "%d block(s)%s", n, avgPool ? " + avgpool" : "");
      return train(new Probe(testF, src, fx.dim(), net.description(), layout), opts, n, count);
    }
  }

  /**
   * The raw-pixel baseline under the same protocol: the flattened pixels in [0, 1] at the
   * dataset's own size (Fashion-MNIST: 28 x 28 x 3), with the same random-resized crops and flips.
   */
  private Probe pixelProbe(DinoConfig cfg, ImageDataset train, ImageDataset test, int count, int testCount)
      throws java.io.IOException {
    int side = EvalData.pixelSide(train);
    Features testF = EvalData.pixels(test, dataOptions.limitTest, cfg, false, Progress.of("test pixels", testCount));
    float[] zero = new float[3];
    float[] one = {1f, 1f, 1f};
    LinearProbe.Source src = noAugment
        ? LinearProbe.cached(EvalData.pixels(train, count, cfg, false, Progress.of("train pixels", count)))
        : augmented(train, count, side * side * 3, cfg, side,
            (indices, view) -> EvalData.pixels(train, indices, view, side, Progress.QUIET), zero, one);
    return new Probe(testF, src, side * side * 3, "raw pixels in [0, 1]", side + " x " + side + " x 3 pixels");
  }

  private Outcome train(Probe p, LinearProbe.Options opts, int blocks, int count) throws java.io.IOException {
    // the cls key keeps the form older probe folders were written with, so they still resume
    String key = String.format(Locale.ROOT, "%s; blocks %d avgpool %b; augment %b crop %s; epochs %d batch %d lr %g"
        + " momentum %g wd %g seed %d; train %d test %d", p.description(), blocks, avgPool, !noAugment,
        java.util.Arrays.toString(cropScale), epochs, batchSize, opts.lr(), momentum, weightDecay, seed, count,
        p.test().count());
    return new Outcome(p.description(), p.dim(), p.layout(),
        LinearProbe.train(p.train(), p.test(), opts, output, key, true));
  }

  private LinearProbe.Source augmented(ImageDataset train, int count, int dim, DinoConfig cfg, int size,
      java.util.function.BiFunction<int[], FeatureExtractor.View, Features> extract) {
    return augmented(train, count, dim, cfg, size, extract, cfg.data().mean(), cfg.data().std());
  }

  /** Fresh random-resized-crop + flip views every epoch, through {@code extract} (the frozen backbone, or none). */
  private LinearProbe.Source augmented(ImageDataset train, int count, int dim, DinoConfig cfg, int size,
      java.util.function.BiFunction<int[], FeatureExtractor.View, Features> extract, float[] mean, float[] std) {
    return new LinearProbe.Source() {
      public int size() {
        return count;
      }

      public int dim() {
        return dim;
      }

      public int label(int index) {
        return train.label(index);
      }

      public int numClasses() {
        return train.numClasses();
      }

      public float[] features(int epoch, int[] indices) {
        // each view's randomness from (seed, epoch, image): the same crops after a resume
        FeatureExtractor.View view = (img, index, dst, off) -> EvalViews.randomCropFlip(img, size, cropScale[0],
            cropScale[1], new SplittableRandom((seed * 1_000_003L + epoch) * 1_000_000_007L + index), mean, std, dst, off);
        return extract.apply(indices, view).values();
      }
    };
  }
}
