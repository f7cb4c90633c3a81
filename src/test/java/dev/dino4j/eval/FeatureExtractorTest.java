package dev.dino4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.Image;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.model.Weights;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Backbone features, intermediate-block pooling and attention maps of a tiny random ViT. */
class FeatureExtractorTest {

  private static final DinoConfig CFG = EvalTestConfigs.tiny("runs/test-eval");

  private static float[] images(int n, int size, long seed) {
    Random r = new Random(seed);
    float[] x = new float[n * size * size * 3];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    return x;
  }

  @Test
  void lastBlocksPoolingEndsWithTheClsOutput() {
    Weights w = Backbones.randomInit(CFG).weights();
    float[] x = images(3, 16, 1);
    try (FeatureExtractor cls = new FeatureExtractor(CFG, w, FeatureExtractor.Pooling.CLS, 16);
        FeatureExtractor cat = new FeatureExtractor(CFG, w, new FeatureExtractor.Pooling(2, true), 16)) {
      assertEquals(16, cls.dim());
      assertEquals(48, cat.dim(), "2 CLS tokens + average-pooled patches");
      float[] a = cls.run(x, 3);
      float[] b = cat.run(x, 3);
      for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 16; j++) {
          // the last block's normed CLS token is the backbone's output
          assertEquals(a[i * 16 + j], b[i * 48 + 16 + j], 1e-5f);
        }
        float[] first = java.util.Arrays.copyOfRange(b, i * 48, i * 48 + 16);
        assertFalse(java.util.Arrays.equals(first, java.util.Arrays.copyOfRange(a, i * 16, i * 16 + 16)));
      }
    }
  }

  @Test
  void batchingDoesNotChangeFeatures() {
    Weights w = Backbones.randomInit(CFG).weights();
    ImageDataset data = new ImageDataset() {
      public int size() {
        return 7;
      }

      public Image image(int i) {
        Random r = new Random(i);
        float[] rgb = new float[20 * 20 * 3];
        for (int j = 0; j < rgb.length; j++) {
          rgb[j] = r.nextFloat();
        }
        return new Image(20, 20, rgb);
      }

      public int label(int i) {
        return i % 3;
      }

      public int numClasses() {
        return 3;
      }

      public String describe(int i) {
        return "synthetic#" + i;
      }
    };
    try (FeatureExtractor fx = new FeatureExtractor(CFG, w, FeatureExtractor.Pooling.CLS, 16)) {
      Features one = fx.extract(data, 0, EvalData.centre(CFG), 7, Progress.QUIET);
      Features small = fx.extract(data, 0, EvalData.centre(CFG), 3, Progress.QUIET);
      assertEquals(7, one.count());
      assertArrayEquals(new int[] {0, 1, 2, 0, 1, 2, 0}, small.labels());
      for (int i = 0; i < one.values().length; i++) {
        assertEquals(one.values()[i], small.values()[i], 1e-5f);
      }
      assertEquals(5, fx.extract(data, 5, EvalData.centre(CFG), 2, Progress.QUIET).count());
    }
  }

  @Test
  void randomInitIsTheTrainersStepZero() {
    // the same seed draws the same weights; another seed other weights
    Weights a = Backbones.randomInit(CFG).weights();
    Weights b = Backbones.randomInit(CFG).weights();
    assertArrayEquals(a.get("blocks.0.attn.qkv.weight").values(), b.get("blocks.0.attn.qkv.weight").values());
  }

  @Test
  void attentionMapsSumToOnePerHeadAndPngsAreWritten(@TempDir Path tmp) throws Exception {
    Weights w = Backbones.randomInit(CFG).weights();
    for (int size : new int[] {16, 24}) { // native grid and a resampled one
      try (FeatureExtractor fx = new FeatureExtractor(CFG, w, FeatureExtractor.Pooling.CLS, size)) {
        float[] raw = fx.lastAttention(images(2, size, 5), 2);
        int n = (size / 4) * (size / 4);
        assertEquals(2 * 2 * n, raw.length, "[B, H, N]");
        AttentionMaps.Maps m = AttentionMaps.compute(fx, images(1, size, 6));
        assertEquals(2, m.heads());
        assertEquals(size / 4, m.grid());
        assertEquals(2 * n, m.maps().length);
        for (int h = 0; h < m.heads(); h++) {
          double sum = 0;
          for (float v : m.head(h)) {
            assertTrue(v >= 0);
            sum += v;
          }
          assertEquals(1.0, sum, 1e-5, "head " + h);
          // the mask keeps the largest patches holding at least the asked share
          boolean[] mask = AttentionMaps.mask(m.head(h), 0.6);
          double kept = 0;
          float minKept = Float.MAX_VALUE;
          float maxDropped = -1;
          for (int i = 0; i < n; i++) {
            if (mask[i]) {
              kept += m.head(h)[i];
              minKept = Math.min(minKept, m.head(h)[i]);
            } else {
              maxDropped = Math.max(maxDropped, m.head(h)[i]);
            }
          }
          assertTrue(kept >= 0.6 - 1e-6 && kept < 0.6 + minKept + 1e-6, "kept " + kept);
          assertTrue(maxDropped <= minKept);
        }
        float[] view = new float[size * size * 3];
        java.util.Arrays.fill(view, 0.5f);
        Path dir = tmp.resolve("s" + size);
        List<Path> files = AttentionMaps.write(dir, m, view, size, 0.6, 3);
        assertEquals(1 + 3 * 2 + 1 + 1, files.size());
        BufferedImage head = ImageIO.read(dir.resolve("attn-head1.png").toFile());
        assertEquals(size * 3, head.getWidth());
        assertEquals(size * 3, head.getHeight());
        BufferedImage summary = ImageIO.read(dir.resolve("summary.png").toFile());
        assertEquals(size * 3 * 3, summary.getWidth());
        assertEquals(2, Npy.read(dir.resolve("attention.npy")).shape()[0]);
        assertTrue(Files.size(dir.resolve("mask-head0.png")) > 0);
      }
    }
  }

  @Test
  void withRegistersTheAttentionMapsCoverThePatchesOnly() {
    DinoConfig cfg = dev.dino4j.config.ConfigLoader.fromYaml(dev.dino4j.config.ConfigLoader.toYaml(CFG),
        List.of("model.registers=3", "model.layerscale_init=1e-5"));
    Weights w = Backbones.randomInit(cfg).weights();
    int size = 16;
    int n = (size / 4) * (size / 4);
    try (FeatureExtractor fx = new FeatureExtractor(cfg, w, FeatureExtractor.Pooling.CLS, size)) {
      float[] raw = fx.lastAttention(images(2, size, 5), 2); // [B, H, N]: not the CLS or register columns
      assertEquals(2 * 2 * n, raw.length);
      for (int row = 0; row < 4; row++) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
          sum += raw[row * n + i];
        }
        // the CLS query also attends to itself and the 3 registers: the patches get less than all of it
        assertTrue(sum > 0.2 && sum < 1 - 1e-4, "row " + row + ": " + sum);
      }
      AttentionMaps.Maps m = AttentionMaps.compute(fx, images(1, size, 6));
      assertEquals(size / 4, m.grid());
      double total = 0;
      for (float v : m.head(0)) {
        total += v;
      }
      assertEquals(1.0, total, 1e-5, "the map is renormalised over the patches");
    }
  }

  @Test
  void maskThresholdIsChecked() {
    assertThrows(IllegalArgumentException.class, () -> AttentionMaps.mask(new float[] {1f}, 0));
    assertArrayEquals(new boolean[] {false, true, true}, AttentionMaps.mask(new float[] {0.1f, 0.3f, 0.6f}, 0.85));
    assertArrayEquals(new boolean[] {false, false, true}, AttentionMaps.mask(new float[] {0.1f, 0.3f, 0.6f}, 0.5));
  }
}
