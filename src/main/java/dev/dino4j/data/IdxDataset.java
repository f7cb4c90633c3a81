package dev.dino4j.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * MNIST-style IDX files (MNIST, Fashion-MNIST, KMNIST): one {@code idx3-ubyte} image file and an
 * optional {@code idx1-ubyte} label file, plain or gzip-compressed. The whole file is held in
 * memory as bytes (Fashion-MNIST train: 47 MB) because the loader decodes every image every epoch.
 * Grayscale pixels become three equal RGB channels so the pipeline sees one layout.
 */
public final class IdxDataset implements ImageDataset {

  /** Magic of an unsigned-byte 3-D array (images): 0x00 0x00 type 0x08 = ubyte, 3 dims. */
  static final int IMAGES_MAGIC = 0x00000803;

  /** Magic of an unsigned-byte 1-D array (labels). */
  static final int LABELS_MAGIC = 0x00000801;

  /** Where the Debian package {@code dataset-fashion-mnist} puts the four .gz files. */
  public static final Path SYSTEM_FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

  /** Where {@code make data} downloads them when the Debian package is not an option. */
  public static final Path LOCAL_FASHION_MNIST = Path.of("data", "fashion-mnist");

  private final String imagesName;
  private final int count;
  private final int rows;
  private final int cols;
  private final byte[] pixels; // [count, rows, cols], unsigned
  private final byte[] labels; // [count], unsigned; null = unlabelled
  private final int numClasses;
  private final List<String> classNames; // empty: the IDX files do not name their classes

