package dev.dino4j.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dino4j.data.Cifar10Dataset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cifar10Dataset on an arbitrary test_batch.bin, and on an arbitrary batches.meta.txt next to a
 * valid one: a dataset whose labels are classes, or an IOException naming the file.
 */
@Tag("fuzz")
class Cifar10DatasetFuzzTest {

  private static final int RECORD = 1 + 3 * 32 * 32;

  @TempDir static Path dir;

  /** The first byte picks the file: 'b' test_batch.bin, else batches.meta.txt next to a valid batch. */
  @FuzzTest
  void open(byte[] data) throws IOException {
    if (data.length == 0) {
      return;
    }
    byte[] file = Arrays.copyOfRange(data, 1, data.length);
    Path root = Files.createDirectories(dir.resolve("cifar-10-batches-bin"));
    Files.deleteIfExists(root.resolve("batches.meta.txt"));
    if (data[0] == 'b') {
      Files.write(root.resolve("test_batch.bin"), file);
      open(root, root.resolve("test_batch.bin"));
    } else {
      byte[] records = new byte[2 * RECORD];
      records[RECORD] = 9; // labels 0 and 9
      Files.write(root.resolve("test_batch.bin"), records);
      Files.write(root.resolve("batches.meta.txt"), file);
      open(root, root.resolve("batches.meta.txt"));
    }
  }

  private static void open(Path root, Path fuzzed) {
    Cifar10Dataset d;
    try {
      d = Cifar10Dataset.open(root, "test");
    } catch (IOException e) {
      assertTrue(e.getMessage() != null && e.getMessage().startsWith(fuzzed.toString()), String.valueOf(e));
      return;
    }
    for (int i = 0; i < d.size(); i++) {
      assertTrue(d.label(i) >= 0 && d.label(i) < d.numClasses());
      d.image(i);
    }
  }
}
