package dev.dino4j.data;

import dev.dino4j.config.DinoConfig;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.apache.commons.imaging.ImageFormats;
import org.apache.commons.imaging.Imaging;

/**
 * A picture of what the augmentation does, to check a recipe by eye before spending hours on it:
 * one row per image, in columns
 *
 * <pre>
 * original (longer side = global size, aspect kept, padded) | global 0 | global 1 | local 0 .. n-1
 * </pre>
 *
 * Every cell is {@code cell x cell} px with {@code cell = max(globalSize, localSize)}; local views
 * are drawn at their own size, centred in their cell, so the picture shows how much of the image a
 * local view really keeps and at what resolution (upscaling them would hide exactly that). Views
 * are {@link MultiCrop}'s output with the normalisation undone ({@code x * std + mean}), so the
 * colours are what the network sees before normalisation. Each pixel can be drawn as a {@code scale
 * x scale} block, because the tiny recipe's 28 px views are unreadable at 1:1; cells are separated
 * by {@link #SEPARATOR} px white lines.
 */
public final class AugmentPreview {

  /** Width of the white lines between cells, px (not scaled). */
  public static final int SEPARATOR = 2;

  /** Colour of the lines between cells. */
  static final int SEPARATOR_RGB = 0xFFFFFF;

  /** Colour of the cell area a view or the letterboxed original does not cover. */
  static final int PADDING_RGB = 0x404040;

  private static final long PICK_SALT = 0x5052455649455750L; // "PREVIEWP"

  private AugmentPreview() {}

  /**
   * The images a preview draws from: {@code what} is an image file, an image folder ({@link
   * ImageFolderDataset}) or {@code fashion-mnist}; null means the dataset {@code data} names.
   *
   * @throws IllegalArgumentException when {@code what} is none of these; the message names it
   */
  public static ImageDataset open(String what, DinoConfig.Data data) throws IOException {
    if (what == null || what.isBlank()) {
      return ImageDataset.open(data);
    }
    if (what.equals("fashion-mnist")) {
      // The config's own Fashion-MNIST location when it has one, else the default locations.
      String path = "fashion-mnist".equals(data.source()) ? data.path() : "";
      return IdxDataset.fashionMnist(IdxDataset.locateFashionMnist(path), data.split());
    }
    Path p = Path.of(what);
    if (Files.isDirectory(p)) {
      return new ImageFolderDataset(p);
    }
    if (Files.isRegularFile(p)) {
      return new SingleImage(p);
    }
    throw new IllegalArgumentException(
        "IMAGE_OR_DATASET '"
            + what
            + "' does not exist; expected an image file, a folder of images or of class folders,"
            + " or 'fashion-mnist'");
  }

  /**
   * Dataset indices of the {@code rows} rows: distinct images drawn with {@code seed} (a class
   * folder listed in order would otherwise fill every row from its first class); a dataset smaller
   * than {@code rows} repeats its images, each repeat with fresh random views.
   */
  public static int[] pick(int size, int rows, long seed) {
    if (size <= 0 || rows <= 0) {
      throw new IllegalArgumentException(
          "a preview needs at least one image and one row, got " + size + " and " + rows);
    }
    int[] perm = new int[size];
    for (int i = 0; i < size; i++) {
      perm[i] = i;
    }
    SplittableRandom rng = new SplittableRandom(seed ^ PICK_SALT);
    int shuffled = Math.min(rows, size);
    for (int i = 0; i < shuffled; i++) { // the first `rows` steps of a Fisher-Yates shuffle
      int j = i + rng.nextInt(size - i);
      int t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    int[] indices = new int[rows];
    for (int r = 0; r < rows; r++) {
      indices[r] = perm[r % size];
    }
    return indices;
  }

  /** Seed of the generator {@link MultiCrop#apply} gets for row {@code row}. */
  public static long rowSeed(long seed, int row) {
    return seed + row;
  }

  /** Side of every cell at scale 1, px. */
  public static int cell(MultiCrop augment) {
    return Math.max(augment.globalSize(), augment.localSize());
  }

  /** Cells per row: the original, 2 global and the local views. */
  public static int columns(MultiCrop augment) {
    return 3 + augment.localCrops();
  }

  /** Side of a grid of {@code cells} cells of {@code side} px each: cells plus separators. */
  public static long extent(int cells, int side) {
    return (long) cells * side + (long) (cells - 1) * SEPARATOR;
  }

  /**
   * Draws the grid: row {@code r} shows image {@code indices[r]} and the views {@code augment}
   * makes of it with {@code new SplittableRandom(rowSeed(seed, r))}.
   *
   * @param mean the mean {@code augment} subtracts // [3]
   * @param std the std {@code augment} divides by // [3]
   */
  public static BufferedImage render(
      ImageDataset dataset,
      int[] indices,
      MultiCrop augment,
      float[] mean,
      float[] std,
      long seed,
      int scale)
      throws IOException {
    if (scale < 1) {
      throw new IllegalArgumentException("scale must be >= 1 (px per view pixel), got " + scale);
    }
    int g = augment.globalSize();
    int l = augment.localSize();
    int side = cell(augment) * scale;
    int cols = columns(augment);
    long w = extent(cols, side);
    long h = extent(indices.length, side);
    if (w * h > Integer.MAX_VALUE / 4) {
      throw new IllegalArgumentException(
          "preview of " + w + "x" + h + " px is too large; show fewer images or a smaller scale");
    }
    BufferedImage out = new BufferedImage((int) w, (int) h, BufferedImage.TYPE_INT_RGB);
    fill(out, 0, 0, (int) w, (int) h, SEPARATOR_RGB);
    MultiCropBatch views = augment.newBatch(1);
    float[] unnormalised = new float[cell(augment) * cell(augment) * 3]; // [S, S, 3], S = g or l
    for (int r = 0; r < indices.length; r++) {
      Image img = dataset.image(indices[r]);
      augment.apply(img, new SplittableRandom(rowSeed(seed, r)), views, 0);
      int y0 = r * (side + SEPARATOR);
      for (int c = 0; c < cols; c++) {
        fill(out, c * (side + SEPARATOR), y0, side, side, PADDING_RGB);
      }
      drawOriginal(out, img, g, 0, y0, side, scale);
      int inset = (side - g * scale) / 2; // 0 unless local views are the larger ones
      for (int v = 0; v < 2; v++) {
        unnormalise(views.globals(), views.globalOffset(v, 0), g, mean, std, unnormalised);
        int x0 = (1 + v) * (side + SEPARATOR);
        draw(out, unnormalised, g, g, x0 + inset, y0 + inset, scale);
      }
      inset = (side - l * scale) / 2; // local views at their own size, centred
      for (int v = 0; v < augment.localCrops(); v++) {
        unnormalise(views.locals(), views.localOffset(v, 0), l, mean, std, unnormalised);
        int x0 = (3 + v) * (side + SEPARATOR);
        draw(out, unnormalised, l, l, x0 + inset, y0 + inset, scale);
      }
    }
    return out;
  }

  /** Writes {@code img} to {@code file} as PNG, creating missing parent folders. */
  public static void write(Path file, BufferedImage img) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Imaging.writeImage(img, file.toFile(), ImageFormats.PNG);
  }

