package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderDatasetTest {

  @TempDir Path dir;

  /** RGB test card: pixel (y, x) = (40 y + 10, 50 x + 5, 200 - 30 y). */
  private static BufferedImage rgbCard(int h, int w) {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, ((40 * y + 10) << 16) | ((50 * x + 5) << 8) | (200 - 30 * y));
      }
    }
    return img;
  }

  private static void assertRgbCard(Image img, float tolerance) {
    for (int y = 0; y < img.height(); y++) {
      for (int x = 0; x < img.width(); x++) {
        int o = 3 * (y * img.width() + x);
        assertEquals((40 * y + 10) / 255f, img.rgb()[o], tolerance, "R at " + y + "," + x);
        assertEquals((50 * x + 5) / 255f, img.rgb()[o + 1], tolerance, "G at " + y + "," + x);
        assertEquals((200 - 30 * y) / 255f, img.rgb()[o + 2], tolerance, "B at " + y + "," + x);
      }
    }
  }

  private Path save(BufferedImage img, String format, String relative) throws IOException {
    Path p = dir.resolve(relative);
    Files.createDirectories(p.getParent());
    assertTrue(ImageIO.write(img, format, p.toFile()), "no ImageIO writer for " + format);
    return p;
  }

  @Test
  void classFoldersGiveSortedLabels() throws IOException {
    save(rgbCard(3, 4), "png", "zebra/b.png");
    save(rgbCard(3, 4), "bmp", "zebra/a.bmp");
    save(rgbCard(3, 4), "png", "ant/x.PNG");
    Files.writeString(dir.resolve("ant/notes.txt"), "not an image");
    ImageFolderDataset ds = new ImageFolderDataset(dir);
    assertEquals(List.of("ant", "zebra"), ds.classes());
    assertEquals(2, ds.numClasses());
    assertEquals(3, ds.size());
    assertEquals(0, ds.label(0));
    assertTrue(ds.describe(0).endsWith("x.PNG"));
    assertEquals(1, ds.label(1));
    assertTrue(ds.describe(1).endsWith("a.bmp"));
    assertTrue(ds.describe(2).endsWith("b.png"));
    for (int i = 0; i < 3; i++) {
      assertRgbCard(ds.image(i), 0f); // lossless formats: exact
    }
  }

  @Test
  void flatFolderIsUnlabelled() throws IOException {
    // JPEG is lossy: a flat colour survives it to within a level or two, and shows the channel
    // order (RGB, not BGR).
    BufferedImage flat = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 16; y++) {
      for (int x = 0; x < 16; x++) {
        flat.setRGB(x, y, (200 << 16) | (100 << 8) | 50);
      }
    }
    save(flat, "jpg", "one.jpg");
    save(rgbCard(5, 4), "png", "two.png");
    ImageFolderDataset ds = new ImageFolderDataset(dir);
    assertEquals(2, ds.size());
    assertEquals(0, ds.numClasses());
    assertEquals(ImageDataset.UNLABELLED, ds.label(0));
    Image jpg = ds.image(0);
    for (int p = 0; p < 16 * 16; p++) {
      assertEquals(200 / 255f, jpg.rgb()[3 * p], 3 / 255f);
      assertEquals(100 / 255f, jpg.rgb()[3 * p + 1], 3 / 255f);
      assertEquals(50 / 255f, jpg.rgb()[3 * p + 2], 3 / 255f);
    }
    assertRgbCard(ds.image(1), 0f);
  }

  @Test
  void grayPngKeepsItsValues() throws IOException {
    // getRGB() would treat 8-bit gray as linear light and return 186 for 128; PIL returns 128.
    BufferedImage gray = new BufferedImage(3, 1, BufferedImage.TYPE_BYTE_GRAY);
    gray.getRaster().setSamples(0, 0, 3, 1, 0, new int[] {0, 128, 255});
    save(gray, "png", "g.png");
    BufferedImage gray16 = new BufferedImage(2, 1, BufferedImage.TYPE_USHORT_GRAY);
    gray16.getRaster().setSamples(0, 0, 2, 1, 0, new int[] {65535, 32768});
    save(gray16, "png", "g16.png");
    ImageFolderDataset ds = new ImageFolderDataset(dir);
    Image img = ds.image(0);
    assertTrue(ds.describe(0).endsWith("g.png"));
    float[] want = {0, 0, 0, 128 / 255f, 128 / 255f, 128 / 255f, 1, 1, 1};
    for (int i = 0; i < want.length; i++) {
      assertEquals(want[i], img.rgb()[i], 1e-7f);
    }
    Image img16 = ds.image(1);
    assertEquals(1f, img16.rgb()[0], 1e-7f);
    assertEquals(32768 / 65535f, img16.rgb()[5], 1e-7f);
  }

  @Test
  void paletteGifBecomesRgb() throws IOException {
    byte[] r = {(byte) 255, 0, 17};
    byte[] g = {0, (byte) 255, 34};
    byte[] b = {0, 0, 51};
    BufferedImage pal =
        new BufferedImage(
            3, 1, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(2, 3, r, g, b));
    pal.getRaster().setSamples(0, 0, 3, 1, 0, new int[] {2, 0, 1});
    save(pal, "gif", "p.gif");
    Image img = new ImageFolderDataset(dir).image(0);
    float[] want = {17, 34, 51, 255, 0, 0, 0, 255, 0};
    for (int i = 0; i < want.length; i++) {
      assertEquals(want[i] / 255f, img.rgb()[i], 1e-7f, "value " + i);
    }
  }

  @Test
  void undecodableFileIsNamed() throws IOException {
    Path bad = dir.resolve("broken.png");
    Files.write(bad, new byte[] {1, 2, 3, 4, 5});
    ImageFolderDataset ds = new ImageFolderDataset(dir);
    IOException e = assertThrows(IOException.class, () -> ds.image(0));
    assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
  }

  @Test
  void folderWithoutImagesIsAnError() throws IOException {
    Files.writeString(dir.resolve("readme.txt"), "hi");
    IOException e = assertThrows(IOException.class, () -> new ImageFolderDataset(dir));
    assertTrue(e.getMessage().contains("no image files"), e.getMessage());
    IOException missing =
        assertThrows(IOException.class, () -> new ImageFolderDataset(dir.resolve("nope")));
    assertTrue(missing.getMessage().contains("nope"), missing.getMessage());
  }

  @Test
  void labelsModeDecidesBetweenClassesAndOneNestedSet() throws IOException {
    save(rgbCard(2, 2), "png", "2019/jan/a.png");
    save(rgbCard(2, 2), "png", "2020/b.png");
    save(rgbCard(2, 2), "png", "top.png");
    ImageFolderDataset auto = new ImageFolderDataset(dir, "auto", Long.MAX_VALUE, null);
    assertEquals(List.of("2019", "2020"), auto.classes());
    assertEquals(2, auto.size()); // top.png sits next to the class folders: not used
    ImageFolderDataset none = new ImageFolderDataset(dir, "none", Long.MAX_VALUE, null);
    assertEquals(0, none.numClasses());
    assertEquals(3, none.size());
    assertTrue(none.describe(0).endsWith("2019/jan/a.png"), none.describe(0));
    assertTrue(none.describe(2).endsWith("top.png"), none.describe(2));
    for (int i = 0; i < 3; i++) {
      assertEquals(ImageDataset.UNLABELLED, none.label(i));
    }
  }

  @Test
  void indexIsStoredReusedAndRebuiltWhenAFolderChanges() throws IOException {
    Path data = dir.resolve("data");
    Path runDir = dir.resolve("run");
    save(rgbCard(2, 2), "png", "data/cat/1.png");
    save(rgbCard(2, 2), "png", "data/dog/2.png");
    ImageFolderDataset first = new ImageFolderDataset(data, "auto", Long.MAX_VALUE, runDir);
    assertEquals(2, first.size());
    List<Path> stored;
    try (var l = Files.list(runDir)) {
      stored = l.toList();
    }
    assertEquals(1, stored.size(), stored.toString());
    assertTrue(stored.get(0).getFileName().toString().startsWith("image-index-data-"));

    // A file added with its folder's mtime put back: the stored index is trusted, which shows that
    // reopening does not walk the files again.
    Path cat = data.resolve("cat");
    FileTime before = Files.getLastModifiedTime(cat);
    save(rgbCard(2, 2), "png", "data/cat/0.png");
    Files.setLastModifiedTime(cat, before);
    ImageFolderDataset reused = new ImageFolderDataset(data, "auto", Long.MAX_VALUE, runDir);
    assertEquals(2, reused.size());
    assertEquals(List.of("cat", "dog"), reused.classes());
    assertEquals(1, reused.label(1));

    // The folder's mtime moves on: the index is rebuilt and sees the new file.
    Files.setLastModifiedTime(cat, FileTime.fromMillis(before.toMillis() + 5000));
    ImageFolderDataset rebuilt = new ImageFolderDataset(data, "auto", Long.MAX_VALUE, runDir);
    assertEquals(3, rebuilt.size());
    assertTrue(rebuilt.describe(0).endsWith("cat/0.png"), rebuilt.describe(0));

    // A damaged index is rebuilt, not trusted.
    Files.write(stored.get(0), new byte[] {31, -117, 8, 0, 1, 2});
    assertEquals(3, new ImageFolderDataset(data, "auto", Long.MAX_VALUE, runDir).size());
    // Another labels mode of the same folder has an index of its own.
    assertEquals(3, new ImageFolderDataset(data, "none", Long.MAX_VALUE, runDir).size());
    try (var l = Files.list(runDir)) {
      assertEquals(2, l.filter(p -> p.toString().endsWith(".tsv.gz")).count());
    }
  }

  @Test
  void indexKeepsOddFileNamesAndBrokenLinks() throws IOException {
    Path data = dir.resolve("data");
    save(rgbCard(2, 2), "png", "data/tab\there.png");
    Files.createSymbolicLink(data.resolve("gone.jpg"), data.resolve("missing.jpg"));
    Path runDir = dir.resolve("run");
    ImageFolderDataset built = new ImageFolderDataset(data, "none", Long.MAX_VALUE, runDir);
    ImageFolderDataset read = new ImageFolderDataset(data, "none", Long.MAX_VALUE, runDir);
    assertEquals(2, read.size());
    for (int i = 0; i < 2; i++) {
      assertEquals(built.describe(i), read.describe(i));
    }
    assertTrue(read.describe(0).endsWith("gone.jpg"));
    // The broken link is listed, and reading it fails naming it (the loader then skips it).
    IOException e = assertThrows(IOException.class, () -> read.image(0));
    assertTrue(e.getMessage().contains("gone.jpg"), e.getMessage());
    assertRgbCard(read.image(1), 0f);
  }
}
