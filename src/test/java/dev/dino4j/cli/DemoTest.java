package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code make demo}'s script end to end, on a schedule shrunk to 4 x 6 steps: every output is there and readable. */
class DemoTest {

  @Test
  @Tag("slow")
  void theDemoWritesEveryPictureAndTheTable(@TempDir Path tmp) throws Exception {
    assumeTrue(Files.isDirectory(Path.of("/usr/share/datasets/fashion-mnist")) || Files.isDirectory(Path.of("data/fashion-mnist")),
        "Fashion-MNIST not installed (make data)");
    assumeTrue(Files.isDirectory(Path.of("target/lib")), "bin/dino4j needs make build");
    Path out = tmp.resolve("demo");
    ProcessBuilder pb = new ProcessBuilder("scripts/demo.sh").redirectErrorStream(true)
        .redirectOutput(tmp.resolve("demo.out").toFile());
    pb.environment().put("DEMO_OUT", out.toString());
    pb.environment().put("DEMO_ARGS", "--set train.steps_per_epoch=6 --set train.log_every=2 "
        + "--set eval.knn_train_limit=300 --set eval.knn_test_limit=100");
    pb.environment().put("DEMO_BANK", "300");
    pb.environment().put("DEMO_QUERIES", "100");
    Process p = pb.start();
    assertTrue(p.waitFor(15, TimeUnit.MINUTES), "demo did not finish in 15 minutes");
    String log = Files.readString(tmp.resolve("demo.out"));
    assertEquals(0, p.exitValue(), log);

    String table = Files.readString(out.resolve("knn.txt"));
    for (String row : new String[] {"DINO teacher", "raw pixels [0, 1]", "same ViT, random init"}) {
      assertTrue(table.contains(row), "knn.txt lacks " + row + ":\n" + table);
    }
    assertTrue(log.contains("== demo: done in"), log);
    assertReadablePng(out.resolve("report.png"), 2240, 816);
    assertReadablePng(out.resolve("curves.png"), 1100, 700);
    assertReadablePng(out.resolve("preview.png"), 0, 0);
    try (Stream<Path> dirs = Files.list(out.resolve("attention"))) {
      assertEquals(4, dirs.filter(d -> Files.exists(d.resolve("summary.png"))).count(), "4 attention summaries");
    }
    assertTrue(Files.exists(out.resolve("attention/000-Ankle-boot/summary.png")),
        "attention folders are named after the test image's class");
    // the in-training checks: one per epoch, each a point of report.png's k-NN panel
    long checks = Files.readAllLines(out.resolve("metrics.jsonl")).stream().filter(l -> l.contains("knn_top1")).count();
    assertEquals(4, checks);
  }

  private static void assertReadablePng(Path png, int width, int height) throws Exception {
    assertTrue(Files.exists(png), png + " missing");
    BufferedImage img = ImageIO.read(png.toFile());
    if (width > 0) {
      assertEquals(width, img.getWidth(), png.toString());
      assertEquals(height, img.getHeight(), png.toString());
    }
    assertTrue(img.getWidth() > 100 && img.getHeight() > 100, png.toString());
  }
}
