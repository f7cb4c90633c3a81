package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxDatasetTest {

  @TempDir Path dir;

  // 3 images of 2x4; pixel (i, y, x) = 40 i + 9 y + 31 x, written by hand below, not by the reader
  private static final int N = 3;
  private static final int ROWS = 2;
  private static final int COLS = 4;
  private static final byte[] LABELS = {3, 0, 7};

  private static int pixel(int i, int y, int x) {
    return (40 * i + 9 * y + 31 * x) & 0xFF;
  }

  private static byte[] imagesFile(int magic, int count, int rows, int cols, int pixels)
      throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeInt(magic);
      out.writeInt(count);
      out.writeInt(rows);
      out.writeInt(cols);
      int written = 0;
      for (int i = 0; i < N && written < pixels; i++) {
        for (int y = 0; y < ROWS && written < pixels; y++) {
          for (int x = 0; x < COLS && written < pixels; x++, written++) {
            out.writeByte(pixel(i, y, x));
          }
        }
      }
    }
    return bytes.toByteArray();
  }

  private static byte[] goodImages() throws IOException {
    return imagesFile(0x803, N, ROWS, COLS, N * ROWS * COLS);
  }

  private static byte[] labelsFile(int magic, byte[] labels) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeInt(magic);
      out.writeInt(labels.length);
      out.write(labels);
    }
    return bytes.toByteArray();
  }

  private Path write(String name, byte[] content) throws IOException {
    Path p = dir.resolve(name);
    if (name.endsWith(".gz")) {
      try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(p))) {
        out.write(content);
      }
    } else {
      Files.write(p, content);
    }
    return p;
  }

  private static void assertContent(IdxDataset ds) {
    assertEquals(N, ds.size());
    assertEquals(8, ds.numClasses()); // max label 7 + 1
    for (int i = 0; i < N; i++) {
      Image img = ds.image(i);
      assertEquals(ROWS, img.height());
      assertEquals(COLS, img.width());
      for (int y = 0; y < ROWS; y++) {
        for (int x = 0; x < COLS; x++) {
          float want = pixel(i, y, x) / 255f;
          int o = 3 * (y * COLS + x);
          assertArrayEquals(
              new float[] {want, want, want},
              Arrays.copyOfRange(img.rgb(), o, o + 3),
              "image " + i + " pixel (" + y + ", " + x + ")");
        }
      }
      assertEquals(LABELS[i], ds.label(i));
    }
  }

  @Test
  void readsPlainFiles() throws IOException {
    IdxDataset ds =
        IdxDataset.read(
            write("imgs-idx3-ubyte", goodImages()),
            write("lbls-idx1-ubyte", labelsFile(0x801, LABELS)));
    assertContent(ds);
    assertEquals("imgs-idx3-ubyte#2", ds.describe(2));
  }

  @Test
  void readsGzipFiles() throws IOException {
    assertContent(
        IdxDataset.read(
            write("imgs-idx3-ubyte.gz", goodImages()),
            write("lbls-idx1-ubyte.gz", labelsFile(0x801, LABELS))));
  }

  @Test
  void withoutLabelsEveryImageIsUnlabelled() throws IOException {
    IdxDataset ds = IdxDataset.read(write("imgs", goodImages()), null);
    assertEquals(ImageDataset.UNLABELLED, ds.label(1));
    assertEquals(0, ds.numClasses());
  }

  @Test
  void fashionMnistFindsSplitsPlainOrGz() throws IOException {
    write("train-images-idx3-ubyte.gz", goodImages());
    write("train-labels-idx1-ubyte", labelsFile(0x801, LABELS));
    write("t10k-images-idx3-ubyte", goodImages());
    write("t10k-labels-idx1-ubyte.gz", labelsFile(0x801, LABELS));
    assertContent(IdxDataset.fashionMnist(dir, "train"));
    assertContent(IdxDataset.fashionMnist(dir, "test"));
    IllegalArgumentException bad =
        assertThrows(IllegalArgumentException.class, () -> IdxDataset.fashionMnist(dir, "val"));
    assertTrue(bad.getMessage().contains("'val'") && bad.getMessage().contains("train, test"));
  }

  @Test
  void missingSplitFileIsNamed() throws IOException {
    write("train-images-idx3-ubyte.gz", goodImages());
    NoSuchFileException e =
        assertThrows(NoSuchFileException.class, () -> IdxDataset.fashionMnist(dir, "train"));
    assertTrue(e.getMessage().contains("train-labels-idx1-ubyte"), e.getMessage());
  }

  @Test
  void badMagicNamesFileAndExpectedValue() throws IOException {
    Path labelsAsImages = write("swapped.gz", labelsFile(0x801, LABELS));
    IOException e = assertThrows(IOException.class, () -> IdxDataset.read(labelsAsImages, null));
    assertTrue(e.getMessage().contains("swapped.gz"), e.getMessage());
    assertTrue(e.getMessage().contains("0x00000801"), e.getMessage());
    assertTrue(e.getMessage().contains("expected 0x00000803"), e.getMessage());

    Path images = write("imgs", goodImages());
    Path imagesAsLabels = write("lbls", goodImages());
    IOException e2 = assertThrows(IOException.class, () -> IdxDataset.read(images, imagesAsLabels));
    assertTrue(e2.getMessage().contains("lbls") && e2.getMessage().contains("0x00000801"));
  }

  @Test
  void truncatedFilesAreReported() throws IOException {
    byte[] shortBody = imagesFile(0x803, N, ROWS, COLS, N * ROWS * COLS - 5);
    for (String name : new String[] {"cut-idx3-ubyte", "cut-idx3-ubyte.gz"}) {
      Path p = write(name, shortBody);
      IOException e = assertThrows(IOException.class, () -> IdxDataset.read(p, null));
      assertTrue(e.getMessage().contains(name), e.getMessage());
      assertTrue(e.getMessage().contains("truncated"), e.getMessage());
      assertTrue(e.getMessage().contains("24 bytes"), e.getMessage()); // 3 x 2 x 4 promised
    }
    Path header = write("header-only", Arrays.copyOf(goodImages(), 10));
    IOException e = assertThrows(IOException.class, () -> IdxDataset.read(header, null));
    assertTrue(e.getMessage().contains("truncated IDX header"), e.getMessage());

    // A gzip file cut in the middle of its compressed stream.
    Path gz = write("whole.gz", goodImages());
    byte[] gzBytes = Files.readAllBytes(gz);
    Path cutGz = dir.resolve("cut-stream.gz");
    Files.write(cutGz, Arrays.copyOf(gzBytes, gzBytes.length - 12));
    IOException e3 = assertThrows(IOException.class, () -> IdxDataset.read(cutGz, null));
    assertTrue(e3.getMessage().contains("cut-stream.gz"), e3.getMessage());
  }

  @Test
  void labelCountMustMatchImageCount() throws IOException {
    Path images = write("imgs", goodImages());
    Path labels = write("lbls", labelsFile(0x801, new byte[] {1, 2}));
    IOException e = assertThrows(IOException.class, () -> IdxDataset.read(images, labels));
    assertTrue(e.getMessage().contains("2 labels") && e.getMessage().contains("3 images"));
  }

  @Test
  void trailingBytesAreAnError() throws IOException {
    byte[] good = goodImages();
    Path p = write("long", Arrays.copyOf(good, good.length + 1));
    IOException e = assertThrows(IOException.class, () -> IdxDataset.read(p, null));
    assertTrue(e.getMessage().contains("longer than its header"), e.getMessage());
  }

  @Test
  void locateUsesConfiguredPathAndSaysHowToGetData() throws IOException {
    write("train-images-idx3-ubyte.gz", goodImages());
    assertEquals(dir, IdxDataset.locateFashionMnist(dir.toString()));
    Path empty = Files.createDirectory(dir.resolve("empty"));
    NoSuchFileException e =
        assertThrows(
            NoSuchFileException.class, () -> IdxDataset.locateFashionMnist(empty.toString()));
    assertTrue(e.getMessage().contains(empty.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("make data"), e.getMessage());
  }

  /** The Debian package's files, as CI installs them; numbers from numpy on the same files. */
  @Test
  void readsInstalledFashionMnist() throws IOException {
    assumeTrue(
        Files.isDirectory(IdxDataset.SYSTEM_FASHION_MNIST),
        "dataset-fashion-mnist is not installed");
    assertEquals(IdxDataset.SYSTEM_FASHION_MNIST, IdxDataset.locateFashionMnist(""));
    IdxDataset train = IdxDataset.fashionMnist(IdxDataset.SYSTEM_FASHION_MNIST, "train");
    assertEquals(60000, train.size());
    assertEquals(10, train.numClasses());
    assertEquals(9, train.label(0)); // ankle boot
    assertEquals(0, train.label(1));
    Image first = train.image(0);
    assertEquals(28, first.height());
    assertEquals(28, first.width());
    double sum = 0;
    for (int p = 0; p < 28 * 28; p++) {
      sum += first.rgb()[3 * p];
    }
    assertEquals(76247, Math.round(sum * 255)); // numpy: a[0].sum()
    int[] row14 = {0, 0, 237, 226, 217, 223, 222, 219}; // numpy: a[0][14, 10:18]
    for (int x = 0; x < row14.length; x++) {
      assertEquals(row14[x] / 255f, first.rgb()[3 * (14 * 28 + 10 + x)]);
    }
    assertEquals(10000, IdxDataset.fashionMnist(IdxDataset.SYSTEM_FASHION_MNIST, "test").size());
  }
}
