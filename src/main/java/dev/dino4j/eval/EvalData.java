package dev.dino4j.eval;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.EvalViews;
import dev.dino4j.data.Image;
import dev.dino4j.data.ImageDataset;
import java.io.IOException;

/**
 * The labelled sets an evaluation reads and the single view each image gets: the training
 * config's dataset with split train / test (or other locations), centre view at the training
 * global size, normalised with the training mean and std.
 */
public final class EvalData {

  private EvalData() {}

  /**
   * The config's dataset with {@code split}; {@code path} (when not blank) replaces {@code
   * data.path}: for IDX sources the folder holding both splits, for image folders the split's own
   * folder.
   */
  public static ImageDataset open(DinoConfig cfg, String split, String path) throws IOException {
    DinoConfig.Data d = cfg.data();
    String p = path == null || path.isBlank() ? d.path() : path;
    ImageDataset data = ImageDataset.open(new DinoConfig.Data(d.source(), p, split, d.labels(), d.badFiles(),
        d.maxPixels(), d.workers(), d.prefetch(),
        d.mean(), d.std()));
    if (data.numClasses() == 0) {
      throw new IllegalArgumentException("the " + split + " set (" + data.describe(0)
          + ", ...) has no labels; evaluation needs a labelled set (class subfolders or an IDX label file)");
    }
    return data;
  }

  /** Centre view at the training global size, with the training normalisation. */
  public static FeatureExtractor.View centre(DinoConfig cfg) {
    return centre(cfg, cfg.augment().globalSize());
  }

  /** Centre view at side {@code size}. */
  public static FeatureExtractor.View centre(DinoConfig cfg, int size) {
    float[] mean = cfg.data().mean();
    float[] std = cfg.data().std();
    return (img, index, dst, off) -> EvalViews.centre(img, size, mean, std, dst, off);
  }

  /**
   * The raw-pixel baseline's features: every image resized to the size of the dataset's first
   * image (a no-op for IDX data: Fashion-MNIST stays 28 x 28), flattened; values in [0, 1] as
   * decoded, or with {@code normalise} minus the training mean and over the training std. On
   * Fashion-MNIST (20-NN, T = 0.07) raw gives 84.59%, normalised 85.69% (a numpy check agrees
   * to the image).
   */
  public static Features pixels(ImageDataset data, int limit, DinoConfig cfg, boolean normalise, Progress progress)
      throws IOException {
    Image first = data.image(0);
    int h = first.height();
    int w = first.width();
    if (h != w) {
      int s = Math.min(h, w); // the shared loop wants square views; a non-square set is centre-cropped
      h = s;
      w = s;
    }
    int side = h;
    float[] mean = normalise ? cfg.data().mean() : new float[3];
    float[] std = normalise ? cfg.data().std() : new float[] {1f, 1f, 1f};
    FeatureExtractor.View view = first.height() == first.width()
        ? (img, index, dst, off) -> EvalViews.pixels(img, side, side, mean, std, dst, off)
        : (img, index, dst, off) -> EvalViews.centre(img, side, mean, std, dst, off);
    int n = limit > 0 ? Math.min(limit, data.size()) : data.size();
    int dim = side * side * 3;
    return FeatureExtractor.extractWith(data, FeatureExtractor.indices(n), view, 512, progress,
        (batch, b) -> batch, dim, side);
  }
}
