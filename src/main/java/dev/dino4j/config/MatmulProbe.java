package dev.dino4j.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
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
 *
 * <p>The probes run in a child JVM ({@link #inChild}): TF's CPU thread pools are process-wide and
 * sized by the first session a process opens, so a probe session opened in the trainer's process
 * before the trainer's own would fix its thread counts (one inter-op thread serialised the two
 * towers and halved the step rate, 91 against 169 images/s: docs/performance.md).
 */
public final class MatmulProbe {

  private static final Logger LOG = LogManager.getLogger(MatmulProbe.class);

  /** Probe size: the shapes of the tiny recipe's matmuls (128-512 wide), cheap enough for every load. */
  static final int PROBE_N = 512;

  /** The line a child prints its figures on; anything else it prints (TF's chatter) is ignored. */
  private static final String RESULT_PREFIX = "dino4j-matmul-probe";

  /** A child that has not answered by then is killed: the probe is ~0.5 s of work after TF loads. */
  private static final long CHILD_TIMEOUT_S = 120;

  private static volatile Double bf16Speedup;
  private static volatile long lastChildPid = -1;

  private MatmulProbe() {}

  /**
   * bf16 matmul GFLOP/s over fp32's on this machine at one thread per op (what the towers run),
   * measured once per process in a child JVM (~2 s with TF's start-up): best of three runs each,
   * fp32 and bf16 alternating, so that a load shared with other jobs hits both alike. A child that
   * fails gives 0 (auto then keeps fp32, the precision that needs no measurement) and a warning.
   */
  public static double bf16Speedup() {
    Double s = bf16Speedup;
    if (s == null) {
      synchronized (MatmulProbe.class) {
        if (bf16Speedup == null) {
          try {
            double[] g = inChild("speedup");
            bf16Speedup = g[1] / g[0];
            LOG.info(String.format(Locale.ROOT,
                "matmul probe (%d^3, one thread, child process): fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s = %.2fx",
                PROBE_N, g[0], g[1], bf16Speedup));
          } catch (IOException e) {
            LOG.warn("matmul probe failed, so precision auto keeps fp32: {}", e.getMessage());
            bf16Speedup = 0.0;
          }
        }
        s = bf16Speedup;
      }
    }
    return s;
  }

  /**
   * {@link #gflops} of fp32 and, with {@code bf16}, of bf16 (else NaN), measured in a child JVM so
   * that this process's TF thread pools are left for the session that follows.
   */
  public static double[] peaksInChild(int threads, boolean bf16, int n, int reps) throws IOException {
    double[] g = inChild("peaks", Integer.toString(threads), Boolean.toString(bf16), Integer.toString(n),
        Integer.toString(reps));
    return new double[] {g[0], bf16 ? g[1] : Double.NaN};
  }

  /** The process id of the last probe child (-1 before the first): the probes' sessions ran there, not here. */
  public static long lastChildPid() {
    return lastChildPid;
  }

  /** Runs {@link #main} in a new JVM on this classpath and returns the figures it prints. */
  static double[] inChild(String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m",
        "-cp", System.getProperty("java.class.path"), MatmulProbe.class.getName()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().putIfAbsent("TF_CPP_MIN_LOG_LEVEL", "2");
    Process p = pb.start();
    lastChildPid = p.pid();
    String out;
    try (InputStream in = p.getInputStream()) {
      // the child prints a few lines at most; reading to the end also waits for it to exit
      out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(CHILD_TIMEOUT_S, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException("matmul probe child did not exit within " + CHILD_TIMEOUT_S + " s");
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting for the matmul probe child", e);
    }
    for (String line : out.split("\\R")) {
      if (line.startsWith(RESULT_PREFIX + " ")) {
        String[] f = line.substring(RESULT_PREFIX.length() + 1).trim().split(" ");
        return new double[] {Double.parseDouble(f[0]), Double.parseDouble(f[1])};
      }
    }
    String tail = out.length() > 2000 ? out.substring(out.length() - 2000) : out;
    throw new IOException("matmul probe child exited " + p.exitValue() + " without its result line; it printed: "
        + tail.strip());
  }

  /**
   * The child's side of {@link #inChild}: {@code speedup} (one thread, {@link #PROBE_N}^3, fp32 and
   * bf16 alternating twice, best of 3 each) or {@code peaks THREADS BF16 N REPS}; prints "fp32 bf16"
   * GFLOP/s on one line.
   */
  public static void main(String[] args) {
    double fp32 = 0;
    double bf16 = Double.NaN;
    if ("speedup".equals(args[0])) {
      bf16 = 0;
      for (int round = 0; round < 2; round++) {
        fp32 = Math.max(fp32, gflops(1, "fp32", PROBE_N, 3));
        bf16 = Math.max(bf16, gflops(1, "bf16", PROBE_N, 3));
      }
    } else if ("peaks".equals(args[0])) {
      int threads = Integer.parseInt(args[1]);
      int n = Integer.parseInt(args[3]);
      int reps = Integer.parseInt(args[4]);
      if (n <= 0 || reps <= 0) {
        throw new IllegalArgumentException("peaks: N and REPS must be positive, got " + n + " and " + reps);
      }
      fp32 = gflops(threads, "fp32", n, reps);
      if (Boolean.parseBoolean(args[2])) {
        bf16 = gflops(threads, "bf16", n, reps);
      }
    } else {
      throw new IllegalArgumentException("usage: MatmulProbe speedup | peaks THREADS BF16 N REPS");
    }
    System.out.println(RESULT_PREFIX + " " + fp32 + " " + bf16);
  }

  /**
   * GFLOP/s of a chain of [n, n] x [n, n] matmuls at {@code precision} ("fp32" or "bf16": the
   * operands cast to bfloat16 once, the chain in bfloat16), best of {@code reps} timed runs, each op
   * on {@code threads} threads (0: TF's default pools, all cores). In this process: where it is the
   * first session, it sizes the process's TF thread pools (see the class comment).
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
