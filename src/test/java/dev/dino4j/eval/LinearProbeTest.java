package dev.dino4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The linear probe on linearly separable synthetic features, and its resume. */
class LinearProbeTest {

  /** Classes separated by a margin along random directions, plus noise in every dimension. */
  private static Features separable(int n, long seed) {
    Random r = new Random(seed);
    int d = 20;
    int classes = 5;
    Random dirs = new Random(99); // the same class directions for train and test
    float[][] mean = new float[classes][d];
    for (int c = 0; c < classes; c++) {
      for (int j = 0; j < d; j++) {
        mean[c][j] = (float) dirs.nextGaussian() * 2;
      }
    }
    float[] v = new float[n * d];
    int[] labels = new int[n];
    for (int i = 0; i < n; i++) {
      int c = r.nextInt(classes);
      labels[i] = c;
      for (int j = 0; j < d; j++) {
        v[i * d + j] = mean[c][j] + (float) r.nextGaussian() * 0.3f;
      }
    }
    return new Features(n, d, v, labels);
  }

  @Test
  void reachesNearPerfectAccuracyOnSeparableFeatures() throws Exception {
    Features train = separable(2000, 1);
    Features test = separable(500, 2);
    LinearProbe.Options o = new LinearProbe.Options(10, 64, 0.05, 0.9, 0, 0);
    LinearProbe.Result r = LinearProbe.train(LinearProbe.cached(train), test, o, null, "k", false);
    assertTrue(r.bestTop1() >= 99.0, "best top-1 " + r.bestTop1());
    assertEquals(100.0, r.bestTop5(), 1e-9);
  }

  @Test
  void cosineLrFallsToZeroOverTheEpochs() {
    LinearProbe.Options o = new LinearProbe.Options(4, 8, 0.1, 0.9, 0, 0);
    assertEquals(0.1, LinearProbe.lr(o, 0), 1e-12);
    assertEquals(0.05, LinearProbe.lr(o, 2), 1e-12);
    assertTrue(LinearProbe.lr(o, 3) < 0.02);
  }

  /** 2 epochs, then 2 more from the checkpoint, equal 4 in one go; other settings are refused. */
  @Test
  void resumesExactlyAndRefusesOtherSettings(@TempDir Path tmp) throws Exception {
    Features train = separable(300, 3);
    Features test = separable(100, 4);
    LinearProbe.Options four = new LinearProbe.Options(4, 32, 0.01, 0.9, 1e-4, 0);
    LinearProbe.Result once = LinearProbe.train(LinearProbe.cached(train), test, four, tmp.resolve("a"), "k", false);
    Path b = tmp.resolve("b");
    Files.createDirectories(b);
    // a run stopped after 2 epochs: same schedule (epochs = 4), interrupted by limiting the loop
    assertThrows(Interrupted.class,
        () -> LinearProbe.train(new Stop(LinearProbe.cached(train), 2), test, four, b, "k", false));
    assertTrue(Files.isRegularFile(b.resolve("checkpoints/latest")));
    LinearProbe.Result resumed = LinearProbe.train(LinearProbe.cached(train), test, four, b, "k", false);
    assertEquals(once.lastTop1(), resumed.lastTop1(), 1e-12);
    assertEquals(once.bestTop1(), resumed.bestTop1(), 1e-12);
    assertArrayEquals(Npy.read(tmp.resolve("a/checkpoints/epoch-0003/weight.npy")).floats(),
        Npy.read(b.resolve("checkpoints/epoch-0003/weight.npy")).floats());
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> LinearProbe.train(LinearProbe.cached(train), test, four, b, "other", false));
    assertTrue(e.getMessage().contains("other settings"), e.getMessage());
  }

  /** A source that throws after {@code epochs} epochs: an interrupted run. */
  private record Stop(LinearProbe.Source inner, int epochs) implements LinearProbe.Source {
    public int size() {
      return inner.size();
    }

    public int dim() {
      return inner.dim();
    }

    public int label(int i) {
      return inner.label(i);
    }

    public int numClasses() {
      return inner.numClasses();
    }

    public float[] features(int epoch, int[] idx) {
      if (epoch >= epochs) {
        throw new Interrupted();
      }
      return inner.features(epoch, idx);
    }
  }

  private static final class Interrupted extends RuntimeException {}
}
