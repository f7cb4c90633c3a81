package dev.dino4j.cli;

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
      "reports the best test top-1. Resumes from --output when run again with the same settings."
    })
final class LinearCommand implements Callable<Integer> {

  @Parameters(index = "0", paramLabel = "RUN_OR_CKPT", description = "Run directory or checkpoint folder.")
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






  @Mixin EvalDataOptions dataOptions;

  @Override
  public Integer call() throws Exception {
    if (cropScale.length != 2 || !(cropScale[0] > 0 && cropScale[0] <= cropScale[1] && cropScale[1] <= 1)) {
      throw new IllegalArgumentException("--crop-scale needs two values 0 < min <= max <= 1, got "
          + java.util.Arrays.toString(cropScale));
    }
    dataOptions.checkLimits();
    LinearProbe.Options opts = new LinearProbe.Options(epochs, batchSize, lr * batchSize / 256.0, momentum,
        weightDecay, seed);
    Backbones.Loaded net = Backbones.fromCheckpoint(run, network, dataOptions.configOverrides());
    DinoConfig cfg = net.config();
    int n = lastBlocks != null ? lastBlocks : Math.min(4, cfg.model().depth());
    ImageDataset train = dataOptions.train(cfg);
    ImageDataset test = dataOptions.test(cfg);
    int size = cfg.augment().globalSize();
    Files.createDirectories(output);
    try (FeatureExtractor fx = new FeatureExtractor(cfg, net.weights(), new FeatureExtractor.Pooling(n, avgPool), size)) {
      Features testF = fx.extract(test, dataOptions.limitTest, EvalData.centre(cfg), 256, Progress.of("test features", 
          dataOptions.limitTest > 0 ? Math.min(dataOptions.limitTest, test.size()) : test.size()));
      int count = dataOptions.limitTrain > 0 ? Math.min(dataOptions.limitTrain, train.size()) : train.size();
      LinearProbe.Source src;
      if (noAugment) {
        src = LinearProbe.cached(fx.extract(train, count, EvalData.centre(cfg), 256, Progress.of("train features", count)));
      } else {
        src = augmented(fx, train, count, cfg, size);
      }
      String key = String.format(Locale.ROOT, "%s; blocks %d avgpool %b; augment %b crop %s; epochs %d batch %d lr %g"
          + " momentum %g wd %g seed %d; train %d test %d", net.description(), n, avgPool, !noAugment,
          java.util.Arrays.toString(cropScale), epochs, batchSize, opts.lr(), momentum, weightDecay, seed, count,
          testF.count());
      LinearProbe.Result r = LinearProbe.train(src, testF, opts, output, key, true);
      System.out.printf(Locale.ROOT, "linear probe, %s: %d-dim features (%d block(s)%s), %d epochs: best top-1 %.2f%%"
          + " (top-5 %.2f%%) at epoch %d, last top-1 %.2f%%%n", net.description(), fx.dim(), n,
          avgPool ? " + avgpool" : "", r.epochs(), r.bestTop1(), r.bestTop5(), r.bestEpoch(), r.lastTop1());
    }
    return 0;
  }

  /** Fresh random-resized-crop + flip views every epoch, through the frozen backbone. */
  private LinearProbe.Source augmented(FeatureExtractor fx, ImageDataset train, int count, DinoConfig cfg, int size) {
    float[] mean = cfg.data().mean();
    float[] std = cfg.data().std();
    return new LinearProbe.Source() {
      public int size() {
        return count;
      }

      public int dim() {
        return fx.dim();
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
        return fx.extract(train, indices, view, 256, Progress.QUIET).values();
      }
    };
  }
}
