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
    int side = pixelSide(data);
    Image first = data.image(0);
    float[] mean = normalise ? cfg.data().mean() : new float[3];
    float[] std = normalise ? cfg.data().std() : new float[] {1f, 1f, 1f};
    FeatureExtractor.View view = first.height() == first.width()
        ? (img, index, dst, off) -> EvalViews.pixels(img, side, side, mean, std, dst, off)
        : (img, index, dst, off) -> EvalViews.centre(img, side, mean, std, dst, off);
    int n = limit > 0 ? Math.min(limit, data.size()) : data.size();
    return pixels(data, FeatureExtractor.indices(n), view, side, progress);
  }

  /**
   * The side of the raw-pixel baseline's square views: the smaller side of the dataset's first
   * image (28 for Fashion-MNIST).
   */
  public static int pixelSide(ImageDataset data) throws IOException {
    Image first = data.image(0);
    return Math.min(first.height(), first.width()); // the shared loop wants square views: non-square sets are cropped
  }

  /** Flattened pixel views [indices.length, side^2 * 3] made by {@code view} (the features of a pixel baseline). */
  public static Features pixels(ImageDataset data, int[] indices, FeatureExtractor.View view, int side,
      Progress progress) {
    return FeatureExtractor.extractWith(data, indices, view, 512, progress, (batch, b) -> batch, side * side * 3, side);
  }
}
