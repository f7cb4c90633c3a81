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
 * A folder of image files, decoded with ImageIO (JPEG, PNG, BMP, GIF). Two layouts, as
 * torchvision's {@code ImageFolder} and plain self-supervised dumps use:
 *
 * <ul>
 *   <li>class subfolders ({@code root/cat/1.jpg}, {@code root/dog/2.png}): label = index of the
 *       subfolder in sorted name order;
 *   <li>a flat folder of images: every label is {@link ImageDataset#UNLABELLED}.
 * </ul>
 *
 * Files are listed once, in sorted order, so indices are stable across runs (the loader's shuffle
 * and exact resume depend on it). Decoding is basic on purpose: CMYK or otherwise unusual files
 * fail with a message naming them.
 */
public final class ImageFolderDataset implements ImageDataset {

  private static final Logger LOG = LogManager.getLogger(ImageFolderDataset.class);

  /** File name extensions decoded here, lower case. */
  public static final Set<String> EXTENSIONS = Set.of("jpg", "jpeg", "png", "bmp", "gif");

  static {
    // Decode from files without ImageIO's temp-file cache: faster and no stray files.
    ImageIO.setUseCache(false);
  }

  private final Path root;
  private final List<Path> files;
  private final int[] labels;
  private final List<String> classes;

  /** Lists {@code root}; an empty folder or one without images is an error. */
  public ImageFolderDataset(Path root) throws IOException {
    if (!Files.isDirectory(root)) {
      throw new IOException(
          root + ": not a folder; expected a folder of images or of class folders");
    }
    this.root = root;
    List<Path> subdirs = new ArrayList<>();
    List<Path> topFiles = new ArrayList<>();
    for (Path p : sortedChildren(root)) {
      if (Files.isDirectory(p)) {
        subdirs.add(p);
      } else if (isImage(p)) {
        topFiles.add(p);
      }
    }
    List<Path> allFiles = new ArrayList<>();
    List<Integer> allLabels = new ArrayList<>();
    List<String> classNames = new ArrayList<>();
    if (subdirs.isEmpty()) {
      allFiles.addAll(topFiles);
      topFiles.forEach(f -> allLabels.add(UNLABELLED));
    } else {
      if (!topFiles.isEmpty()) {
        LOG.warn(
            "{}: ignoring {} image(s) next to the class folders {}; only images inside class"
                + " folders are used",
            root,
            topFiles.size(),
            subdirs.stream().map(d -> d.getFileName().toString()).toList());
      }
      for (Path dir : subdirs) {
        int label = classNames.size();
        classNames.add(dir.getFileName().toString());
        try (Stream<Path> walk = Files.walk(dir)) {
          List<Path> inClass =
              walk.filter(Files::isRegularFile)
                  .filter(ImageFolderDataset::isImage)
                  .sorted()
                  .toList();
          allFiles.addAll(inClass);
          inClass.forEach(f -> allLabels.add(label));
        }
      }
    }
    if (allFiles.isEmpty()) {
      throw new IOException(
          root + ": no image files (" + String.join(", ", sortedExtensions()) + ") found");
    }
    this.files = List.copyOf(allFiles);
    this.labels = allLabels.stream().mapToInt(Integer::intValue).toArray();
    this.classes = List.copyOf(classNames);
  }

  /** Class folder names in label order; empty for a flat folder. */
  public List<String> classes() {
    return classes;
  }

  /** The folder this dataset lists. */
  public Path root() {
    return root;
  }

  @Override
  public int size() {
    return files.size();
  }

  @Override
  public Image image(int index) throws IOException {
    return decode(files.get(index));
  }

  @Override
  public int label(int index) {
    return labels[index];
  }

  @Override
  public int numClasses() {
    return classes.size();
  }

  @Override
  public String describe(int index) {
    return files.get(index).toString();
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

  private static List<Path> sortedChildren(Path dir) throws IOException {
    List<Path> children;
    try (Stream<Path> list = Files.list(dir)) {
      children =
          new ArrayList<>(list.filter(p -> !p.getFileName().toString().startsWith(".")).toList());
    }
    Collections.sort(children);
    return children;
  }

  private static boolean isImage(Path p) {
    String name = p.getFileName().toString();
    int dot = name.lastIndexOf('.');
    return !name.startsWith(".")
        && dot > 0
        && EXTENSIONS.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT));
  }

  private static List<String> sortedExtensions() {
    return EXTENSIONS.stream().sorted().map(e -> "." + e).toList();
  }
}
