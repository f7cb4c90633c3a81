package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileListDatasetTest {

  @TempDir Path dir;

  @BeforeEach
  void images() throws IOException {
    Files.createDirectories(dir.resolve("img"));
    for (int i = 0; i < 3; i++) {
      BufferedImage b = new BufferedImage(2, 1, BufferedImage.TYPE_INT_RGB);
      b.setRGB(0, 0, (10 * i) << 16);
      b.setRGB(1, 0, 255);
      ImageIO.write(b, "png", dir.resolve("img/" + i + ".png").toFile());
    }
  }

  @Test
  void namedLabelsAreNumberedInSortedOrderAndFileOrderIsKept() throws IOException {
    Path list = dir.resolve("train.csv");
    Files.writeString(list, "path,label\n# a comment\nimg/2.png,zebra\n\nimg/0.png,ant\nimg/1.png,zebra\n");
    FileListDataset ds = new FileListDataset(list, Long.MAX_VALUE);
    assertEquals(3, ds.size());
    assertEquals(List.of("ant", "zebra"), ds.classes());
    assertEquals(1, ds.label(0));
    assertEquals(0, ds.label(1));
    assertTrue(ds.describe(0).endsWith("img/2.png"), ds.describe(0));
    Image img = ds.image(0);
    assertEquals(20 / 255f, img.rgb()[0], 1e-7f);
    assertEquals(1f, img.rgb()[5], 1e-7f);
  }

  @Test
  void integerLabelsAreClassIndicesAndTabsSeparate() throws IOException {
    Path list = dir.resolve("list.txt");
    Files.writeString(list, "img/0.png\t3\n" + dir.resolve("img/1.png") + "\t0\n");
    FileListDataset ds = new FileListDataset(list, Long.MAX_VALUE);
    assertEquals(4, ds.numClasses());
    assertEquals(3, ds.label(0));
    assertEquals(0, ds.label(1)); // absolute paths are taken as they are
  }

  @Test
  void unlabelledListAndBadLists() throws IOException {
    Path list = dir.resolve("u.txt");
    Files.writeString(list, "img/0.png\nimg/1.png\n");
    FileListDataset ds = new FileListDataset(list, Long.MAX_VALUE);
    assertEquals(0, ds.numClasses());
    assertEquals(ImageDataset.UNLABELLED, ds.label(1));

    Files.writeString(list, "img/0.png,a\nimg/1.png\n");
    IOException mixed = assertThrows(IOException.class, () -> new FileListDataset(list, 1));
    assertTrue(mixed.getMessage().contains("u.txt:2"), mixed.getMessage());
    Files.writeString(list, "img/0.png,a,b\n");
    IOException fields = assertThrows(IOException.class, () -> new FileListDataset(list, 1));
    assertTrue(fields.getMessage().contains("u.txt:1") && fields.getMessage().contains("3 fields"));
    Files.writeString(list, "# nothing\n");
    assertThrows(IOException.class, () -> new FileListDataset(list, 1));
    assertThrows(IOException.class, () -> new FileListDataset(dir.resolve("nope.txt"), 1));
  }
}
