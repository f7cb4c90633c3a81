package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.DinoConfig;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * iBOT's pieces: the block masks (DINOv2's recipe: how many views, how many patches, rectangles,
 * a pure function of seed and step, worker shares) and the masked-patch loss against a plain-Java
 * double recomputation of DINOv2's forward_masked, value and gradient. The whole step with iBOT is
 * compared with a PyTorch step in TrainingParityTest (slow).
 */
class IbotTest {

  private static DinoConfig.Loss loss(double min, double max, double probability) {
    return new DinoConfig.Loss(0.1, 0.04, 0.04, 0, 0.9, 0, "ema", 3, 1.0, min, max, probability, false, 0);
  }

  private static int count(boolean[] m) {
    int c = 0;
    for (boolean b : m) {
      c += b ? 1 : 0;
    }
    return c;
  }

  @Test
  void masksFollowTheDinov2Recipe() {
    int grid = 8;
    int n = grid * grid;
    int views = 128; // 2 x batch 64, the Fashion-MNIST recipe's step
    boolean[][] m = IbotMasks.forStep(loss(0.1, 0.5, 0.5), 0, 17, views, grid);
    assertEquals(views, m.length);
    int masked = 0;
    int[] counts = new int[views];
    for (int i = 0; i < views; i++) {
      assertEquals(n, m[i].length);
      counts[i] = count(m[i]);
      masked += counts[i] > 0 ? 1 : 0;
      // a view never gets more than its target, which is at most 0.5 N
      assertTrue(counts[i] <= n / 2, "view " + i + ": " + counts[i]);
    }
    // (int) (128 * 0.5) = 64 views drew a target; a target of (int) (64 * U(0.1, 0.1 + 0.4/64)) = 6
    // and more always fits at least one rectangle of >= 4 patches, so each of them is masked
    assertEquals(64, masked);
    // the targets climb evenly over [0.1 N, 0.5 N]: the masked views' counts spread over that range
    int[] sorted = Arrays.stream(counts).filter(c -> c > 0).sorted().toArray();
    assertTrue(sorted[0] <= 10, "smallest " + sorted[0]);
    assertTrue(sorted[sorted.length - 1] >= 24, "largest " + sorted[sorted.length - 1]);
    double mean = Arrays.stream(sorted).average().orElseThrow();
    assertTrue(mean > 0.2 * n && mean <= 0.3 * n + 1, "mean masked " + mean + " of " + n);
    // shuffled: the masked views are not just the first 64
    int inFirstHalf = 0;
    for (int i = 0; i < views / 2; i++) {
      inFirstHalf += counts[i] > 0 ? 1 : 0;
    }
    assertTrue(inFirstHalf > 16 && inFirstHalf < 48, "masked views among the first 64: " + inFirstHalf);
  }

  @Test
  void masksAreBlocksNotScatteredPatches() {
    // rectangles of >= 4 patches, except a last one of 1-3 when the target has only that much left:
    // nearly every masked patch has a masked neighbour (a scatter of the same density: ~3 in 4)
    SplittableRandom rng = new SplittableRandom(5);
    int grid = 8;
    int patches = 0;
    int withNeighbour = 0;
    for (int trial = 0; trial < 200; trial++) {
      int target = 6 + rng.nextInt(27);
      boolean[] m = IbotMasks.block(rng, grid, target);
      int c = count(m);
      assertTrue(c > 0 && c <= target, "count " + c + " target " + target);
      for (int r = 0; r < grid; r++) {
        for (int col = 0; col < grid; col++) {
          if (m[r * grid + col]) {
            patches++;
            boolean neighbour = (r > 0 && m[(r - 1) * grid + col]) || (r < grid - 1 && m[(r + 1) * grid + col])
                || (col > 0 && m[r * grid + col - 1]) || (col < grid - 1 && m[r * grid + col + 1]);
            withNeighbour += neighbour ? 1 : 0;
          }
        }
      }
    }
    assertTrue(withNeighbour > 0.95 * patches, withNeighbour + " of " + patches + " masked patches have a masked neighbour");
  }

  @Test
  void masksAreAFunctionOfSeedAndStep() {
    DinoConfig.Loss l = loss(0.1, 0.5, 0.5);
    boolean[][] a = IbotMasks.forStep(l, 3, 40, 32, 8);
    assertTrue(Arrays.deepEquals(a, IbotMasks.forStep(l, 3, 40, 32, 8)), "same seed and step: same masks");
    assertFalse(Arrays.deepEquals(a, IbotMasks.forStep(l, 3, 41, 32, 8)), "next step: other masks");
    assertFalse(Arrays.deepEquals(a, IbotMasks.forStep(l, 4, 40, 32, 8)), "other seed: other masks");
    // probability 1: every view masked
    for (boolean[] m : IbotMasks.forStep(loss(0.2, 0.3, 1.0), 0, 0, 16, 8)) {
      assertTrue(count(m) > 0);
    }
  }

