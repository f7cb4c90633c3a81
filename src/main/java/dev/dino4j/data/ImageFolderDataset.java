package dev.dino4j.data;

import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

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

  /** Decodes one image file (the only place the folder sources call the decoder). */
  static Image decode(Path file, long maxPixels) throws IOException {
    return decode(file);
  }

  /** Decodes one file to RGB floats in [0, 1]; alpha is dropped, as PIL's convert("RGB") does. */
  static Image decode(Path file) throws IOException {
    BufferedImage img;
    try {
      img = ImageIO.read(file.toFile());
    } catch (IOException | RuntimeException e) {
      throw new IOException(file + ": cannot decode image: " + e.getMessage(), e);
    }
    if (img == null) {
      throw new IOException(
          file + ": no ImageIO decoder recognises this file (expected JPEG, PNG, BMP or GIF)");
    }
    int h = img.getHeight();
    int w = img.getWidth();
    float[] rgb = new float[h * w * 3]; // [h, w, 3]
    Raster raster = img.getRaster();
    if (img.getColorModel() instanceof ComponentColorModel && raster.getNumBands() <= 2) {
      // Gray (+ alpha): read the samples as they are. getRGB() would treat them as linear light
      // and brighten them into sRGB, unlike PIL and every other decoder.
      int bits = img.getColorModel().getComponentSize(0);
      float scale = 1f / ((1 << bits) - 1);
      int[] row = new int[w];
      for (int y = 0; y < h; y++) {
        raster.getSamples(0, y, w, 1, 0, row);
        for (int x = 0; x < w; x++) {
          float v = row[x] * scale;
          int o = 3 * (y * w + x);
          rgb[o] = v;
          rgb[o + 1] = v;
          rgb[o + 2] = v;
        }
      }
    } else {
      // Palette, RGB(A), BGR, 16-bit: AWT converts to 8-bit sRGB ARGB.
      int[] row = new int[w];
      for (int y = 0; y < h; y++) {
        img.getRGB(0, y, w, 1, row, 0, w);
        for (int x = 0; x < w; x++) {
          int argb = row[x];
          int o = 3 * (y * w + x);
          rgb[o] = ((argb >> 16) & 0xFF) / 255f;
          rgb[o + 1] = ((argb >> 8) & 0xFF) / 255f;
          rgb[o + 2] = (argb & 0xFF) / 255f;
        }
      }
    }
    return new Image(h, w, rgb);
  }
}