  /** Fashion-MNIST's class names in label order (the dataset's README). */
  public static final List<String> FASHION_MNIST_CLASSES = List.of(
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

  private IdxDataset(
      String imagesName, int count, int rows, int cols, byte[] pixels, byte[] labels) {
    this(imagesName, count, rows, cols, pixels, labels, List.of());
  }

  private IdxDataset(
      String imagesName, int count, int rows, int cols, byte[] pixels, byte[] labels, List<String> classNames) {
    this.imagesName = imagesName;
    this.count = count;
    this.rows = rows;
    this.cols = cols;
    this.pixels = pixels;
    this.labels = labels;
    int maxLabel = -1;
    if (labels != null) {
      for (byte b : labels) {
        maxLabel = Math.max(maxLabel, b & 0xFF);
      }
    }
    this.numClasses = maxLabel + 1;
    this.classNames = List.copyOf(classNames);
  }

  /** The same images and labels, with the classes named (labels index {@code names}). */
  public IdxDataset withClasses(List<String> names) {
    if (names.size() < numClasses) {
      throw new IllegalArgumentException(imagesName + " has " + numClasses + " classes, " + names.size() + " names given");
    }
    return new IdxDataset(imagesName, count, rows, cols, pixels, labels, names);
  }

  @Override
  public List<String> classes() {
    return classNames;
  }

  /**
   * Reads an image file and, unless {@code labelsFile} is null, its label file. A file ending in
   * {@code .gz} is decompressed.
   */
  public static IdxDataset read(Path imagesFile, Path labelsFile) throws IOException {
    byte[] pixels;
    int count;
    int rows;
    int cols;
    try (DataInputStream in = open(imagesFile)) {
      int magic = readHeaderInt(in, imagesFile, "magic number");
      if (magic != IMAGES_MAGIC) {
        throw new IOException(
            imagesFile
                + ": not an IDX image file: magic number "
                + hex(magic)
                + ", expected "
                + hex(IMAGES_MAGIC)
                + " (unsigned bytes, 3 dimensions)");
      }
      count = readHeaderInt(in, imagesFile, "image count");
      rows = readHeaderInt(in, imagesFile, "rows");
      cols = readHeaderInt(in, imagesFile, "columns");
      String what = count + " images of " + rows + "x" + cols; // what the header claims, for messages
      if (count <= 0 || rows <= 0 || cols <= 0) {
        throw new IOException(imagesFile + ": IDX header says " + what + ", expected positive sizes");
      }
      long perImage = (long) rows * cols; // < 2^62
      long size = perImage > Integer.MAX_VALUE ? Long.MAX_VALUE : count * perImage; // no overflow
      if (size > Integer.MAX_VALUE - 16) {
        throw new IOException(imagesFile + ": IDX header says " + what + ", more pixels than one Java array holds (2^31 - 1)");
      }
      pixels = readBody(in, (int) size, 16, imagesFile, what);
      expectEnd(in, imagesFile, what);
    }
    byte[] labels = null;
    if (labelsFile != null) {
      try (DataInputStream in = open(labelsFile)) {
        int magic = readHeaderInt(in, labelsFile, "magic number");
        if (magic != LABELS_MAGIC) {
          throw new IOException(
              labelsFile
                  + ": not an IDX label file: magic number "
                  + hex(magic)
                  + ", expected "
                  + hex(LABELS_MAGIC)
                  + " (unsigned bytes, 1 dimension)");
        }
        int n = readHeaderInt(in, labelsFile, "label count");
        if (n != count) {
          throw new IOException(
              labelsFile
                  + ": holds "
                  + n
                  + " labels but "
                  + imagesFile.getFileName()
                  + " holds "
                  + count
                  + " images; expected one label per image");
        }
        labels = readBody(in, n, 8, labelsFile, n + " labels");
        expectEnd(in, labelsFile, n + " labels");
      }
    }
    return new IdxDataset(imagesFile.getFileName().toString(), count, rows, cols, pixels, labels);
  }

  /**
   * Reads split {@code train} or {@code test} from a folder with the MNIST file names ({@code
   * train-images-idx3-ubyte}, {@code train-labels-idx1-ubyte}, {@code t10k-...}), each either plain
   * or with {@code .gz}.
   */
  public static IdxDataset fashionMnist(Path dir, String split) throws IOException {
    String prefix;
    if ("train".equals(split)) {
      prefix = "train";
    } else if ("test".equals(split)) {
      prefix = "t10k";
    } else {
      throw new IllegalArgumentException("data.split = '" + split + "' is not one of train, test");
    }
    Path images = findPlainOrGz(dir, prefix + "-images-idx3-ubyte");
    Path labels = findPlainOrGz(dir, prefix + "-labels-idx1-ubyte");
    return read(images, labels);
  }

  /**
   * The Fashion-MNIST folder to use: {@code configuredPath} when it is set, else the Debian
   * package's {@code /usr/share/datasets/fashion-mnist}, else {@code ./data/fashion-mnist}.
   *
   * @throws NoSuchFileException when no candidate holds the training images; the message says how
   *     to get them
   */
  public static Path locateFashionMnist(String configuredPath) throws NoSuchFileException {
    List<Path> candidates =
        configuredPath == null || configuredPath.isBlank()
            ? List.of(SYSTEM_FASHION_MNIST, LOCAL_FASHION_MNIST)
            : List.of(Path.of(configuredPath));
    for (Path dir : candidates) {
      if (hasPlainOrGz(dir, "train-images-idx3-ubyte")) {
        return dir;
      }
    }
    throw new NoSuchFileException(
        String.join(" or ", candidates.stream().map(Path::toString).toList()),
        null,
        "no Fashion-MNIST files (train-images-idx3-ubyte[.gz], ...) there; run `make data`"
            + " (scripts/fetch-fashion-mnist.sh: apt-get install dataset-fashion-mnist, or a"
            + " download into ./data/fashion-mnist) or set data.path to the folder holding them");
  }

  @Override
  public int size() {
    return count;
  }

  /** Rows of every image, px. */
  public int rows() {
    return rows;
  }

  /** Columns of every image, px. */
  public int cols() {
    return cols;
  }

  @Override
  public Image image(int index) {
    checkIndex(index);
    int n = rows * cols;
    float[] rgb = new float[n * 3]; // [rows, cols, 3]
    int base = index * n;
    for (int p = 0; p < n; p++) {
      float v = (pixels[base + p] & 0xFF) / 255f;
      rgb[3 * p] = v;
      rgb[3 * p + 1] = v;
      rgb[3 * p + 2] = v;
    }
    return new Image(rows, cols, rgb);
  }

  @Override
  public int label(int index) {
    checkIndex(index);
    return labels == null ? UNLABELLED : labels[index] & 0xFF;
  }

  @Override
  public int numClasses() {
    return numClasses;
  }

  @Override
  public String describe(int index) {
    return imagesName + "#" + index;
  }

  private void checkIndex(int index) {
    if (index < 0 || index >= count) {
      throw new IndexOutOfBoundsException(
          "image index " + index + " outside [0, " + count + ") of " + imagesName);
    }
  }

  private static DataInputStream open(Path file) throws IOException {
    InputStream raw = Files.newInputStream(file);
    try {
      InputStream in = new BufferedInputStream(raw, 1 << 16);
      if (file.getFileName().toString().endsWith(".gz")) {
        in = new GZIPInputStream(in, 1 << 16);
      }
      return new DataInputStream(in);
    } catch (IOException e) {
      raw.close();
      throw new IOException(file + ": not a readable gzip file: " + e.getMessage(), e);
    }
  }

  private static int readHeaderInt(DataInputStream in, Path file, String field) throws IOException {
    try {
      return in.readInt(); // IDX is big-endian, as DataInputStream
    } catch (EOFException e) {
      throw new IOException(file + ": truncated IDX header, file ends before the " + field, e);
    } catch (ZipException e) {
      throw new IOException(file + ": corrupt gzip data: " + e.getMessage(), e);
    }
  }

  /**
   * The next {@code length} bytes, which the header ({@code headerBytes} long) promised. The array
   * is never much larger than what the file holds: a plain file is checked against its size first,
   * and a gzip stream, whose size is only known at its end, is read into an array that grows as
   * the bytes arrive (from 1 MiB, doubling). A 16-byte file whose header claims 2 GB is refused,
   * not allocated.
   */
  private static byte[] readBody(
      DataInputStream in, int length, int headerBytes, Path file, String what) throws IOException {
    boolean gz = file.getFileName().toString().endsWith(".gz");
    if (!gz) {
      long left = Files.size(file) - headerBytes;
      if (left < length) {
        throw truncated(file, what, length, Math.max(left, 0));
      }
    }
    byte[] body = new byte[gz ? Math.min(length, 1 << 20) : length];
    int read = 0;
    while (read < length) {
      if (read == body.length) {
        body = Arrays.copyOf(body, (int) Math.min(length, 2L * body.length));
      }
      int n;
      try {
        n = in.read(body, read, body.length - read);
      } catch (EOFException e) {
        n = -1; // a gzip stream cut short says so with an exception, a plain file with -1
      } catch (ZipException e) {
        throw new IOException(file + ": corrupt gzip data: " + e.getMessage(), e);
      }
      if (n < 0) {
        throw truncated(file, what, length, read);
      }
      read += n;
    }
    return body;
  }

  private static IOException truncated(Path file, String what, int length, long read) {
    return new IOException(
        file
            + ": truncated: header promises "
            + what
            + " ("
            + length
            + " bytes of data), file ends after "
            + read);
  }

  private static void expectEnd(DataInputStream in, Path file, String what) throws IOException {
    int next;
    try {
      next = in.read();
    } catch (EOFException | ZipException e) {
      throw new IOException(file + ": corrupt gzip trailer: " + e.getMessage(), e);
    }
    if (next >= 0) {
      throw new IOException(
          file + ": longer than its header says (" + what + "); wrong file or corrupt header");
    }
  }

  private static Path findPlainOrGz(Path dir, String name) throws NoSuchFileException {
    Path plain = dir.resolve(name);
    Path gz = dir.resolve(name + ".gz");
    if (Files.isRegularFile(gz)) {
      return gz;
    }
    if (Files.isRegularFile(plain)) {
      return plain;
    }
    throw new NoSuchFileException(
        gz.toString(), null, "neither " + name + " nor " + name + ".gz exists in " + dir);
  }

  private static boolean hasPlainOrGz(Path dir, String name) {
    return Files.isRegularFile(dir.resolve(name)) || Files.isRegularFile(dir.resolve(name + ".gz"));
  }

  private static String hex(int v) {
    return String.format("0x%08X", v);
  }
}
