package dev.dino4j.config;

import java.util.Locale;
import java.util.Random;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat32;

/**
 * The machine's matmul throughput, measured: for {@code dino4j bench}'s MFU and for
 * {@code train.precision: auto} on CPUs whose flags do not settle whether bf16 is the faster
 * precision (AVX512-BF16 without AMX: bf16 matmuls ran 0.5-0.9x fp32's on one AMD EPYC and 1.9x on
 * another, and the tiny recipe's step followed them: docs/design.md, "Precision").
 */
public final class MatmulProbe {

  private static final Logger LOG = LogManager.getLogger(MatmulProbe.class);

  /** Probe size: the shapes of the tiny recipe's matmuls (128-512 wide), cheap enough for every load. */
  static final int PROBE_N = 512;

  private static volatile Double bf16Speedup;

  private MatmulProbe() {}

  /**
   * bf16 matmul GFLOP/s over fp32's on this machine at one thread per op (what the towers run),
   * measured once per process (~0.5 s): best of three runs each, fp32 and bf16 alternating, so
   * that a load shared with other jobs hits both alike.
   */
  public static double bf16Speedup() {
    Double s = bf16Speedup;
    if (s == null) {
      synchronized (MatmulProbe.class) {
        if (bf16Speedup == null) {
          double fp32 = 0;
          double bf16 = 0;
          for (int round = 0; round < 2; round++) {
            fp32 = Math.max(fp32, gflops(1, "fp32", PROBE_N, 3));
            bf16 = Math.max(bf16, gflops(1, "bf16", PROBE_N, 3));
          }
          bf16Speedup = bf16 / fp32;
          LOG.info(String.format(Locale.ROOT,
              "matmul probe (%d^3, one thread): fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s = %.2fx",
              PROBE_N, fp32, bf16, bf16Speedup));
        }
        s = bf16Speedup;
      }
    }
    return s;
  }

  /**
   * GFLOP/s of a chain of [n, n] x [n, n] matmuls at {@code precision} ("fp32" or "bf16": the
   * operands cast to bfloat16 once, the chain in bfloat16), best of {@code reps} timed runs, each op
   * on {@code threads} threads (0: TF's default pools, all cores).
   */
  public static double gflops(int threads, String precision, int n, int reps) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> a = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(n, n)));
      Placeholder<TFloat32> b = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(n, n)));
      // A dependent chain p <- p b (b ~ N(0, 1/n) keeps the scale): 8 products per run hide the
      // call overhead, and no two nodes are identical, so Grappler cannot merge them.
      int chain = 8;
      Operand<TFloat32> acc;
      if ("bf16".equals(precision)) {
        Operand<TBfloat16> bb = tf.dtypes.cast(b, TBfloat16.class);
        Operand<TBfloat16> p = tf.dtypes.cast(a, TBfloat16.class);
        for (int i = 0; i < chain; i++) {
          p = tf.linalg.matMul(p, bb);
        }
        acc = tf.dtypes.cast(p, TFloat32.class);
      } else {
        acc = a;
        for (int i = 0; i < chain; i++) {
          acc = tf.linalg.matMul(acc, b);
        }
      }
      acc = tf.sum(acc, tf.constant(new int[] {0, 1}));
      float[] data = new float[n * n];
      float[] scaled = new float[n * n];
      Random r = new Random(0);
      for (int i = 0; i < data.length; i++) {
        data[i] = (float) r.nextGaussian();
        scaled[i] = (float) (r.nextGaussian() / Math.sqrt(n));
      }
      // The session the training step's fp32 ops get (SessionOptions): the chain's casts are explicit,
      // so no rewrite is needed for bf16.
      ConfigProto.Builder config = ConfigProto.newBuilder();
      if (threads > 0) {
        config.setIntraOpParallelismThreads(threads).setInterOpParallelismThreads(1);
      }
      double best = Double.MAX_VALUE;
      try (Session s = new Session(g, config.build());
          TFloat32 ta = TFloat32.tensorOf(Shape.of(n, n), DataBuffers.of(data, true, false));
          TFloat32 tb = TFloat32.tensorOf(Shape.of(n, n), DataBuffers.of(scaled, true, false))) {
        for (int i = 0; i < reps + 1; i++) {
          long t0 = System.nanoTime();
          try (Result res = s.runner().feed(a, ta).feed(b, tb).fetch(acc).run()) {
            res.get(0);
          }
          long dt = System.nanoTime() - t0;
          if (i > 0) { // the first run pays for kernel selection and allocation
            best = Math.min(best, dt / 1e9);
          }
        }
      }
      return chain * 2.0 * n * n * n / best / 1e9;
    }
  }
}
