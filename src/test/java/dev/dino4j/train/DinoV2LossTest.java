package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * DINOv2's terms in {@link DinoLoss} against plain-Java double recomputations written from the
 * DINOv2 code's definitions: KoLeo (value and gradient, by central finite differences of the
 * reference) and the Sinkhorn-Knopp teacher, on one worker and as one of two workers whose sums
 * are all-reduced. The whole training step with both is compared with PyTorch in
 * TrainingParityTest (slow).
 */
class DinoV2LossTest {

  // ---------------------------------------------------------------- references (double)

  /** -mean_i log(||x̂_i - x̂_nn(i) + eps|| + eps), x̂ = x / max(||x||, eps), nn by the largest dot product. */
  static double koleoRef(double[][] x) {
    double eps = 1e-8;
    int n = x.length;
    int d = x[0].length;
    double[][] xn = new double[n][d];
    for (int i = 0; i < n; i++) {
      double norm = 0;
      for (double v : x[i]) {
        norm += v * v;
      }
      norm = Math.max(Math.sqrt(norm), eps);
      for (int j = 0; j < d; j++) {
        xn[i][j] = x[i][j] / norm;
      }
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
      int best = -1;
      double bestDot = Double.NEGATIVE_INFINITY;
      for (int m = 0; m < n; m++) {
        double dot = 0;
        for (int j = 0; j < d; j++) {
          dot += xn[i][j] * xn[m][j];
        }
        if (m == i) {
          dot = -1;
        }
        if (dot > bestDot) {
          bestDot = dot;
          best = m;
        }
      }
      double dist = 0;
      for (int j = 0; j < d; j++) {
        double diff = xn[i][j] - xn[best][j] + eps;
        dist += diff * diff;
      }
      sum += Math.log(Math.sqrt(dist) + eps);
    }
    return -sum / n;
  }

  /**
   * Sinkhorn-Knopp over all rows (every worker's): Q = exp(t / tau), transposed to K x B; Q /= its
   * total; per iteration each prototype's row / its total / K, each sample's column / its total /
   * B; times B. Returns the [B, K] probabilities, and in {@code partial} (when not null) the sums
   * that rows [from, to) contribute before each all-reduce: the total, then each iteration's [K].
   */
  static double[][] sinkhornRef(double[][] t, double tau, int iterations, int from, int to, List<double[]> partial) {
    int b = t.length;
    int k = t[0].length;
    double[][] q = new double[b][k];
    double total = 0;
    double part = 0;
    for (int i = 0; i < b; i++) {
      for (int j = 0; j < k; j++) {
        q[i][j] = Math.exp(t[i][j] / tau);
        total += q[i][j];
        if (i >= from && i < to) {
          part += q[i][j];
        }
      }
    }
    if (partial != null) {
      partial.add(new double[] {part});
    }
    for (double[] row : q) {
      for (int j = 0; j < k; j++) {
        row[j] /= total;
      }
    }
    for (int it = 0; it < iterations; it++) {
      double[] perPrototype = new double[k];
      double[] partPrototype = new double[k];
      for (int i = 0; i < b; i++) {
        for (int j = 0; j < k; j++) {
          perPrototype[j] += q[i][j];
          if (i >= from && i < to) {
            partPrototype[j] += q[i][j];
          }
        }
      }
      if (partial != null) {
        partial.add(partPrototype);
      }
      for (double[] row : q) {
        double rowSum = 0;
        for (int j = 0; j < k; j++) {
          row[j] = row[j] / perPrototype[j] / k;
          rowSum += row[j];
        }
        for (int j = 0; j < k; j++) {
          row[j] = row[j] / rowSum / b;
        }
      }
    }
    for (double[] row : q) {
      for (int j = 0; j < k; j++) {
        row[j] *= b;
      }
    }
    return q;
  }

  // ---------------------------------------------------------------- helpers

