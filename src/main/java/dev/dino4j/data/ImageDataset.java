package dev.dino4j.data;

import dev.dino4j.config.DinoConfig;
import java.io.IOException;
import java.nio.file.Path;

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

  /** File or record name of image {@code index}, for messages ("train-images-idx3-ubyte.gz#17"). */
  String describe(int index);

  /**
   * Opens the dataset a {@code data} config section names: {@code fashion-mnist} (default location
   * unless {@code path} is set), {@code idx} (a folder with MNIST-style IDX files) or {@code
   * folder} (an image folder, see {@link ImageFolderDataset}).
   */
  static ImageDataset open(DinoConfig.Data data) throws IOException {
    String source = data.source();
    switch (source) {
      case "fashion-mnist":
        return IdxDataset.fashionMnist(IdxDataset.locateFashionMnist(data.path()), data.split());
      case "idx":
        if (data.path() == null || data.path().isBlank()) {
          throw new IllegalArgumentException(
              "data.source = idx needs data.path, the folder holding the IDX files");
        }
        return IdxDataset.fashionMnist(Path.of(data.path()), data.split());
      case "folder":
        if (data.path() == null || data.path().isBlank()) {
          throw new IllegalArgumentException(
              "data.source = folder needs data.path, the image folder");
        }
        return new ImageFolderDataset(Path.of(data.path()));
      default:
        throw new IllegalArgumentException(
            "data.source = '" + source + "' is not one of fashion-mnist, idx, folder");
    }
  }
}
