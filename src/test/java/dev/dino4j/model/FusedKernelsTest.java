package dev.dino4j.model;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Operation;
import org.tensorflow.Output;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The fused ops against independent references: plain-Java double-precision LayerNorm and GELU
 * (with its own erf), central finite differences of those for the gradients, TF's stock ops, and
 * the bfloat16 kernels against the float ones.
 */
class FusedKernelsTest {

  /** Row length 37: not a multiple of any vector width, so the kernels' loop remainders run. */
  private static final int ROWS = 6;
  private static final int D = 37;

  @BeforeAll
  static void requireKernels() {
    if (FusedKernels.available()) {
      return;
    }
    // built by make build/make test wherever there is a C++ compiler: then their absence is a failure
    boolean compiler = false;
    for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
      for (String c : List.of("g++", "c++", "clang++")) {
        compiler |= Files.isExecutable(Path.of(dir, c));
      }
    }
    assertFalse(compiler, "a C++ compiler is here but " + FusedKernels.problem());
    assumeTrue(false, FusedKernels.problem());
  }

  private static float[] gaussian(int n, double scale, double shift, long seed) {
    Random r = new Random(seed);
    float[] a = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) (r.nextGaussian() * scale + shift);
    }
    return a;
  }

  private static Operand<TFloat32> constant(Ops tf, float[] v, long... shape) {
    return tf.constant(Shape.of(shape), DataBuffers.of(v, true, false));
  }

  private static float[] toArray(Result r, int i) {
    TFloat32 t = (TFloat32) r.get(i);
    float[] a = new float[(int) t.size()];
    t.copyTo(DataBuffers.of(a, false, false));
    return a;
  }

  private static List<float[]> run(Graph g, List<Operand<?>> fetches) {
    try (Session s = new Session(g)) {
      Session.Runner runner = s.runner();
      fetches.forEach(runner::fetch);
      try (Result r = runner.run()) {
        List<float[]> out = new ArrayList<>();
        for (int i = 0; i < fetches.size(); i++) {
          out.add(toArray(r, i));
        }
        return out;
      }
    }
  }

  private static void assertClose(double[] want, float[] got, double abs, double rel, String what) {
    assertEquals(want.length, got.length, what);
    for (int i = 0; i < want.length; i++) {
      double tol = abs + rel * Math.abs(want[i]);
      int at = i;
      assertTrue(Math.abs(want[i] - got[i]) <= tol,
          () -> what + "[" + at + "]: want " + want[at] + ", got " + got[at]);
    }
  }

  // ---- plain-Java references (double) ----

  private static double[] layerNorm(float[] x, int d) {
    double[] y = new double[x.length];
    for (int r = 0; r < x.length / d; r++) {
      double mean = 0;
      for (int j = 0; j < d; j++) {
        mean += x[r * d + j];
      }
      mean /= d;
      double var = 0;
      for (int j = 0; j < d; j++) {
        var += (x[r * d + j] - mean) * (x[r * d + j] - mean);
      }
      double rstd = 1 / Math.sqrt(var / d + VisionTransformer.LN_EPS);
      for (int j = 0; j < d; j++) {
        y[r * d + j] = (x[r * d + j] - mean) * rstd;
      }
    }
    return y;
  }

  /** erf by its Maclaurin series (|x| <= 4: terms below 1e7, so ~1e-9 absolute), else +-1 (erfc(4) = 1.5e-8). */
  static double erf(double x) {
    if (Math.abs(x) > 4) {
      return Math.signum(x);
    }
    double sum = 0;
    double term = x; // (-1)^n x^(2n+1) / n!
    for (int n = 0; n < 200; n++) {
      sum += term / (2 * n + 1);
      term *= -x * x / (n + 1);
    }
    return 2 / Math.sqrt(Math.PI) * sum;
  }

  private static double biasGelu(double u) {
    return u * (1 + erf(u));
  }

  // ---- LayerNorm ----

  @Test
  void layerNormMatchesPlainJavaWithAFarOffMean() {
    float[] x = gaussian(ROWS * D, 3, 50, 1); // mean 50, std 3: the two-pass variance must not cancel
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> xs = constant(tf, x, 2, 3, D);
      Operand<TFloat32> y = FusedKernels.normalize(tf, xs);
      assertEquals(Shape.of(2, 3, D), y.shape(), "shape inference");
      List<float[]> out = run(g, List.of(y));
      assertClose(layerNorm(x, D), out.get(0), 2e-5, 1e-5, "y");
    }
  }

  @Test
  void layerNormGradientMatchesFiniteDifferencesAndTheStockGradient() {
    float[] x = gaussian(ROWS * D, 1.5, 0.3, 2);
    float[] w = gaussian(ROWS * D, 1, 0, 3);
    // loss = sum(w * y(x)); its gradient in double by central differences of the Java LayerNorm
    double[] want = new double[x.length];
    double h = 1e-3;
    for (int i = 0; i < x.length; i++) {
      float[] xp = x.clone();
      float[] xm = x.clone();
      xp[i] += (float) h;
      xm[i] -= (float) h;
      double step = (double) xp[i] - xm[i];
      want[i] = (dot(w, layerNorm(xp, D)) - dot(w, layerNorm(xm, D))) / step;
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> xs = constant(tf, x, ROWS, D);
      Operand<TFloat32> ws = constant(tf, w, ROWS, D);
      Operand<TFloat32> fused = tf.sum(tf.math.mul(FusedKernels.normalize(tf, xs), ws), tf.constant(new int[] {0, 1}));
      Operand<TFloat32> stock =
          tf.sum(tf.math.mul(Layers.normalize(tf, xs, VisionTransformer.LN_EPS), ws), tf.constant(new int[] {0, 1}));
      List<float[]> out = run(g, List.of(tf.gradients(fused, List.of(xs)).dy(0), tf.gradients(stock, List.of(xs)).dy(0)));
      assertClose(want, out.get(0), 2e-3, 2e-3, "dx vs finite differences");
      assertClose(toDouble(out.get(1)), out.get(0), 2e-5, 1e-5, "dx vs TF's FusedBatchNorm gradient");
    }
  }

  // ---- bias + GELU ----

  @Test
  void biasGeluMatchesPlainJavaAndStockOps() {
    float[] z = gaussian(ROWS * D, 2.5, 0, 4); // |u| up to ~9: both tails and the middle
    float[] b = gaussian(D, 1, 0, 5);
    z[0] = -b[0]; // u = 0 exactly
    double[] want = new double[z.length];
    for (int i = 0; i < z.length; i++) {
      want[i] = biasGelu((double) z[i] + b[i % D]);
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> zs = constant(tf, z, ROWS, D);
      Operand<TFloat32> bs = constant(tf, b, D);
      Operand<TFloat32> y = FusedKernels.biasGelu(tf, zs, bs);
      assertEquals(Shape.of(ROWS, D), y.shape(), "shape inference");
      Operand<TFloat32> u = tf.nn.biasAdd(zs, bs);
      Operand<TFloat32> stock = tf.math.mul(u, tf.math.add(tf.math.erf(u), tf.constant(1f)));
      List<float[]> out = run(g, List.of(y, stock));
      assertClose(want, out.get(0), 1e-6, 1e-6, "y vs Java");
      assertClose(toDouble(out.get(1)), out.get(0), 1e-6, 1e-6, "y vs TF's erf");
    }
  }

  @Test
  void biasGeluGradientsMatchFiniteDifferences() {
    float[] z = gaussian(ROWS * D, 2, 0, 6);
    float[] b = gaussian(D, 0.5, 0, 7);
    float[] w = gaussian(ROWS * D, 1, 0, 8);
    double h = 1e-3;
    double[] wantZ = new double[z.length];
    double[] wantB = new double[D];
    for (int i = 0; i < z.length; i++) {
      double u = (double) z[i] + b[i % D];
      double slope = (biasGelu(u + h) - biasGelu(u - h)) / (2 * h); // d/dz = d/db of one element
      wantZ[i] = w[i] * slope;
      wantB[i % D] += w[i] * slope;
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> zs = constant(tf, z, ROWS, D);
      Operand<TFloat32> bs = constant(tf, b, D);
      Operand<TFloat32> loss =
          tf.sum(tf.math.mul(FusedKernels.biasGelu(tf, zs, bs), constant(tf, w, ROWS, D)), tf.constant(new int[] {0, 1}));
      var grads = tf.gradients(loss, List.of(zs, bs));
      List<float[]> out = run(g, List.of(grads.dy(0), grads.dy(1)));
      assertClose(wantZ, out.get(0), 1e-5, 1e-5, "dz");
      assertClose(wantB, out.get(1), 1e-4, 1e-5, "db");
    }
  }

  @Test
  void aBiasOfTheWrongLengthIsAClearError() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> z = tf.placeholder(TFloat32.class);
      Operand<TFloat32> b = tf.placeholder(TFloat32.class);
      Operand<TFloat32> y = FusedKernels.biasGelu(tf, z, b);
      try (Session s = new Session(g);
          TFloat32 zv = TFloat32.tensorOf(Shape.of(2, 5));
          TFloat32 bv = TFloat32.tensorOf(Shape.of(4))) {
        Exception e = assertThrows(Exception.class, () -> s.runner().feed(z, zv).feed(b, bv).fetch(y).run().close());
        assertTrue(e.getMessage().contains("bias must be a vector as long as z's last axis"), e.getMessage());
      }
    }
  }

  // ---- bias + drop-path scale + residual ----

  @Test
  void biasScaleResidualAndItsGradientsMatchPlainJava() {
    int samples = 3;
    int tokens = 2; // ROWS = samples * tokens
    float[] x = gaussian(ROWS * D, 1, 0, 16);
    float[] z = gaussian(ROWS * D, 1, 0, 17);
    float[] b = gaussian(D, 1, 0, 18);
    float[] s = {0f, 1.25f, 1.25f}; // a dropped sample and two kept ones, as drop path draws them
    float[] w = gaussian(ROWS * D, 1, 0, 19);
    double[] want = new double[x.length];
    double[] wantDz = new double[x.length];
    double[] wantDb = new double[D];
    for (int i = 0; i < x.length; i++) {
      double scale = s[i / D / tokens];
      want[i] = x[i] + ((double) z[i] + b[i % D]) * scale;
      wantDz[i] = w[i] * scale; // loss = sum(w * y), linear: exact derivatives
      wantDb[i % D] += w[i] * scale;
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> xs = constant(tf, x, samples, tokens, D);
      Operand<TFloat32> zs = constant(tf, z, samples, tokens, D);
      Operand<TFloat32> bs = constant(tf, b, D);
      Operand<TFloat32> ss = constant(tf, s, samples, 1, 1);
      Operand<TFloat32> y = FusedKernels.biasScaleResidual(tf, xs, zs, bs, ss);
      assertEquals(Shape.of(samples, tokens, D), y.shape());
      Operand<TFloat32> loss = tf.sum(tf.math.mul(y, constant(tf, w, samples, tokens, D)), tf.constant(new int[] {0, 1, 2}));
      var grads = tf.gradients(loss, List.of(xs, zs, bs));
      List<float[]> out = run(g, List.of(y, grads.dy(0), grads.dy(1), grads.dy(2)));
      assertClose(want, out.get(0), 1e-6, 1e-6, "y");
      assertClose(toDouble(w), out.get(1), 0, 0, "dx: the residual passes the gradient through");
      assertClose(wantDz, out.get(2), 1e-6, 1e-6, "dz");
      assertClose(wantDb, out.get(3), 1e-5, 1e-6, "db");
    }
  }

  // ---- qkv heads ----

  @Test
  void qkvHeadsAndTheirGradientsMatchBiasTransposeAndSplit() {
    int nb = 2, n = 3, h = 2, hd = 5, c3 = 3 * h * hd;
    float[] z = gaussian(nb * n * c3, 1, 0, 20);
    float[] b = gaussian(c3, 1, 0, 21);
    float[][] w = {gaussian(nb * h * n * hd, 1, 0, 22), gaussian(nb * h * n * hd, 1, 0, 23), gaussian(nb * h * n * hd, 1, 0, 24)};
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> zs = constant(tf, z, nb, n, 3, h, hd);
      Operand<TFloat32> bs = constant(tf, b, c3);
      List<Operand<TFloat32>> fused = FusedKernels.qkvHeads(tf, zs, bs);
      // the stock layout: bias add, then [B, N, 3, H, hd] -> [3, B, H, N, hd], split
      Operand<TFloat32> biased = tf.math.add(zs, tf.reshape(bs, tf.constant(new long[] {3, h, hd})));
      Operand<TFloat32> t = tf.linalg.transpose(biased, tf.constant(new int[] {2, 0, 3, 1, 4}));
      List<Operand<TFloat32>> stock = new ArrayList<>();
      for (Operand<TFloat32> part : tf.split(tf.constant(0), t, 3L)) {
        stock.add(tf.reshape(part, tf.constant(new long[] {nb, h, n, hd})));
      }
      Operand<TFloat32> lf = tf.constant(0f);
      Operand<TFloat32> ls = tf.constant(0f);
      for (int i = 0; i < 3; i++) {
        Operand<TFloat32> wi = constant(tf, w[i], nb, h, n, hd);
        lf = tf.math.add(lf, tf.sum(tf.math.mul(tf.reshape(fused.get(i), tf.constant(new long[] {nb, h, n, hd})), wi),
            tf.constant(new int[] {0, 1, 2, 3})));
        ls = tf.math.add(ls, tf.sum(tf.math.mul(stock.get(i), wi), tf.constant(new int[] {0, 1, 2, 3})));
      }
      var gf = tf.gradients(lf, List.of(zs, bs));
      var gs = tf.gradients(ls, List.of(zs, bs));
      List<float[]> out = run(g, List.of(fused.get(0), stock.get(0), fused.get(1), stock.get(1), fused.get(2), stock.get(2),
          gf.dy(0), gs.dy(0), gf.dy(1), gs.dy(1)));
      String[] names = {"q", "k", "v", "dz", "db"};
      for (int k = 0; k < 5; k++) {
        assertClose(toDouble(out.get(2 * k + 1)), out.get(2 * k), 1e-6, 1e-6, names[k]);
      }
    }
  }

  // ---- batched matmul ----

  @Test
  void batchMatMulAndItsGradientsMatchTheStockOp() {
    float[] a = gaussian(2 * 3 * 5 * 4, 1, 0, 12); // [2, 3, 5, 4]
    float[] b = gaussian(2 * 3 * 5 * 4, 1, 0, 13); // [2, 3, 5, 4] (transposed) or [2, 3, 4, 5]
    float[] w = gaussian(2 * 3 * 5 * 5, 1, 0, 14);
    float[] w2 = gaussian(2 * 3 * 5 * 5, 1, 0, 15);
    for (boolean adjY : new boolean[] {true, false}) {
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        Operand<TFloat32> as = constant(tf, a, 2, 3, 5, 4);
        Operand<TFloat32> bs = adjY ? constant(tf, b, 2, 3, 5, 4) : constant(tf, b, 2, 3, 4, 5);
        Operand<TFloat32> ws = constant(tf, adjY ? w : w2, 2, 3, 5, 5);
        Operand<TFloat32> fused = FusedKernels.batchMatMul(tf, as, bs, adjY);
        Operand<TFloat32> stock =
            tf.train.batchMatMul(as, bs, TFloat32.class, org.tensorflow.op.train.BatchMatMul.adjY(adjY));
        assertEquals(Shape.of(2, 3, 5, 5), fused.shape());
        // a second use of the product, so that the gradient sums two paths as in attention
        Operand<TFloat32> lf = tf.sum(tf.math.mul(tf.math.mul(fused, ws), fused), tf.constant(new int[] {0, 1, 2, 3}));
        Operand<TFloat32> ls = tf.sum(tf.math.mul(tf.math.mul(stock, ws), stock), tf.constant(new int[] {0, 1, 2, 3}));
        var gf = tf.gradients(lf, List.of(as, bs));
        var gs = tf.gradients(ls, List.of(as, bs));
        List<float[]> out = run(g, List.of(fused, stock, gf.dy(0), gs.dy(0), gf.dy(1), gs.dy(1)));
        for (int k = 0; k < 3; k++) {
          assertClose(toDouble(out.get(2 * k + 1)), out.get(2 * k), 1e-5, 1e-5, "adjY " + adjY + " output " + k);
        }
      }
    }
  }

  // ---- optimizer and EMA ----

  /**
   * One AdamW step against plain-Java double arithmetic (torch.optim.AdamW's, with the per-tensor
   * clip), with the clip biting (norm about 6 > 1), not biting and off, with and without decay; and the
   * EMA.
   */
  @Test
  void adamWAndEmaMatchPlainJava() {
    int n = ROWS * D;
    float[] w = gaussian(n, 1, 0, 21);
    float[] m = gaussian(n, 0.01, 0, 22);
    float[] v = gaussian(n, 0.001, 0, 23);
    for (int i = 0; i < n; i++) {
      v[i] = Math.abs(v[i]); // a second moment
    }
    float[] g = gaussian(n, 0.4, 0, 24);
    double lr = 2e-3;
    double b1 = 0.9;
    double b2 = 0.999;
    double eps = 1e-8;
    int t = 3;
    double bc1 = 1 - Math.pow(b1, t);
    double bc2 = 1 - Math.pow(b2, t);
    for (double clip : new double[] {1.0, 100.0, 0.0}) {
      for (double decay : new double[] {1 - lr * 0.04, 1.0}) {
        float[] h = {(float) (lr / bc1), (float) Math.sqrt(bc2), (float) decay, (float) clip, (float) b1,
            (float) (1 - b1), (float) b2, (float) (1 - b2), (float) eps};
        try (Graph gr = new Graph()) {
          Ops tf = Ops.create(gr);
          List<Operand<TFloat32>> next =
              FusedKernels.adamW(tf, constant(tf, w, ROWS, D), constant(tf, m, ROWS, D), constant(tf, v, ROWS, D),
                  constant(tf, g, ROWS, D), constant(tf, h, 9));
          assertEquals(Shape.of(ROWS, D), next.get(0).shape());
          List<float[]> out = run(gr, List.of(next.get(0), next.get(1), next.get(2)));
          double norm = Math.sqrt(dot(g, toDouble(g)));
          double coef = clip > 0 ? Math.min(1, clip / (norm + 1e-6)) : 1;
          double[] wWant = new double[n];
          double[] mWant = new double[n];
          double[] vWant = new double[n];
          for (int i = 0; i < n; i++) {
            double gi = g[i] * coef;
            mWant[i] = b1 * m[i] + (1 - b1) * gi;
            vWant[i] = b2 * v[i] + (1 - b2) * gi * gi;
            wWant[i] = w[i] * decay - lr / bc1 * mWant[i] / (Math.sqrt(vWant[i]) / Math.sqrt(bc2) + eps);
          }
          String what = "clip " + clip + ", decay " + decay;
          assertClose(mWant, out.get(1), 1e-9, 1e-5, what + ": m");
          assertClose(vWant, out.get(2), 1e-12, 1e-5, what + ": v");
          assertClose(wWant, out.get(0), 1e-7, 1e-6, what + ": w");
        }
      }
    }
    float[] s = gaussian(n, 1, 0, 25);
    try (Graph gr = new Graph()) {
      Ops tf = Ops.create(gr);
      Operand<TFloat32> next = FusedKernels.ema(tf, constant(tf, w, ROWS, D), constant(tf, s, ROWS, D), tf.constant(0.996f));
      double[] want = new double[n];
      for (int i = 0; i < n; i++) {
        want[i] = 0.996 * w[i] + (1 - 0.996) * s[i];
      }
      assertClose(want, run(gr, List.of(next)).get(0), 1e-7, 1e-6, "ema");
    }
  }

  // ---- softmax ----

  private static double[] softmax(float[] x, int d) {
    double[] y = new double[x.length];
    for (int r = 0; r < x.length / d; r++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < d; j++) {
        max = Math.max(max, x[r * d + j]);
      }
      double sum = 0;
      for (int j = 0; j < d; j++) {
        y[r * d + j] = Math.exp(x[r * d + j] - max);
        sum += y[r * d + j];
      }
      for (int j = 0; j < d; j++) {
        y[r * d + j] /= sum;
      }
    }
    return y;
  }

  @Test
  void softmaxGradientMatchesFiniteDifferencesAndTheStockGradient() {
    float[] x = gaussian(ROWS * D, 4, 0, 12);
    for (int j = 0; j < D; j++) {
      x[D + j] += 80; // a row far from 0: exp without the max subtracted would overflow
    }
    x[2 * D] = -200; // a weight that underflows to (almost) 0
    float[] w = gaussian(ROWS * D, 1, 0, 13);
    double h = 1e-3;
    double[] want = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      float[] xp = x.clone();
      float[] xm = x.clone();
      xp[i] += (float) h;
      xm[i] -= (float) h;
      want[i] = (dot(w, softmax(xp, D)) - dot(w, softmax(xm, D))) / ((double) xp[i] - xm[i]);
    }
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Operand<TFloat32> xs = constant(tf, x, 2, 3, D);
      Operand<TFloat32> ws = constant(tf, w, 2, 3, D);
      Operand<TFloat32> y = FusedKernels.softmax(tf, xs);
      assertEquals(Shape.of(2, 3, D), y.shape(), "shape inference");
      Operand<TInt32> axes = tf.constant(new int[] {0, 1, 2});
      Operand<TFloat32> fused = tf.sum(tf.math.mul(y, ws), axes);
      Operand<TFloat32> stock = tf.sum(tf.math.mul(tf.nn.softmax(xs), ws), axes);
      List<float[]> out = run(g, List.of(y, tf.gradients(fused, List.of(xs)).dy(0), tf.gradients(stock, List.of(xs)).dy(0)));
      assertClose(softmax(x, D), out.get(0), 1e-7, 1e-6, "y vs Java");
      assertClose(want, out.get(1), 1e-4, 1e-3, "dx vs finite differences");
      assertClose(toDouble(out.get(2)), out.get(1), 1e-7, 1e-5, "dx vs TF's softmax gradient");
    }
  }

  // ---- bfloat16 ----

  @Test
  void bfloat16KernelsMatchTheFloatOnesWithinOneRounding() {
    float[] x = gaussian(ROWS * D, 2, 0.5, 9);
    float[] b = gaussian(D, 0.5, 0, 10);
    float[] dy = gaussian(ROWS * D, 1, 0, 11);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      // inputs rounded to bf16 once, so both paths see the same values
      Operand<TBfloat16> xh = tf.dtypes.cast(constant(tf, x, ROWS, D), TBfloat16.class);
      Operand<TBfloat16> bh = tf.dtypes.cast(constant(tf, b, D), TBfloat16.class);
      Operand<TBfloat16> dyh = tf.dtypes.cast(constant(tf, dy, ROWS, D), TBfloat16.class);
      List<Operand<?>> fetches = new ArrayList<>();
      for (boolean half : new boolean[] {false, true}) {
        Operand<?> xi = half ? xh : tf.dtypes.cast(xh, TFloat32.class);
        Operand<?> bi = half ? bh : tf.dtypes.cast(bh, TFloat32.class);
        Operand<?> dyi = half ? dyh : tf.dtypes.cast(dyh, TFloat32.class);
        Operation ln = op(tf, "Dino4jLayerNorm", "ln" + half, xi);
        Operation lng = op(tf, "Dino4jLayerNormGrad", "lng" + half, dyi, ln.output(0), ln.output(1));
        Operation bg = op(tf, "Dino4jBiasGelu", "bg" + half, xi, bi);
        Operation bgg = op(tf, "Dino4jBiasGeluGrad", "bgg" + half, dyi, xi, bi);
        Operand<TFloat32> scale = constant(tf, new float[] {0.5f, 0f, 2f}, 3, 1, 1);
        Operation bsr = op(tf, "Dino4jBiasScaleResidual", "bsr" + half, xi, dyi, bi, scale);
        Operation bsrg = op(tf, "Dino4jBiasScaleResidualGrad", "bsrg" + half, dyi, scale);
        // any y will do here (the bias-GELU output): what is compared is the kernel's arithmetic
        Operation smg = op(tf, "Dino4jSoftmaxGrad", "smg" + half, dyi, bg.output(0));
        for (Output<?> o : List.of(ln.output(0), lng.output(0), bg.output(0), bgg.output(0), bgg.output(1),
            bsr.output(0), bsrg.output(0), bsrg.output(1), smg.output(0))) {
          fetches.add(half ? tf.dtypes.cast(o, TFloat32.class) : o);
        }
      }
      List<float[]> out = run(g, fetches);
      String[] names = {"layer norm", "its gradient", "bias gelu", "its dz", "its db", "bias scale residual",
          "its dz", "its db", "softmax gradient"};
      int n = names.length;
      for (int k = 0; k < n; k++) {
        // each output is rounded to bf16 once (2^-9 relative); the LayerNorm and softmax gradients
        // also read y as rounded to bf16 and subtract, so they are held to a share of their largest
        // value instead
        double[] want = toDouble(out.get(k));
        double max = 0;
        for (double v : want) {
          max = Math.max(max, Math.abs(v));
        }
        assertClose(want, out.get(n + k), k == 1 || k == 8 ? 1e-2 * max : 1e-6, 4e-3, "bf16 " + names[k]);
      }
    }
  }

  private static Operation op(Ops tf, String type, String name, Operand<?>... inputs) {
    var b = tf.scope().opBuilder(type, name);
    for (Operand<?> in : inputs) {
      b.addInput(in.asOutput());
    }
    return b.build();
  }

  private static double dot(float[] w, double[] y) {
    double s = 0;
    for (int i = 0; i < w.length; i++) {
      s += w[i] * y[i];
    }
    return s;
  }

  private static double[] toDouble(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      d[i] = a[i];
    }
    return d;
  }
}
