package dev.dino4j.config;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The shipped recipes load (Maven runs tests in the project root) and say what they should. */
class RecipesTest {

  @Test
  void fashionMnistTinyLoads() {
    DinoConfig c = ConfigLoader.load(Path.of("configs/fmnist-tiny.yaml"), List.of());
    assertEquals("fashion-mnist", c.data().source());
    assertArrayEquals(new float[] {0.286f, 0.286f, 0.286f}, c.data().mean());
    assertArrayEquals(new float[] {0.353f, 0.353f, 0.353f}, c.data().std());
    assertEquals(new DinoConfig.Model("custom", 4, 128, 4, 4, 4.0, 0.1), c.model());
    assertEquals(28, c.augment().globalSize()); // the images' own size, 7 x 7 patches
    assertEquals(12, c.augment().localSize());
    assertEquals(6, c.augment().localCrops());
    assertArrayEquals(new double[] {0.1, 0.4}, c.augment().localScale());
    assertEquals(new DinoConfig.Head(4096, 512, 128, 3, true), c.head());
    assertEquals(80, c.train().epochs());
    assertEquals(64, c.train().batchSize());
    assertEquals(3, c.optim().warmupEpochs());
    assertEquals(312, c.train().stepsPerEpoch());
    assertEquals(50, c.optim().freezeLastLayer()); // prototypes fixed for 50 of the 80 epochs (62%, as run O)
    assertEquals(0.3, c.loss().koleoWeight()); // KoLeo 0.3: 81.56% against 79.31% without (docs/tuning.md)
    assertEquals("runs/fmnist-tiny", c.train().outputDir());
    ConfigLoaderTest.assertRoundTrip(c);
  }

  @Test
  void vitSmall16ImageNetLoads() {
    DinoConfig c = ConfigLoader.load(Path.of("configs/vit-s16-imagenet.yaml"), List.of());
    assertEquals("folder", c.data().source());
    assertEquals("/data/imagenet/train", c.data().path());
    assertEquals(new DinoConfig.Model("small", 16, 384, 12, 6, 4.0, 0.1), c.model());
    assertEquals(new DinoConfig.Loss(0.1, 0.07, 0.04, 30, 0.9), c.loss());
    assertEquals(65536, c.head().outDim());
    assertEquals(8, c.augment().localCrops());
    assertEquals(100, c.train().epochs());
    assertEquals(64, c.train().batchSize());
    // apart from data, teacher temperature and run bookkeeping, it is the defaults
    assertEquals(Defaults.augment(), c.augment());
    assertEquals(Defaults.model(), c.model());
    assertEquals(Defaults.head(), c.head());
    assertEquals(Defaults.optim(), c.optim());
    ConfigLoaderTest.assertRoundTrip(c);
  }
}