  /** The original, longer side resized to {@code size} (antialiased bicubic), centred. */
  private static void drawOriginal(
      BufferedImage out, Image img, int size, int x0, int y0, int side, int scale) {
    int h = img.height();
    int w = img.width();
    int oh = h >= w ? size : Math.max(1, (int) Math.round((double) size * h / w));
    int ow = w >= h ? size : Math.max(1, (int) Math.round((double) size * w / h));
    float[] resized = new float[oh * ow * 3]; // [oh, ow, 3]
    BicubicResize.resize(img.rgb(), w, 0, 0, h, w, resized, 0, oh, ow, new float[h * ow * 3], null);
    ColorTransforms.clamp(resized, 0, oh * ow); // the bicubic kernel overshoots at edges
    draw(out, resized, oh, ow, x0 + (side - ow * scale) / 2, y0 + (side - oh * scale) / 2, scale);
  }

  /** {@code dst = src * std + mean} for one [size, size, 3] view starting at {@code off}. */
  private static void unnormalise(
      float[] src, int off, int size, float[] mean, float[] std, float[] dst) {
    for (int i = 0, n = size * size * 3; i < n; i += 3) {
      dst[i] = src[off + i] * std[0] + mean[0];
      dst[i + 1] = src[off + i + 1] * std[1] + mean[1];
      dst[i + 2] = src[off + i + 2] * std[2] + mean[2];
    }
  }

  /** Draws [h, w, 3] floats in [0, 1] at ({@code x0}, {@code y0}), each pixel a scale^2 block. */
  private static void draw(
      BufferedImage out, float[] rgb, int h, int w, int x0, int y0, int scale) {
    for (int y = 0; y < h * scale; y++) {
      for (int x = 0; x < w * scale; x++) {
        int o = ((y / scale) * w + x / scale) * 3;
        out.setRGB(
            x0 + x, y0 + y, (byte8(rgb[o]) << 16) | (byte8(rgb[o + 1]) << 8) | byte8(rgb[o + 2]));
      }
    }
  }

  private static void fill(BufferedImage out, int x0, int y0, int w, int h, int rgb) {
    for (int y = y0; y < y0 + h; y++) {
      for (int x = x0; x < x0 + w; x++) {
        out.setRGB(x, y, rgb);
      }
    }
  }

  /** [0, 1] to 0..255, rounded; values a float round trip pushed just outside are clipped. */
  static int byte8(float v) {
    return Math.max(0, Math.min(255, Math.round(v * 255f)));
  }

  /** One image file as a dataset of one, so a single file and a folder take the same path. */
  private static final class SingleImage implements ImageDataset {
    private final Path file;

    SingleImage(Path file) {
      this.file = file;
    }

    @Override
    public int size() {
      return 1;
    }

    @Override
    public Image image(int index) throws IOException {
      // The only place a preview decodes a file itself: swap the decoder here.
      return ImageDecoder.decode(file, ImageDecoder.DEFAULT_MAX_PIXELS);
    }

    @Override
    public int label(int index) {
      return UNLABELLED;
    }

    @Override
    public int numClasses() {
      return 0;
    }

    @Override
    public String describe(int index) {
      return file.toString();
    }
  }
}
