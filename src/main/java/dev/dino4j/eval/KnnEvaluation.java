package dev.dino4j.eval;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.ImageDataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * One k-NN evaluation as the commands run it: features of a train and a test split (from a
 * network, or raw pixels), optionally cached as .npy in a folder, then {@link Knn}.
 */
public final class KnnEvaluation {

  private static final Logger LOG = LogManager.getLogger(KnnEvaluation.class);

  /** Where the features come from. */
  public enum Kind {
    /** The CLS output of a loaded (trained or freshly drawn) backbone. */
    NETWORK,
    /** Flattened pixels in [0, 1], the baseline of REFERENCE.md (84.6% on Fashion-MNIST). */
    PIXELS,
    /** Flattened pixels normalised with the training mean / std (a slightly stronger baseline). */
    PIXELS_NORMALISED,
    /** The embedding of an exported SavedModel's serving_default signature. */
    SAVED_MODEL
  }

  /** Timings of one evaluation, seconds. */
  public record Timing(double trainFeatures, double testFeatures, double knn) {}

  /** The outcome: results per k, feature width and timings. */
  public record Outcome(List<Knn.Result> results, int dim, int trainCount, int testCount, Timing timing) {}

  private KnnEvaluation() {}

  /**
   * Runs the protocol. {@code net} is null for the pixel kinds. {@code cacheDir} (may be
   * null) holds {@code <name>-<split>-features.npy} / {@code -labels.npy} plus a {@code .key} file
   * saying what they were computed from; matching files are reused.
   */
  public static Outcome run(Kind kind, Backbones.Loaded net, DinoConfig cfg, ImageDataset train, ImageDataset test,
      int limitTrain, int limitTest, int[] ks, double temperature, int batchSize, Path cacheDir, String name,
      boolean showProgress) throws IOException {
    long t0 = System.nanoTime();
    FeatureExtractor fx = kind == Kind.NETWORK
        ? new FeatureExtractor(net.config(), net.weights(), FeatureExtractor.Pooling.CLS, cfg.augment().globalSize())
        : null;
    SavedModelFeatures sm = kind == Kind.SAVED_MODEL ? SavedModelFeatures.open(net.savedModel()) : null;
    try {
      Features tr = features(fx, sm, kind, cfg, train, limitTrain, batchSize, cacheDir, name + "-train",
          key(kind, net, cfg, train, limitTrain), showProgress);
      long t1 = System.nanoTime();
      Features te = features(fx, sm, kind, cfg, test, limitTest, batchSize, cacheDir, name + "-test",
          key(kind, net, cfg, test, limitTest), showProgress);
      long t2 = System.nanoTime();
      Progress p = showProgress ? Progress.of("k-NN", te.count()) : Progress.QUIET;
      List<Knn.Result> results = Knn.evaluate(tr, te, ks, temperature, p);
      long t3 = System.nanoTime();
      return new Outcome(results, tr.dim(), tr.count(), te.count(),
          new Timing((t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9));
    } finally {
      if (fx != null) {
        fx.close();
      }
      if (sm != null) {
        sm.close();
      }
    }
  }

  private static String key(Kind kind, Backbones.Loaded net, DinoConfig cfg, ImageDataset data, int limit) {
    int n = limit > 0 ? Math.min(limit, data.size()) : data.size();
    return "features=" + (kind == Kind.NETWORK || kind == Kind.SAVED_MODEL ? net.description() : kind.name().toLowerCase(java.util.Locale.ROOT)) + "\nimages=" + data.describe(0)
        + "\ncount=" + n + "\nsize=" + cfg.augment().globalSize() + "\nmean=" + java.util.Arrays.toString(cfg.data().mean())
        + "\nstd=" + java.util.Arrays.toString(cfg.data().std()) + "\n";
  }

  private static Features features(FeatureExtractor fx, SavedModelFeatures sm, Kind kind, DinoConfig cfg, ImageDataset data, int limit, int batch,
      Path cacheDir, String prefix, String key, boolean showProgress) throws IOException {
    Path keyFile = cacheDir == null ? null : cacheDir.resolve(prefix + ".key");
    if (cacheDir != null && Features.exists(cacheDir, prefix) && Files.isRegularFile(keyFile)
        && Files.readString(keyFile).equals(key)) {
      LOG.info("reusing features {}/{}-features.npy", cacheDir, prefix);
      return Features.load(cacheDir, prefix);
    }
    int n = limit > 0 ? Math.min(limit, data.size()) : data.size();
    Progress p = showProgress ? Progress.of(prefix, n) : Progress.QUIET;
    Features f = sm != null ? sm.extract(data, limit, batch, p)
        : fx == null ? EvalData.pixels(data, limit, cfg, kind == Kind.PIXELS_NORMALISED, p)
        : fx.extract(data, limit, EvalData.centre(cfg), batch, p);
    if (cacheDir != null) {
      f.save(cacheDir, prefix);
      Files.writeString(keyFile, key);
      LOG.info("saved features {}/{}-features.npy [{}, {}]", cacheDir, prefix, f.count(), f.dim());
    }
    return f;
  }
}
