package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.AugmentPreview;
import dev.dino4j.data.Image;
import dev.dino4j.data.ImageFolderDataset;
import dev.dino4j.data.MultiCrop;
import dev.dino4j.data.MultiCropBatch;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code dino4j preview}: the grid's size, and its view cells against the views recomputed with
 * MultiCrop and the same seed, without normalisation (so the un-normalisation is checked too).
 */
class PreviewCommandTest {

  private static final int G = 24; // global view side
  private static final int L = 12; // local view side
  private static final int LOCALS = 3;
  private static final int SCALE = 2;
  private static final long SEED = 7;

  /** A colourful recipe with a non-trivial mean/std, so channel mix-ups and un-normalisation show. */
  private static final List<String> RECIPE = List.of(
      "augment.global_size=" + G, "augment.local_size=" + L, "augment.local_crops=" + LOCALS,
      "augment.saturation=0.2", "augment.hue=0.1", "augment.grayscale_p=0.2",
      "data.mean=[0.4, 0.5, 0.6]", "data.std=[0.2, 0.25, 0.3]");

  private record Run(int code, String out, String err) {}

  private static Run cli(String... args) {
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new PreviewCommand());
    cmd.setExecutionExceptionHandler(new Errors());
    cmd.setErr(new PrintWriter(err, true));
    PrintStream stdout = System.out;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    System.setOut(new PrintStream(out, true));
    int code;
    try {
      code = cmd.execute(args);
    } finally {
      System.setOut(stdout);
    }
    return new Run(code, out.toString(), err.toString());
  }

  private static List<String> recipeArgs() {
    List<String> args = new ArrayList<>(List.of("--config", "configs/fmnist-tiny.yaml"));
    for (String kv : RECIPE) {
      args.add("--set");
      args.add(kv);
    }
    return args;
  }

  /** Smooth colour ramps with a bright square: every channel differs and crops look different. */
  private static void writeImage(Path file, int w, int h, int salt) throws IOException {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int r = (255 * x / (w - 1) + 40 * salt) % 256;
        int g = 255 * y / (h - 1);
        int b = (x > w / 3 && x < w / 2 && y > h / 4 && y < h / 2) ? 250 : (60 + 30 * salt);
        img.setRGB(x, y, (r << 16) | (g << 8) | b);
      }
    }
    assertTrue(ImageIO.write(img, "png", file.toFile())); // lossless: decode gives these values
  }

  @Test
  void gridCellsAreTheUnnormalisedViews(@TempDir Path tmp) throws IOException {
    Path folder = tmp.resolve("images");
    Files.createDirectories(folder);
    writeImage(folder.resolve("a.png"), 40, 30, 0);
    writeImage(folder.resolve("b.png"), 30, 44, 1);
    writeImage(folder.resolve("c.png"), 36, 36, 2);
    int rows = 4; // more rows than images: one image comes back with other views
    Path png = tmp.resolve("out/grid.png");
    List<String> args = recipeArgs();
    args.addAll(List.of(folder.toString(), "--images", "" + rows, "--seed", "" + SEED, "--scale", "" + SCALE,
        "--out", png.toString()));
    Run r = cli(args.toArray(String[]::new));
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains(png.toString()), r.out());

    BufferedImage grid = ImageIO.read(png.toFile());
    int side = G * SCALE;
    int cols = 1 + 2 + LOCALS;
    int sep = AugmentPreview.SEPARATOR;
    assertEquals(cols * side + (cols - 1) * sep, grid.getWidth());
    assertEquals(rows * side + (rows - 1) * sep, grid.getHeight());

    // Independent recomputation: the same recipe without normalisation gives the views in [0, 1].
    DinoConfig cfg = ConfigLoader.load(Path.of("configs/fmnist-tiny.yaml"), RECIPE);
    MultiCrop raw = new MultiCrop(cfg.augment(), new float[] {0, 0, 0}, new float[] {1, 1, 1});
    MultiCropBatch views = raw.newBatch(1);
    ImageFolderDataset ds = new ImageFolderDataset(folder);
    int[] picked = AugmentPreview.pick(ds.size(), rows, SEED);
    for (int row = 0; row < rows; row++) {
      Image img = ds.image(picked[row]);
      raw.apply(img, new SplittableRandom(AugmentPreview.rowSeed(SEED, row)), views, 0);
      int y0 = row * (side + sep);
      for (int v = 0; v < 2; v++) {
        assertCell(grid, views.globals(), views.globalOffset(v, 0), G, (1 + v) * (side + sep), y0,
            "row " + row + " global " + v);
      }
      for (int v = 0; v < LOCALS; v++) {
        int x0 = (3 + v) * (side + sep);
        int pad = (side - L * SCALE) / 2; // local views sit at their own size in the cell's centre
        assertCell(grid, views.locals(), views.localOffset(v, 0), L, x0 + pad, y0 + pad, "row " + row + " local " + v);
        assertEquals(0x404040, grid.getRGB(x0, y0) & 0xFFFFFF, "padding around local view " + v);
      }
      if (row > 0) {
        assertEquals(0xFFFFFF, grid.getRGB(side / 2, y0 - 1) & 0xFFFFFF, "separator above row " + row);
      }
    }
    // Image a (40x30) letterboxed: 24x18 px, 3 px bands above and below (x SCALE).
    int rowA = -1;
    for (int row = 0; row < rows && rowA < 0; row++) {
      rowA = picked[row] == 0 ? row : -1;
    }
    if (rowA >= 0) {
      int y0 = rowA * (side + sep);
      assertEquals(0x404040, grid.getRGB(side / 2, y0 + 2 * SCALE) & 0xFFFFFF, "band above the original");
      assertTrue((grid.getRGB(side / 2, y0 + side / 2) & 0xFFFFFF) != 0x404040, "original drawn in the middle");
    }
  }

  /** Every pixel of a view's cell: the 8-bit value of the raw view, shown as SCALE x SCALE blocks. */
  private static void assertCell(BufferedImage grid, float[] view, int off, int size, int x0, int y0, String what) {
    for (int y = 0; y < size * SCALE; y++) {
      for (int x = 0; x < size * SCALE; x++) {
        int o = off + ((y / SCALE) * size + x / SCALE) * 3;
        int rgb = grid.getRGB(x0 + x, y0 + y);
        for (int c = 0; c < 3; c++) {
          int expected = Math.round(Math.max(0f, Math.min(1f, view[o + c])) * 255f);
          int got = (rgb >> (16 - 8 * c)) & 0xFF;
          // 1 level: (x - m) / s * s + m is x only up to float rounding, which can cross a .5
          assertTrue(Math.abs(expected - got) <= 1,
              what + " pixel (" + y + ", " + x + ") channel " + c + ": expected " + expected + ", got " + got);
        }
      }
    }
  }

  @Test
  void singleFileGivesOneRowPerDraw(@TempDir Path tmp) throws IOException {
    Path file = tmp.resolve("one.png");
    writeImage(file, 30, 20, 1);
    Path png = tmp.resolve("one-grid.png");
    List<String> args = recipeArgs();
    args.addAll(List.of(file.toString(), "--images", "2", "--scale", "1", "--out", png.toString()));
    Run r = cli(args.toArray(String[]::new));
    assertEquals(0, r.code(), r.err());
    BufferedImage grid = ImageIO.read(png.toFile());
    assertEquals(6 * G + 5 * AugmentPreview.SEPARATOR, grid.getWidth());
    assertEquals(2 * G + AugmentPreview.SEPARATOR, grid.getHeight());
  }

  @Test
  void badInputExits2NamingIt(@TempDir Path tmp) throws IOException {
    Run missing = cli(tmp.resolve("nope.jpg").toString(), "--out", tmp.resolve("p.png").toString());
    assertEquals(2, missing.code(), missing.err());
    assertTrue(missing.err().contains("nope.jpg") && missing.err().contains("fashion-mnist"), missing.err());
    Path junk = tmp.resolve("junk.png");
    Files.writeString(junk, "not an image");
    Run undecodable = cli(junk.toString(), "--out", tmp.resolve("p.png").toString());
    assertEquals(2, undecodable.code(), undecodable.err());
    assertTrue(undecodable.err().contains("junk.png"), undecodable.err());
    Run rows = cli(junk.toString(), "--images", "0");
    assertEquals(2, rows.code(), rows.err());
    assertTrue(rows.err().contains("--images") && rows.err().contains("0"), rows.err());
    Run out = cli(junk.toString(), "--out", tmp.resolve("p.jpg").toString());
    assertEquals(2, out.code(), out.err());
    assertTrue(out.err().contains("p.jpg"), out.err());
    Run config = cli(junk.toString(), "--set", "augment.local_size=-3");
    assertEquals(2, config.code(), config.err());
    assertTrue(config.err().contains("augment.local_size"), config.err());
  }
}
