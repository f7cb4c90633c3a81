package dev.dino4j.config;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The defaults are the DINO reference values (docs: shared REFERENCE.md), typed out here again. */
class DefaultsTest {
  private final DinoConfig c = ConfigLoader.defaults();

  @Test
  void dataDefaults() {
    DinoConfig.Data d = c.data();
    assertEquals("fashion-mnist", d.source());
    assertEquals("", d.path());
    assertEquals("train", d.split());
    assertEquals(2, d.workers());
    assertEquals(4, d.prefetch());
    assertArrayEquals(new float[] {0.485f, 0.456f, 0.406f}, d.mean());
    assertArrayEquals(new float[] {0.229f, 0.224f, 0.225f}, d.std());
  }

  @Test
  void augmentDefaults() {
    DinoConfig.Augment a = c.augment();
    assertEquals(224, a.globalSize());
    assertEquals(96, a.localSize());
    assertEquals(8, a.localCrops());
    assertEquals(10, a.crops());
    assertArrayEquals(new double[] {0.4, 1.0}, a.globalScale());
    assertArrayEquals(new double[] {0.05, 0.4}, a.localScale());
    assertEquals(0.5, a.flipP());
    assertEquals(0.8, a.colorJitterP());
    assertEquals(0.4, a.brightness());
    assertEquals(0.4, a.contrast());
    assertEquals(0.2, a.saturation());
    assertEquals(0.1, a.hue());
    assertEquals(0.2, a.grayscaleP());
    assertEquals(1.0, a.blurPGlobal1());
    assertEquals(0.1, a.blurPGlobal2());
    assertEquals(0.5, a.blurPLocal());
    assertEquals(0.1, a.blurSigmaMin());
    assertEquals(2.0, a.blurSigmaMax());
    assertEquals(0.2, a.solarizeP());
  }

  @Test
  void modelAndHeadDefaultsAreViTSmall16() {
    assertEquals(new DinoConfig.Model("small", 16, 384, 12, 6, 4.0, 0.1), c.model());
    assertEquals(new DinoConfig.Head(65536, 2048, 256, 3, true), c.head());
  }

  @Test
  void lossOptimTrainDefaults() {
    assertEquals(new DinoConfig.Loss(0.1, 0.04, 0.04, 0, 0.9), c.loss());
    assertEquals(
        new DinoConfig.Optim(0.0005, 1e-6, 10, 0.04, 0.4, 3.0, 1, 0.996, 0.9, 0.999, 1e-8),
        c.optim());
    assertEquals(new DinoConfig.Train(100, 64, 0L, 0, "runs/dino", 10, 0, "fp32", 0, 0, "auto"), c.train());
  }

  @Test
  void emptyYamlIsTheDefaults() {
    assertEquals(c, ConfigLoader.fromYaml("", List.of()));
    assertEquals(c, ConfigLoader.fromYaml("# only a comment\n", List.of()));
    assertEquals(c, Defaults.config());
  }

  @Test
  void arraysAreCopiedInAndOut() {
    float[] mean = {0.1f, 0.2f, 0.3f};
    DinoConfig.Data d = new DinoConfig.Data("idx", "", "train", "auto", "skip", 1000L, 1, 1, mean, mean);
    mean[0] = 9f;
    d.mean()[1] = 9f;
    assertArrayEquals(new float[] {0.1f, 0.2f, 0.3f}, d.mean());
    assertTrue(d.toString().contains("[0.1, 0.2, 0.3]"), d.toString());
  }
}
