package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The data benchmark's generated JPEGs are cached and decodable; its loader timing runs end to end.
 */
class DataBenchmarkTest {

  @Test
  void jpegsAreGeneratedOnceAndReused(@TempDir Path tmp) throws IOException {
    DataBenchmark.JpegFolder f = DataBenchmark.jpegFolder(tmp, 3, 50, 30);
    try (var files = Files.list(f.dir())) {
      assertEquals(3, files.count(), "no leftover .part files");
    }
    Path first = f.dir().resolve("img-0000.jpg");
    BufferedImage img = ImageIO.read(first.toFile());
    assertEquals(50, img.getWidth());
    assertEquals(30, img.getHeight());
    FileTime written = FileTime.fromMillis(0);
    Files.setLastModifiedTime(first, written);
    DataBenchmark.JpegFolder again = DataBenchmark.jpegFolder(tmp, 3, 50, 30);
    assertEquals(f.dir(), again.dir());
    assertEquals(written, Files.getLastModifiedTime(first), "a cached file was rewritten");
  }

  @Test
  void throughputCoversEveryWorkerCount(@TempDir Path tmp) throws IOException {
    DataBenchmark.JpegFolder f = DataBenchmark.jpegFolder(tmp, 4, 40, 30);
    DinoConfig cfg = ConfigLoader.load(Path.of("configs/fmnist-tiny.yaml"), List.of());
    DataBenchmark.Throughput t = DataBenchmark.throughput(f.dir(), cfg, new int[] {1, 2}, 2);
    assertTrue(t.decodeMs() > 0 && t.augmentMs() > 0, t.toString());
    assertEquals(2, t.loader().size());
    assertEquals(2, t.loader().get(1).workers());
    assertEquals(4, t.loader().get(0).images(), "one epoch of 4 images in batches of 2");
    assertTrue(t.loader().get(1).imagesPerSec() > 0, t.toString());
  }

  @Test
  @Tag("slow")
  void dataWaitTrainsTheShippedRecipeForAFewSteps(@TempDir Path tmp) throws IOException {
    assumeTrue(Files.isDirectory(Path.of("/usr/share/datasets/fashion-mnist")), "Fashion-MNIST not installed (make data)");
    // the recipe warms up over more epochs than the one epoch this trains: must still be accepted
    DataBenchmark.TrainingWait w = DataBenchmark.trainingWait(Path.of("configs/fmnist-tiny.yaml"), 3, tmp);
    assertEquals(3, w.steps());
    assertEquals(64, w.batchSize());
  }
}
