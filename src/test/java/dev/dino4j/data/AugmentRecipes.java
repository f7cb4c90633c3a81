package dev.dino4j.data;

import dev.dino4j.config.DinoConfig;

/** Augment sections for tests: DINO's recipe at small sizes, and a recipe with every step off. */
final class AugmentRecipes {

  private AugmentRecipes() {}

  /** The official recipe (REFERENCE.md) at the given view sizes. */
  static DinoConfig.Augment dino(int globalSize, int localSize, int localCrops) {
    return new DinoConfig.Augment(
        globalSize,
        localSize,
        localCrops,
        new double[] {0.4, 1.0},
        new double[] {0.05, 0.4},
        0.5,
        0.8,
        0.4,
        0.4,
        0.2,
        0.1,
        0.2,
        1.0,
        0.1,
        0.5,
        0.1,
        2.0,
        0.2);
  }

  /**
   * Whole-image crops, no flip, jitter, grayscale, blur or solarization; override what a test
   * needs.
   */
  static DinoConfig.Augment off(int globalSize, int localSize, int localCrops) {
    return new DinoConfig.Augment(
        globalSize,
        localSize,
        localCrops,
        new double[] {1.0, 1.0},
        new double[] {1.0, 1.0},
        0,
        0,
        0.4,
        0.4,
        0.2,
        0.1,
        0,
        0,
        0,
        0,
        0.1,
        2.0,
        0);
  }

  static DinoConfig.Augment with(DinoConfig.Augment a, String key, double value) {
    return new DinoConfig.Augment(
        a.globalSize(),
        a.localSize(),
        a.localCrops(),
        a.globalScale(),
        a.localScale(),
        key.equals("flipP") ? value : a.flipP(),
        key.equals("colorJitterP") ? value : a.colorJitterP(),
        key.equals("brightness") ? value : a.brightness(),
        key.equals("contrast") ? value : a.contrast(),
        key.equals("saturation") ? value : a.saturation(),
        key.equals("hue") ? value : a.hue(),
        key.equals("grayscaleP") ? value : a.grayscaleP(),
        key.equals("blurPGlobal1") ? value : a.blurPGlobal1(),
        key.equals("blurPGlobal2") ? value : a.blurPGlobal2(),
        key.equals("blurPLocal") ? value : a.blurPLocal(),
        a.blurSigmaMin(),
        a.blurSigmaMax(),
        key.equals("solarizeP") ? value : a.solarizeP());
  }

  /** A colourful test image: smooth gradients plus a few hard edges. // [h, w, 3] */
  static Image colourful(int h, int w, int variant) {
    float[] rgb = new float[h * w * 3];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int o = 3 * (y * w + x);
        rgb[o] = (float) y / (h - 1);
        rgb[o + 1] = (float) ((x + variant) % w) / (w - 1);
        rgb[o + 2] = ((x / 4 + y / 4 + variant) % 2 == 0) ? 0.9f : 0.1f;
      }
    }
    return new Image(h, w, rgb);
  }
}
