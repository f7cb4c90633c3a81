package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Cifar10DatasetTest {

  @TempDir Path dir;

  /** Record r of a file: label (r + file) mod 10, pixel value (plane c, p) = (7 r + 3 p + 50 c) mod 256. */
  private static byte[] batch(int records, int file) {
    byte[] b = new byte[records * Cifar10Dataset.RECORD];
    for (int r = 0; r < records; r++) {
      int o = r * Cifar10Dataset.RECORD;
      b[o] = (byte) ((r + file) % 10);
      for (int c = 0; c < 3; c++) {
        for (int p = 0; p < 1024; p++) {
          b[o + 1 + c * 1024 + p] = (byte) ((7 * r + 3 * p + 50 * c) % 256);
        }
      }
    }
    return b;
  }

  private Path writeBatches(Path root) throws IOException {
    Files.createDirectories(root);
    for (int f = 1; f <= 5; f++) {
      Files.write(root.resolve("data_batch_" + f + ".bin"), batch(3, f));
    }
    Files.write(root.resolve("test_batch.bin"), batch(4, 0));
    return root;
  }

  @Test
  void planesBecomeInterleavedRgbAcrossFiles() throws IOException {
    writeBatches(dir.resolve("cifar-10-batches-bin"));
    Cifar10Dataset train = Cifar10Dataset.open(dir, "train"); // the parent folder works too
    assertEquals(15, train.size());
    assertEquals(10, train.numClasses());
    assertEquals(Cifar10Dataset.CLASSES, train.classes());
    // index 7 = file 3 (data_batch_3), record 1
    assertEquals((1 + 3) % 10, train.label(7));
    assertTrue(train.describe(7).endsWith("data_batch_3.bin#1"), train.describe(7));
    Image img = train.image(7);
    assertEquals(32, img.height());
    int y = 5;
    int x = 9;
    int p = 32 * y + x;
    for (int c = 0; c < 3; c++) {
      assertEquals(((7 + 3 * p + 50 * c) % 256) / 255f, img.rgb()[3 * p + c], 1e-7f, "channel " + c);
    }
    Cifar10Dataset test = Cifar10Dataset.open(dir.resolve("cifar-10-batches-bin"), "test");
    assertEquals(4, test.size());
    assertEquals(3, test.label(3));
  }

  @Test
  void metaFileNamesTheClassesAndBadFilesAreNamed() throws IOException {
    Path root = writeBatches(dir.resolve("c"));
    List<String> names = List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j");
    Files.write(root.resolve("batches.meta.txt"), names);
    assertEquals(names, Cifar10Dataset.open(root, "test").classes());

    Files.write(root.resolve("test_batch.bin"), new byte[Cifar10Dataset.RECORD + 5]);
    IOException truncated = assertThrows(IOException.class, () -> Cifar10Dataset.open(root, "test"));
    assertTrue(truncated.getMessage().contains("test_batch.bin"), truncated.getMessage());
    Files.delete(root.resolve("data_batch_4.bin"));
    IOException missing = assertThrows(IOException.class, () -> Cifar10Dataset.open(root, "train"));
    assertTrue(missing.getMessage().contains("data_batch_4.bin"), missing.getMessage());
  }
}
