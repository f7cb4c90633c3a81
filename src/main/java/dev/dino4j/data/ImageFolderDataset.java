package dev.dino4j.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * A folder of image files. Two layouts, as torchvision's {@code ImageFolder} and plain
 * self-supervised dumps use (see {@link FileIndex} for the {@code data.labels} rule):
 *
 * <ul>
 *   <li>class subfolders ({@code root/cat/1.jpg}, {@code root/dog/x/2.png}): label = index of the
 *       subfolder in sorted name order;
 *   <li>a flat or nested folder of images: every label is {@link ImageDataset#UNLABELLED}.
 * </ul>
 *
 * Files are listed in sorted order, so indices are stable across runs (the loader's shuffle and
 * exact resume depend on it). The listing is stored as an index in the run directory and reused
 * while the tree is unchanged. A file that cannot be decoded fails in {@link #image} with an
 * {@link IOException} naming it; the loader decides whether to skip it ({@code data.bad_files}).
 */
public final class ImageFolderDataset implements ImageDataset {

  static {
    // Decode from files without ImageIO's temp-file cache: faster and no stray files.
    ImageIO.setUseCache(false);
  }

  private final FileIndex index;
  private final long maxPixels;

  /** Lists {@code root} with labels from class folders when it has any; nothing stored. */
  public ImageFolderDataset(Path root) throws IOException {
    this(root, "auto", Long.MAX_VALUE, null);
  }

  /**
   * @param labels {@code data.labels}: auto, folders or none
   * @param maxPixels images with more pixels are refused before decoding ({@code data.max_pixels})
   * @param indexDir where the file index is stored and reused; null = list the tree every time
   */
  public ImageFolderDataset(Path root, String labels, long maxPixels, Path indexDir)
      throws IOException {
    this.index = FileIndex.open(root, labels, indexDir);
    this.maxPixels = maxPixels;
  }

  @Override
  public List<String> classes() {
    return index.classes;
  }

  /** The folder this dataset lists. */
  public Path root() {
    return index.root;
  }

  @Override
  public int size() {
    return index.entries.size();
  }

  @Override
  public Image image(int i) throws IOException {
    return decode(index.path(i), maxPixels);
  }

  @Override
  public int label(int i) {
    return index.entries.get(i).label();
  }

  @Override
  public int numClasses() {
    return index.classes.size();
  }

  @Override
  public String describe(int i) {
    return index.path(i).toString();
  }

  /** Decodes one image file (the only place the file-based sources call the decoder). */
  static Image decode(Path file, long maxPixels) throws IOException {
    return ImageDecoder.decode(file, maxPixels);
  }
}
