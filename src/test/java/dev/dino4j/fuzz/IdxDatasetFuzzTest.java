package dev.dino4j.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dino4j.data.IdxDataset;
import dev.dino4j.data.Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

/**
 * IdxDataset.read on arbitrary image files (plain and as .gz) and label files: a dataset whose images
 * and labels read back, or an IOException naming the file. Only the header may say how much to
 * allocate, and only as far as the file holds the bytes.
 */
@Tag("fuzz")
class IdxDatasetFuzzTest {

  @TempDir static Path dir;

  /** The first byte picks the file: 'i' the image file, 'z' the image file as .gz, else the label file. */
  @FuzzTest
  void read(byte[] data) throws IOException {
    if (data.length == 0) {
      return;
    }
    byte[] file = Arrays.copyOfRange(data, 1, data.length);
    if (data[0] == 'i') {
      read(write("images-idx3-ubyte", file), null);
    } else if (data[0] == 'z') {
      read(write("images-idx3-ubyte.gz", file), null);
    } else {
      // two valid 2x3 images, then the fuzzed label file
      ByteBuffer images = ByteBuffer.allocate(16 + 12).putInt(0x803).putInt(2).putInt(2).putInt(3);
      read(write("images-idx3-ubyte", images.array()), write("labels-idx1-ubyte", file));
    }
  }

  private static Path write(String name, byte[] data) throws IOException {
    return Files.write(dir.resolve(name), data);
  }

  private static void read(Path images, Path labels) {
    IdxDataset d;
    try {
      d = IdxDataset.read(images, labels);
    } catch (IOException e) {
      assertTrue(
          e.getMessage().startsWith(images.toString())
              || (labels != null && e.getMessage().startsWith(labels.toString())),
          e.getMessage());
      return;
    }
    for (int i = 0; i < Math.min(d.size(), 3); i++) {
      Image img = d.image(i);
      assertEquals(d.rows(), img.height());
      int label = d.label(i);
      assertTrue(label == -1 || label < d.numClasses());
    }
  }
}