  static double[][] gaussian(int n, int d, long seed, double scale) {
    float[] g = GraphRunner.gaussian((long) n * d, seed);
    double[][] x = new double[n][d];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < d; j++) {
        x[i][j] = scale * g[i * d + j];
      }
    }
    return x;
  }

  static float[] flat(double[][] x) {
    float[] f = new float[x.length * x[0].length];
    for (int i = 0; i < x.length; i++) {
      for (int j = 0; j < x[0].length; j++) {
        f[i * x[0].length + j] = (float) x[i][j];
      }
    }
    return f;
  }

  static double[][] rows(double[][] x, int from, int to) {
    double[][] out = new double[to - from][];
    for (int i = from; i < to; i++) {
      out[i - from] = x[i].clone();
    }
    return out;
  }

  /** The value of f(x) and d f / d x (TF's gradient) for a [n, d] input fed as a placeholder. */
  static float[][] valueAndGradient(double[][] x, java.util.function.BiFunction<Ops, Operand<TFloat32>, Operand<TFloat32>> f) {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> xIn =
          tf.placeholder(TFloat32.class, org.tensorflow.op.core.Placeholder.shape(Shape.of(x.length, x[0].length)));
      Operand<TFloat32> y = f.apply(tf, xIn);
      var grad = tf.gradients(y, List.of(xIn));
      try (TFloat32 t = TFloat32.tensorOf(Shape.of(x.length, x[0].length), DataBuffers.of(flat(x), true, false));
          var r = s.runner().feed(xIn, t).fetch(y).fetch(grad.dy(0)).run()) {
        return new float[][] {GraphRunner.toArray((TFloat32) r.get(0)), GraphRunner.toArray((TFloat32) r.get(1))};
      }
    }
  }

  // ---------------------------------------------------------------- KoLeo

  @Test
  void koleoMatchesTheReferenceAndItsFiniteDifferences() {
    // 9 samples of dimension 6, two of them close (their distance dominates). (A scaled copy of a row
    // would leave a distance of float rounding, ~1e-7, against double's ~1e-16: its log differs by
    // design in float32, in PyTorch too; exact twins are the next test.)
    double[][] x = gaussian(9, 6, 5, 1.0);
    for (int j = 0; j < 6; j++) {
      x[3][j] = x[1][j] + 0.05 * x[7][j];
    }
    double ref = koleoRef(x);
    float[][] vg = valueAndGradient(x, DinoLoss::koleo);
    assertEquals(ref, vg[0][0], 1e-5 * Math.abs(ref), "KoLeo value");

    // gradient where it is smooth: the same data without the exact duplicate direction
    double[][] smooth = gaussian(9, 6, 6, 1.0);
    for (int j = 0; j < 6; j++) {
      smooth[3][j] = smooth[1][j] + 0.2 * smooth[7][j];
    }
    float[] grad = valueAndGradient(smooth, DinoLoss::koleo)[1];
    double h = 1e-5;
    double worst = 0;
    double scale = 0;
    for (int i = 0; i < smooth.length; i++) {
      for (int j = 0; j < smooth[0].length; j++) {
        double keep = smooth[i][j];
        smooth[i][j] = keep + h;
        double up = koleoRef(smooth);
        smooth[i][j] = keep - h;
        double down = koleoRef(smooth);
        smooth[i][j] = keep;
        double fd = (up - down) / (2 * h);
        worst = Math.max(worst, Math.abs(fd - grad[i * smooth[0].length + j]));
        scale = Math.max(scale, Math.abs(fd));
      }
    }
    assertTrue(scale > 1e-2, "the gradient is not trivially 0: " + scale);
    assertTrue(worst <= 1e-3 * scale, "KoLeo gradient vs finite differences: max diff " + worst + " at scale " + scale);
  }

  @Test
  void koleoIgnoresEachRowsOwnDotProduct() {
    // two identical pairs: every row's neighbour is its twin, not itself, so every distance is ~eps
    // and the term is large; without the diagonal fill the argmax would pick the row itself
    double[][] x = {{1, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 1, 0}};
    float v = valueAndGradient(x, DinoLoss::koleo)[0][0];
    assertEquals(koleoRef(x), v, 1e-3 * Math.abs(koleoRef(x)));
    assertTrue(v > 15, "distance ~1e-8 to the twin: -log ~ 17, got " + v);
  }

  // ---------------------------------------------------------------- Sinkhorn-Knopp

  @Test
  void sinkhornMatchesTheReferenceOnOneWorker() {
    double tau = 0.04;
    double[][] t = gaussian(12, 10, 9, 0.3); // [2B, K]
    for (int iterations : new int[] {1, 3}) {
      double[][] ref = sinkhornRef(t, tau, iterations, 0, 0, null);
      float[] q = sinkhorn(t, tau, iterations, 1, maxScaled(t, tau), List.of());
      assertClose(ref, q, 2e-5, "iterations " + iterations);
      // the defining property: rows are distributions; prototypes share the batch about equally
      for (double[] row : ref) {
        assertEquals(1.0, java.util.Arrays.stream(row).sum(), 1e-9);
      }
    }
  }

  @Test
  void sinkhornAsOneOfTwoWorkersEqualsTheWholeBatchOnce() {
    // worker 0 holds rows [0, 6) of the 12; its all-reduces return its own sums plus what the other
    // worker's rows contribute at the same point of the reference run
    double tau = 0.05;
    double[][] t = gaussian(12, 10, 11, 0.4);
    int iterations = 3;
    double[][] ref = sinkhornRef(t, tau, iterations, 0, 0, null);
    List<double[]> other = new ArrayList<>();
    sinkhornRef(t, tau, iterations, 6, 12, other); // the other worker's partial sums
    // the shift is the max over BOTH workers (its all-reduce), not this worker's own
    double shift = Math.max(maxScaled(rows(t, 0, 6), tau), maxScaled(rows(t, 6, 12), tau));
    float[] q = sinkhorn(rows(t, 0, 6), tau, iterations, 2, shift, other);
    assertClose(rows(ref, 0, 6), q, 2e-5, "worker 0 of 2");
  }

  /** Runs DinoLoss.sinkhornTeacher; allSum i adds {@code others.get(i)} (scaled by exp(-shift)) when given. */
  static float[] sinkhorn(double[][] t, double tau, int iterations, int workers, double shift, List<double[]> others) {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> logits = tf.constant(Shape.of(t.length, t[0].length), DataBuffers.of(flat(t), true, false));
      List<UnaryOperator<Operand<TFloat32>>> sums = new ArrayList<>();
      for (int i = 0; i <= iterations; i++) {
        if (others.isEmpty()) {
          sums.add(x -> x);
        } else {
          // the reference's sums are of exp(t / tau) unshifted; the graph's are of exp(t / tau - shift):
          // only the first (the total) carries the shift; after it Q is normalised and shift-free
          double factor = i == 0 ? Math.exp(-shift) : 1.0;
          double[] o = others.get(i);
          float[] of = new float[o.length];
          for (int j = 0; j < o.length; j++) {
            of[j] = (float) (o[j] * factor);
          }
          Shape shape = i == 0 ? Shape.scalar() : Shape.of(1, o.length);
          sums.add(x -> tf.math.add(x, tf.constant(shape, DataBuffers.of(of, true, false))));
        }
      }
      Operand<TFloat32> q = DinoLoss.sinkhornTeacher(tf, logits, tf.constant((float) tau), iterations, workers,
          tf.constant((float) shift), sums);
      return GraphRunner.fetch(s, List.of(q)).get(0);
    }
  }

  static double maxScaled(double[][] t, double tau) {
    double m = Double.NEGATIVE_INFINITY;
    for (double[] row : t) {
      for (double v : row) {
        m = Math.max(m, v / tau);
      }
    }
    return m;
  }

  static void assertClose(double[][] ref, float[] got, double tol, String what) {
    int k = ref[0].length;
    assertEquals(ref.length * k, got.length, what + ": size");
    double worst = 0;
    for (int i = 0; i < ref.length; i++) {
      for (int j = 0; j < k; j++) {
        worst = Math.max(worst, Math.abs(ref[i][j] - got[i * k + j]) / Math.max(Math.abs(ref[i][j]), 1e-6));
      }
    }
    assertTrue(worst <= tol, what + ": max relative difference " + worst);
  }
}
