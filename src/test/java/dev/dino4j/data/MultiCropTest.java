package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dino4j.config.DinoConfig;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class MultiCropTest {

  private static final float[] ZERO = {0, 0, 0};
  private static final float[] ONE = {1, 1, 1};
  private static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f};
  private static final float[] IMAGENET_STD = {0.229f, 0.224f, 0.225f};

  private static MultiCropBatch run(MultiCrop mc, Image img, long seed) {
    MultiCropBatch batch = mc.newBatch(1);
    mc.apply(img, new SplittableRandom(seed), batch, 0);
    return batch;
  }

  private static float[] global(MultiCropBatch b, int view, int slot) {
    int len = b.globalSize() * b.globalSize() * 3;
    int off = b.globalOffset(view, slot);
    return Arrays.copyOfRange(b.globals(), off, off + len);
  }

  private static float[] local(MultiCropBatch b, int view, int slot) {
    int len = b.localSize() * b.localSize() * 3;
    int off = b.localOffset(view, slot);
    return Arrays.copyOfRange(b.locals(), off, off + len);
  }

  @Test
  void shapesAreViewMajor() {
    MultiCrop mc = new MultiCrop(AugmentRecipes.dino(32, 16, 6), IMAGENET_MEAN, IMAGENET_STD);
    MultiCropBatch b = mc.newBatch(5);
    assertEquals(2 * 5 * 32 * 32 * 3, b.globals().length); // [2B, G, G, 3]
    assertEquals(6 * 5 * 16 * 16 * 3, b.locals().length); // [6B, L, L, 3]
    assertEquals(5, b.indices().length);
    assertEquals((1 * 5 + 3) * 32 * 32 * 3, b.globalOffset(1, 3)); // row B + 3
    assertEquals((4 * 5 + 2) * 16 * 16 * 3, b.localOffset(4, 2)); // row 4B + 2
    MultiCropBatch none = new MultiCrop(AugmentRecipes.dino(32, 16, 0), ZERO, ONE).newBatch(5);
    assertEquals(0, none.locals().length);
  }

  @Test
  void slotWritesOnlyItsOwnRows() {
    MultiCrop mc = new MultiCrop(AugmentRecipes.dino(12, 6, 2), IMAGENET_MEAN, IMAGENET_STD);
    MultiCropBatch b = mc.newBatch(3);
    mc.apply(AugmentRecipes.colourful(20, 24, 0), new SplittableRandom(1), b, 1);
    for (int slot : new int[] {0, 2}) {
      for (int v = 0; v < 2; v++) {
        assertArrayEquals(new float[12 * 12 * 3], global(b, v, slot));
        assertArrayEquals(new float[6 * 6 * 3], local(b, v, slot));
      }
    }
  }

  @Test
  void sameSeedSameViewsOtherSeedOtherViews() {
    MultiCrop mc = new MultiCrop(AugmentRecipes.dino(32, 16, 6), IMAGENET_MEAN, IMAGENET_STD);
    Image img = AugmentRecipes.colourful(28, 28, 3);
    MultiCropBatch a = run(mc, img, 11);
    MultiCropBatch b = run(mc, img, 11);
    MultiCropBatch c = run(mc, img, 12);
    assertArrayEquals(a.globals(), b.globals(), 0f);
    assertArrayEquals(a.locals(), b.locals(), 0f);
    assertFalse(Arrays.equals(a.globals(), c.globals()));
    assertFalse(Arrays.equals(a.locals(), c.locals()));
    // The views of one image differ from each other too.
    assertFalse(Arrays.equals(global(a, 0, 0), global(a, 1, 0)));
  }

  /** Normalised output lies in [(0 - mean) / std, (1 - mean) / std] with plausible statistics. */
  @Test
  void normalisedValuesAreSane() {
    MultiCrop mc = new MultiCrop(AugmentRecipes.dino(32, 16, 6), IMAGENET_MEAN, IMAGENET_STD);
    double sum = 0;
    double sumSq = 0;
    long n = 0;
    for (int seed = 0; seed < 50; seed++) {
      MultiCropBatch b = run(mc, AugmentRecipes.colourful(28, 28, seed), seed);
      for (float[] arr : new float[][] {b.globals(), b.locals()}) {
        for (int i = 0; i < arr.length; i++) {
          int c = i % 3;
          float lo = (0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
          float hi = (1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
          assertTrue(arr[i] >= lo - 1e-5f && arr[i] <= hi + 1e-5f, "value " + arr[i]);
          assertTrue(Float.isFinite(arr[i]));
          sum += arr[i];
          sumSq += (double) arr[i] * arr[i];
          n++;
        }
      }
    }
    double mean = sum / n;
    double std = Math.sqrt(sumSq / n - mean * mean);
    assertTrue(Math.abs(mean) < 1.0, "mean " + mean);
    assertTrue(std > 0.5 && std < 2.5, "std " + std);
  }

  /** Everything off: each view is the (identity-resized) image, normalised. */
  @Test
  void normalisationOnly() {
    MultiCrop mc =
        new MultiCrop(
            AugmentRecipes.off(28, 28, 2),
            new float[] {0.5f, 0.25f, 0f},
            new float[] {0.25f, 0.5f, 2f});
    Image img = AugmentRecipes.colourful(28, 28, 0);
    MultiCropBatch b = run(mc, img, 5);
    float[] want = img.rgb().clone();
    for (int i = 0; i < want.length; i += 3) {
      want[i] = (want[i] - 0.5f) / 0.25f;
      want[i + 1] = (want[i + 1] - 0.25f) / 0.5f;
      want[i + 2] = want[i + 2] / 2f;
    }
    for (int v = 0; v < 2; v++) {
      assertArrayEquals(want, global(b, v, 0), 1e-6f);
      assertArrayEquals(want, local(b, v, 0), 1e-6f);
    }
  }

  @Test
  void solarizeOnlyOnSecondGlobalView() {
    DinoConfig.Augment aug = AugmentRecipes.with(AugmentRecipes.off(28, 28, 2), "solarizeP", 1.0);
    MultiCrop mc = new MultiCrop(aug, ZERO, ONE);
    Image img = AugmentRecipes.colourful(28, 28, 1);
    MultiCropBatch b = run(mc, img, 9);
    float[] solarized = img.rgb().clone();
    ColorTransforms.solarize(solarized, 0, 28 * 28);
    assertArrayEquals(img.rgb(), global(b, 0, 0), 1e-6f);
    assertArrayEquals(solarized, global(b, 1, 0), 1e-6f);
    assertArrayEquals(img.rgb(), local(b, 0, 0), 1e-6f);
    assertArrayEquals(img.rgb(), local(b, 1, 0), 1e-6f);
  }

  @Test
  void blurProbabilityIsPerView() {
    Image img = AugmentRecipes.colourful(28, 28, 2);
    for (int which = 0; which < 3; which++) {
      String key = new String[] {"blurPGlobal1", "blurPGlobal2", "blurPLocal"}[which];
      MultiCrop mc =
          new MultiCrop(AugmentRecipes.with(AugmentRecipes.off(28, 28, 2), key, 1.0), ZERO, ONE);
      MultiCropBatch b = run(mc, img, 4);
      boolean[] blurred = {
        !Arrays.equals(img.rgb(), global(b, 0, 0)),
        !Arrays.equals(img.rgb(), global(b, 1, 0)),
        !Arrays.equals(img.rgb(), local(b, 0, 0)),
        !Arrays.equals(img.rgb(), local(b, 1, 0))
      };
      boolean[] want = {which == 0, which == 1, which == 2, which == 2};
      assertArrayEquals(want, blurred, key);
    }
  }

  @Test
  void flipAndGrayscaleAtProbabilityOne() {
    Image img = AugmentRecipes.colourful(28, 28, 0);
    MultiCrop flip =
        new MultiCrop(AugmentRecipes.with(AugmentRecipes.off(28, 28, 1), "flipP", 1.0), ZERO, ONE);
    float[] flipped = img.rgb().clone();
    ColorTransforms.flipHorizontal(flipped, 0, 28, 28);
    MultiCropBatch fb = run(flip, img, 1);
    assertArrayEquals(flipped, global(fb, 0, 0), 1e-6f);
    assertArrayEquals(flipped, local(fb, 0, 0), 1e-6f);

    MultiCrop gray =
        new MultiCrop(
            AugmentRecipes.with(AugmentRecipes.off(28, 28, 1), "grayscaleP", 1.0), ZERO, ONE);
    MultiCropBatch gb = run(gray, img, 1);
    float[] v = global(gb, 1, 0);
    for (int p = 0; p < 28 * 28; p++) {
      float r = img.rgb()[3 * p];
      float g = img.rgb()[3 * p + 1];
      float bl = img.rgb()[3 * p + 2];
      float luma = 0.299f * r + 0.587f * g + 0.114f * bl;
      assertArrayEquals(
          new float[] {luma, luma, luma}, Arrays.copyOfRange(v, 3 * p, 3 * p + 3), 1e-6f);
    }
  }

  /**
   * Jitter with only brightness on: each view is the image times one factor in [0.6, 1.4] (read
   * back from unclamped pixels), different factors for different views.
   */
  @Test
  void brightnessJitterFactorRange() {
    DinoConfig.Augment aug = AugmentRecipes.off(28, 28, 4);
    aug = AugmentRecipes.with(aug, "colorJitterP", 1.0);
    aug = AugmentRecipes.with(aug, "contrast", 0);
    aug = AugmentRecipes.with(aug, "saturation", 0);
    aug = AugmentRecipes.with(aug, "hue", 0);
    MultiCrop mc = new MultiCrop(aug, ZERO, ONE);
    Image img = AugmentRecipes.colourful(28, 28, 0);
    double minF = 9;
    double maxF = 0;
    for (int seed = 0; seed < 200; seed++) {
      MultiCropBatch b = run(mc, img, seed);
      for (int v = 0; v < 6; v++) {
        float[] view = v < 2 ? global(b, v, 0) : local(b, v - 2, 0);
        float factor = view[3 * 29 + 1] / img.rgb()[3 * 29 + 1]; // pixel (1, 1), green = 2/27
        assertTrue(factor >= 0.6f - 1e-5f && factor <= 1.4f + 1e-5f, "factor " + factor);
        for (int i = 0; i < view.length; i++) {
          assertEquals(Math.min(1f, factor * img.rgb()[i]), view[i], 1e-5f);
        }
        minF = Math.min(minF, factor);
        maxF = Math.max(maxF, factor);
      }
    }
    assertTrue(minF < 0.65 && maxF > 1.35, "factors span [" + minF + ", " + maxF + "]");
  }

  @Test
  void badRecipeValuesAreNamed() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                new MultiCrop(
                    AugmentRecipes.with(AugmentRecipes.dino(32, 16, 2), "flipP", 1.5), ZERO, ONE));
    assertTrue(e.getMessage().contains("augment.flipP") && e.getMessage().contains("1.5"));
    IllegalArgumentException s =
        assertThrows(
            IllegalArgumentException.class,
            () -> new MultiCrop(AugmentRecipes.dino(32, 16, 2), ZERO, new float[] {1, 0, 1}));
    assertTrue(s.getMessage().contains("data.std[1]"), s.getMessage());
  }
}
