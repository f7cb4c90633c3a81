package dev.dino4j.eval;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.model.Weights;
import java.io.IOException;

/**
 * k-NN during training: the trainer hands over the teacher's current weights every few epochs and
 * gets 20-NN top-1 / top-5 on a held-out labelled split back, so users watch accuracy rise. The
 * datasets are opened once; each call builds a small feature graph, extracts the (limited) train
 * and test features and votes. With 10k train / 2k test images and the tiny recipe's model this
 * takes a few seconds next to an 18-minute epoch.
 */
public final class KnnMonitor {

  private final DinoConfig cfg;
  private final ImageDataset train;
  private final ImageDataset test;
  private final int trainLimit;
  private final int testLimit;
  private final int k;
  private final double temperature;

  public KnnMonitor(DinoConfig cfg, ImageDataset train, ImageDataset test, int trainLimit, int testLimit, int k,
      double temperature) {
    this.cfg = cfg;
    this.train = train;
    this.test = test;
    this.trainLimit = trainLimit;
    this.testLimit = testLimit;
    this.k = k;
    this.temperature = temperature;
  }

  /**
   * A monitor on the config's own dataset: its {@code train} split as the memory bank, its
   * {@code test} split as queries (both must be labelled).
   */
  public static KnnMonitor forConfig(DinoConfig cfg, int trainLimit, int testLimit) throws IOException {
    return new KnnMonitor(cfg, EvalData.open(cfg, "train", null), EvalData.open(cfg, "test", null), trainLimit,
        testLimit, 20, Knn.DEFAULT_TEMPERATURE);
  }

  /** k-NN accuracy (percent) of the backbone {@code weights} (e.g. the teacher just checkpointed). */
  public Knn.Result evaluate(Weights weights) {
    try (FeatureExtractor fx = new FeatureExtractor(cfg, weights, FeatureExtractor.Pooling.CLS,
        cfg.augment().globalSize())) {
      FeatureExtractor.View view = EvalData.centre(cfg);
      Features tr = fx.extract(train, trainLimit, view, 256, Progress.QUIET);
      Features te = fx.extract(test, testLimit, view, 256, Progress.QUIET);
      return Knn.evaluate(tr, te, new int[] {k}, temperature, Progress.QUIET).get(0);
    }
  }
}
