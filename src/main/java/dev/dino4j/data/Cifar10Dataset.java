package dev.dino4j.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * CIFAR-10's binary version ({@code cifar-10-batches-bin}): each record is one label byte and a 32
 * x 32 image stored as three planes (1,024 red, then green, then blue bytes). The training split is
 * {@code data_batch_1.bin} ... {@code data_batch_5.bin} (50,000 images), the test split {@code
 * test_batch.bin} (10,000). Files are memory-mapped, so opening is instant and the images live in
 * the page cache rather than the Java heap. Class names come from {@code batches.meta.txt} when
 * present.
 */
public final class Cifar10Dataset implements ImageDataset {

  static final int SIDE = 32;
  static final int RECORD = 1 + 3 * SIDE * SIDE;

  /** CIFAR-10's classes in label order, used when batches.meta.txt is missing. */
  static final List<String> CLASSES =
      List.of(
          "airplane", "automobile", "bird", "cat", "deer",
          "dog", "frog", "horse", "ship", "truck");

  private final List<Path> files;
  private final List<MappedByteBuffer> maps;
  private final int[] starts; // first global index of each file, plus the total at the end
  private final List<String> classes;

  private Cifar10Dataset(List<Path> files, List<String> classes) throws IOException {
    this.files = List.copyOf(files);
    this.maps = new ArrayList<>();
    this.starts = new int[files.size() + 1];
    for (int f = 0; f < files.size(); f++) {
      Path p = files.get(f);
      try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
        long size = ch.size();
        if (size == 0 || size % RECORD != 0) {
          throw new IOException(
              p + ": " + size + " bytes is not a whole number of CIFAR-10 records of " + RECORD
                  + " bytes (1 label + 32x32x3 pixels); truncated download?");
        }
        maps.add(ch.map(FileChannel.MapMode.READ_ONLY, 0, size));
        starts[f + 1] = starts[f] + (int) (size / RECORD);
      }
    }
    this.classes = classes;
    for (int i = 0; i < size(); i++) {
      int label = Byte.toUnsignedInt(record(i).get(0));
      if (label >= classes.size()) {
        throw new IOException(describe(i) + ": label " + label + " is not a CIFAR-10 class (0-9)");
      }
    }
  }

  /**
   * Opens {@code split} ("train" or "test") under {@code dir}, which is the {@code
   * cifar-10-batches-bin} folder or a folder holding it.
   */
  public static Cifar10Dataset open(Path dir, String split) throws IOException {
    Path root = Files.isDirectory(dir.resolve("cifar-10-batches-bin"))
        ? dir.resolve("cifar-10-batches-bin")
        : dir;
    List<Path> files = new ArrayList<>();
    if (split.equals("train")) {
      for (int b = 1; b <= 5; b++) {
        files.add(root.resolve("data_batch_" + b + ".bin"));
      }
    } else {
      files.add(root.resolve("test_batch.bin"));
    }
    List<String> missing = files.stream()
        .filter(f -> !Files.isRegularFile(f))
        .map(f -> f.getFileName().toString())
        .toList();
    if (!missing.isEmpty()) {
      throw new IOException(
          root + ": missing " + missing + "; data.source = cifar10 expects the binary version"
              + " (cifar-10-batches-bin with data_batch_1..5.bin and test_batch.bin)");
    }
    List<String> classes = CLASSES;
    Path meta = root.resolve("batches.meta.txt");
    if (Files.isRegularFile(meta)) {
      classes = classNames(meta);
    }
    return new Cifar10Dataset(files, classes);
  }

  /** The class names in batches.meta.txt, one a line (blank lines ignored). */
  private static List<String> classNames(Path meta) throws IOException {
    String expected = "expected " + CLASSES.size() + " class names, one a line, in UTF-8";
    long size = Files.size(meta);
    if (size > 1 << 16) {
      throw new IOException(meta + ": " + size + " bytes, too long for class names; " + expected);
    }
    List<String> lines;
    try {
      lines = Files.readAllLines(meta, StandardCharsets.UTF_8);
    } catch (CharacterCodingException e) {
      throw new IOException(meta + ": not UTF-8 text (" + e + "); " + expected, e);
    }
    List<String> names = lines.stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
    if (names.size() != CLASSES.size()) {
      throw new IOException(meta + ": " + names.size() + " class names; " + expected);
    }
    return names;
  }

  @Override
  public int size() {
    return starts[starts.length - 1];
  }

  @Override
  public Image image(int index) {
    ByteBuffer r = record(index);
    int plane = SIDE * SIDE;
    float[] rgb = new float[plane * 3]; // [32, 32, 3] from three [32, 32] planes
    for (int p = 0; p < plane; p++) {
      for (int c = 0; c < 3; c++) {
        rgb[3 * p + c] = Byte.toUnsignedInt(r.get(1 + c * plane + p)) / 255f;
      }
    }
    return new Image(SIDE, SIDE, rgb);
  }

  @Override
  public int label(int index) {
    return Byte.toUnsignedInt(record(index).get(0));
  }

  @Override
  public int numClasses() {
    return classes.size();
  }

  @Override
  public List<String> classes() {
    return classes;
  }

  @Override
  public String describe(int index) {
    int f = file(index);
    return files.get(f) + "#" + (index - starts[f]);
  }

  /** Record {@code index} as a buffer of its own (absolute reads: safe across loader threads). */
  private ByteBuffer record(int index) {
    if (index < 0 || index >= size()) {
      throw new IndexOutOfBoundsException("image " + index + " of " + size());
    }
    int f = file(index);
    return maps.get(f).slice((index - starts[f]) * RECORD, RECORD);
  }

  private int file(int index) {
    int f = 0;
    while (index >= starts[f + 1]) {
      f++;
    }
    return f;
  }
}
