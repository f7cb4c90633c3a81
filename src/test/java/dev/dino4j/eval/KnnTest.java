package dev.dino4j.eval;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Weighted k-NN against answers known by construction and by hand. */
class KnnTest {

  private static Features features(float[][] rows, int[] labels) {
    int d = rows[0].length;
    float[] v = new float[rows.length * d];
    for (int i = 0; i < rows.length; i++) {
      System.arraycopy(rows[i], 0, v, i * d, d);
    }
    return new Features(rows.length, d, v, labels);
  }

  /** Gaussian clusters around orthogonal centres: every test point is classified correctly. */
  @Test
  void separatesSyntheticClusters() {
    Random r = new Random(1);
    int classes = 4;
    int d = 16;
    int perClass = 30;
    float[][] train = new float[classes * perClass][d];
    int[] trainLabels = new int[classes * perClass];
    float[][] test = new float[classes * 10][d];
    int[] testLabels = new int[classes * 10];
    for (int c = 0; c < classes; c++) {
      for (int i = 0; i < perClass; i++) {
        train[c * perClass + i] = point(r, c, d, 0.1f);
        trainLabels[c * perClass + i] = c;
      }
      for (int i = 0; i < 10; i++) {
        test[c * 10 + i] = point(r, c, d, 0.1f);
        testLabels[c * 10 + i] = c;
      }
    }
    List<Knn.Result> res = Knn.evaluate(features(train, trainLabels), features(test, testLabels),
        new int[] {1, 10, 20}, 0.07, Progress.QUIET);
    for (Knn.Result k : res) {
      assertEquals(100.0, k.top1(), 1e-9, "k = " + k.k());
      assertEquals(100.0, k.top5(), 1e-9);
    }
  }

  private static float[] point(Random r, int c, int d, float noise) {
    float[] p = new float[d];
    for (int j = 0; j < d; j++) {
      p[j] = (float) (r.nextGaussian() * noise) + (j == c ? 3f : 0f) * (1 + r.nextFloat()); // scale must not matter
    }
    return p;
  }

  /**
   * Query (1, 0). Neighbours: A = (1, 0) class 1 (cos 1), B and C at +-60 degrees class 0 (cos
   * 0.5 each), D = (-1, 0) class 1 (cos -1, outside k = 3). Majority of the 3 says class 0; the
   * weighted vote, exp(1 / 0.07) = 1.6e6 against 2 exp(0.5 / 0.07) = 2.5e3, says class 1. With T =
   * 100 the weights are nearly equal and the majority wins.
   */
  @Test
  void weightedVoteBeatsMajorityByHand() {
    float s = (float) Math.sqrt(0.75);
    Features train = features(new float[][] {{1, 0}, {0.5f, s}, {0.5f, -s}, {-1, 0}}, new int[] {1, 0, 0, 1});
    Features test = features(new float[][] {{2, 0}}, new int[] {1});
    Knn.Result sharp = Knn.evaluate(train, test, new int[] {3}, 0.07, Progress.QUIET).get(0);
    assertEquals(100.0, sharp.top1(), 1e-9);
    Knn.Result flat = Knn.evaluate(train, test, new int[] {3}, 100, Progress.QUIET).get(0);
    assertEquals(0.0, flat.top1(), 1e-9, "with near-equal weights the two class-0 votes win");
    assertEquals(100.0, flat.top5(), 1e-9, "two classes: the truth is always in the top 5");
    // k = 4 brings D in: class 1 gets exp(1/T) + exp(-1/T), still first at T = 0.07
    assertEquals(100.0, Knn.evaluate(train, test, new int[] {4}, 0.07, Progress.QUIET).get(0).top1(), 1e-9);
    // the neighbours are sorted by cosine, descending
    Knn.Neighbours nb = Knn.neighbours(train, test, 4, 8, 8, Progress.QUIET);
    assertArrayEquals(new int[] {0, 1, 2, 3}, nb.indices());
    assertEquals(1.0, nb.sims()[0], 1e-6);
    assertEquals(0.5, nb.sims()[1], 1e-6);
    assertEquals(-1.0, nb.sims()[3], 1e-6);
  }

  /** Small test and training chunks give exactly the neighbours and accuracies of one big block. */
  @Test
  void chunkingMatchesOneBlock() {
    Random r = new Random(7);
    int n = 203;
    int m = 57;
    int d = 12;
    float[] tv = new float[n * d];
    float[] qv = new float[m * d];
    for (int i = 0; i < tv.length; i++) {
      tv[i] = (float) r.nextGaussian();
    }
    for (int i = 0; i < qv.length; i++) {
      qv[i] = (float) r.nextGaussian();
    }
    // a few exact duplicates, so that ties between chunks are exercised
    System.arraycopy(tv, 0, tv, 150 * d, d);
    System.arraycopy(tv, 5 * d, tv, 77 * d, d);
    int[] tl = new int[n];
    int[] ql = new int[m];
    for (int i = 0; i < n; i++) {
      tl[i] = r.nextInt(7);
    }
    for (int i = 0; i < m; i++) {
      ql[i] = r.nextInt(7);
    }
    Features train = new Features(n, d, tv, tl);
    Features test = new Features(m, d, qv, ql);
    int[] ks = {1, 5, 20, 300};
    Knn.Neighbours big = Knn.neighbours(train, test, 300, 1000, 1000, Progress.QUIET);
    Knn.Neighbours small = Knn.neighbours(train, test, 300, 6, 16, Progress.QUIET);
    assertEquals(n, big.k(), "k larger than the bank is clamped");
    // the same neighbours; block shapes change matmul rounding by an ulp, so sims are compared
    // with a tolerance and the order of (near-)ties may differ
    for (int i = 0; i < big.sims().length; i++) {
      assertEquals(big.sims()[i], small.sims()[i], 1e-6f, "position " + i);
      if (big.indices()[i] != small.indices()[i]) {
        int other = small.indices()[i];
        int row = i / big.k();
        boolean tie = false;
        for (int j = row * big.k(); j < (row + 1) * big.k(); j++) {
          tie |= big.indices()[j] == other && Math.abs(big.sims()[j] - big.sims()[i]) < 1e-6f;
        }
        assertTrue(tie, "position " + i + ": " + big.indices()[i] + " vs " + other);
      }
    }
    assertEquals(Knn.evaluate(train, test, ks, 0.07, 1000, 1000, Progress.QUIET),
        Knn.evaluate(train, test, ks, 0.07, 6, 16, Progress.QUIET));
  }

  @Test
  void badKsAreRejected() {
    assertArrayEquals(new int[] {10, 20, 100, 200}, Knn.parseKs("10, 20,100,200"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Knn.parseKs("10,x"));
    assertTrue(e.getMessage().contains("--k"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Knn.parseKs("0"));
  }

  @Test
  void tiesGoToTheLowerClass() {
    assertEquals(0, Knn.rank(new double[] {1, 1, 0}, 0));
    assertEquals(1, Knn.rank(new double[] {1, 1, 0}, 1));
    assertEquals(2, Knn.rank(new double[] {1, 1, 0}, 2));
  }
}