  @Test
  void workersTakeTheirSamplesOfEachView() {
    // global batch 4 (8 global views, view-major); worker t of 2 holds samples 2t, 2t + 1 of each view
    boolean[][] all = IbotMasks.forStep(loss(0.1, 0.5, 1.0), 0, 9, 8, 4);
    float[] one = IbotMasks.workerRows(all, 0, 1); // [8 * 16]
    float[] w0 = IbotMasks.workerRows(all, 0, 2); // [4 * 16]
    float[] w1 = IbotMasks.workerRows(all, 1, 2);
    int n = 16;
    int[][] rowsOf = {{0, 1, 4, 5}, {2, 3, 6, 7}};
    float[][] shares = {w0, w1};
    for (int w = 0; w < 2; w++) {
      for (int r = 0; r < 4; r++) {
        float[] expect = Arrays.copyOfRange(one, rowsOf[w][r] * n, (rowsOf[w][r] + 1) * n);
        float[] got = Arrays.copyOfRange(shares[w], r * n, (r + 1) * n);
        assertArrayEquals(expect, got, "worker " + w + " row " + r);
      }
    }
  }

  // ---------------------------------------------------------------- the loss

  /** DINOv2's forward_masked: -(1 / views) sum_j w_j sum_k q_jk log_softmax(s_j / tau)_k. */
  static double ibotRef(double[][] s, double[][] q, double[] w, int views, double tau) {
    double total = 0;
    for (int j = 0; j < s.length; j++) {
      double max = Double.NEGATIVE_INFINITY;
      for (double v : s[j]) {
        max = Math.max(max, v / tau);
      }
      double z = 0;
      for (double v : s[j]) {
        z += Math.exp(v / tau - max);
      }
      double lse = max + Math.log(z);
      double dot = 0;
      for (int k = 0; k < s[j].length; k++) {
        dot += q[j][k] * (s[j][k] / tau - lse);
      }
      total += w[j] * dot;
    }
    return -total / views;
  }

  @Test
  void ibotLossAndGradientMatchPlainJava() {
    int m = 7;
    int k = 12;
    int views = 6;
    float tau = 0.1f;
    SplittableRandom rng = new SplittableRandom(11);
    float[] s = new float[m * k];
    float[] q = new float[m * k];
    float[] w = new float[m];
    double[][] sd = new double[m][k];
    double[][] qd = new double[m][k];
    double[] wd = new double[m];
    for (int j = 0; j < m; j++) {
      double sum = 0;
      for (int c = 0; c < k; c++) {
        s[j * k + c] = (float) (rng.nextDouble() * 2 - 1);
        sd[j][c] = s[j * k + c];
        q[j * k + c] = (float) rng.nextDouble();
        sum += q[j * k + c];
      }
      for (int c = 0; c < k; c++) {
        q[j * k + c] = (float) (q[j * k + c] / sum); // rows of probabilities
        qd[j][c] = q[j * k + c];
      }
      w[j] = 1f / (1 + rng.nextInt(4));
      wd[j] = w[j];
    }
    double ref = ibotRef(sd, qd, wd, views, tau);
    float value;
    float[] grad;
    try (Graph g = new Graph(); Session session = new Session(g)) {
      Ops tf = Ops.create(g);
      var sv = tf.placeholder(TFloat32.class);
      Operand<TFloat32> qv = tf.constant(Shape.of(m, k), DataBuffers.of(q, true, false));
      Operand<TFloat32> wv = tf.constant(w);
      Operand<TFloat32> loss = DinoLoss.ibot(tf, sv, qv, wv, views, tau);
      var dy = tf.gradients(loss, java.util.List.of(sv));
      try (TFloat32 st = TFloat32.tensorOf(Shape.of(m, k), DataBuffers.of(s, true, false));
          var r = session.runner().feed(sv, st).fetch(loss).fetch(dy.<TFloat32>dy(0)).run()) {
        value = ((TFloat32) r.get(0)).getFloat();
        grad = GraphRunner.toArray((TFloat32) r.get(1));
      }
    }
    assertEquals(ref, value, 1e-5 * Math.abs(ref) + 1e-6, "loss");
    // central differences of the double reference
    double h = 1e-5;
    for (int j = 0; j < m; j++) {
      for (int c = 0; c < k; c++) {
        double keep = sd[j][c];
        sd[j][c] = keep + h;
        double up = ibotRef(sd, qd, wd, views, tau);
        sd[j][c] = keep - h;
        double down = ibotRef(sd, qd, wd, views, tau);
        sd[j][c] = keep;
        double fd = (up - down) / (2 * h);
        assertEquals(fd, grad[j * k + c], 1e-4 * Math.abs(fd) + 2e-6, "d loss / d s[" + j + "][" + c + "]");
      }
    }
  }
}
