package dev.dino4j.data;

import dev.dino4j.config.DinoConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Random access to a fixed list of images. The loader only needs a size, a way to decode the i-th
 * image and a name for error messages, so image folders, IDX files, file lists or CIFAR binaries
 * plug in behind this interface without touching augmentation or batching.
 *
 * <p>Implementations must allow {@link #image(int)} to be called concurrently from several loader
 * threads.
 */
public interface ImageDataset {

  /** Label value of an image that has none (self-supervised data, flat folders). */
  int UNLABELLED = -1;

  /** Number of images. */
  int size();

  /** Decodes image {@code index}; an unreadable file is an {@link IOException} naming it. */
  Image image(int index) throws IOException;

  /** Class of image {@code index} in [0, numClasses), or {@link #UNLABELLED}. */
  int label(int index);

  /** Number of classes; 0 when the dataset is unlabelled. */
  int numClasses();

  /** Class names in label order (saved as classes.txt in the run directory); may be empty. */
  default List<String> classes() {
    return List.of();
  }

  /** File or record name of image {@code index}, for messages ("train-images-idx3-ubyte.gz#17"). */
  String describe(int index);

  /** {@link #open(DinoConfig.Data, Path)} without storing a file index. */
  static ImageDataset open(DinoConfig.Data data) throws IOException {
    return open(data, null);
  }

  /**
   * Opens the dataset a {@code data} config section names: {@code fashion-mnist} (default location
   * unless {@code path} is set), {@code idx} (a folder with MNIST-style IDX files), {@code folder}
   * (an image folder, see {@link ImageFolderDataset}), {@code list} (a file of image paths, see
   * {@link FileListDataset}) or {@code cifar10} (CIFAR-10's binary batches, see {@link
   * Cifar10Dataset}).
   *
   * @param indexDir where an image folder's file index is stored and reused (the run directory);
   *     null lists the folder afresh
   */
  static ImageDataset open(DinoConfig.Data data, Path indexDir) throws IOException {
    String source = data.source();
    String path = data.path() == null ? "" : data.path();
    if (path.isBlank() && !source.equals("fashion-mnist")) {
      throw new IllegalArgumentException("data.source = " + source + " needs data.path");
    }
    return switch (source) {
      case "fashion-mnist" ->
          IdxDataset.fashionMnist(IdxDataset.locateFashionMnist(path), data.split())
              .withClasses(IdxDataset.FASHION_MNIST_CLASSES);
      case "idx" -> IdxDataset.fashionMnist(Path.of(path), data.split());
      case "folder" ->
          new ImageFolderDataset(Path.of(path), data.labels(), data.maxPixels(), indexDir);
      case "list" -> new FileListDataset(Path.of(path), data.maxPixels());
      case "cifar10" -> Cifar10Dataset.open(Path.of(path), data.split());
      default ->
          throw new IllegalArgumentException(
              "data.source = '" + source + "' is not one of fashion-mnist, idx, folder, list, cifar10");
    };
  }
}
