package dev.dino4j.train;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.Flops;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * Measures the training step on synthetic views (model step only, no data loading) and the
 * machine's fp32 matmul throughput in the same process, so that MFU = achieved / measured peak.
 */
public final class StepBenchmark {

  /** One benchmark row. */
  public record Report(
      String name, int batchSize, double imagesPerSec, double gflopPerImage, double matmulGflops,
      double buildSeconds, long peakRssBytes, float lastLoss) {

    public double achievedGflops() {
      return imagesPerSec * gflopPerImage;
    }

    public double mfu() {
      return achievedGflops() / matmulGflops;
    }
  }

  private StepBenchmark() {}

  /**
   * fp32 GFLOP/s of a chain of [n, n] x [n, n] matmuls, best of {@code reps} timed runs, with the
   * session threading the training step uses.
   */
  public static double matmulGflops(int threads, int n, int reps) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> a = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(n, n)));
      Placeholder<TFloat32> b = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(n, n)));
      // A dependent chain p <- p b (b ~ N(0, 1/n) keeps the scale): 8 products per run hide the
      // call overhead, and no two nodes are identical, so Grappler cannot merge them.
      int chain = 8;
      Operand<TFloat32> acc = a;
      for (int i = 0; i < chain; i++) {
        acc = tf.linalg.matMul(acc, b);
      }
      acc = tf.sum(acc, tf.constant(new int[] {0, 1}));
      float[] data = new float[n * n];
      float[] scaled = new float[n * n];
      Random r = new Random(0);
      for (int i = 0; i < data.length; i++) {
        data[i] = (float) r.nextGaussian();
        scaled[i] = (float) (r.nextGaussian() / Math.sqrt(n));
      }
      double best = Double.MAX_VALUE;
      try (Session s = new Session(g, Trainer.sessionConfig(threads));
          TFloat32 ta = TFloat32.tensorOf(Shape.of(n, n), org.tensorflow.ndarray.buffer.DataBuffers.of(data, true, false));
          TFloat32 tb = TFloat32.tensorOf(Shape.of(n, n), org.tensorflow.ndarray.buffer.DataBuffers.of(scaled, true, false))) {
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

  /** Times {@code steps} training steps after {@code warmup} untimed ones. */
  public static Report run(String name, DinoConfig cfg, int warmup, int steps, double matmulGflops) {
    int b = cfg.train().batchSize();
    DinoConfig.Augment a = cfg.augment();
    Random r = new Random(1);
    float[] globals = gaussian(r, 2L * b * a.globalSize() * a.globalSize() * 3);
    float[] locals = gaussian(r, (long) a.localCrops() * b * a.localSize() * a.localSize() * 3);
    try (Graph g = new Graph()) {
      long t0 = System.nanoTime();
      DinoGraph dino = new DinoGraph(g, cfg);
      double build = (System.nanoTime() - t0) / 1e9;
      try (Session s = new Session(g, Trainer.sessionConfig(cfg.train().threads()))) {
        dino.initialize(s, 0);
        float loss = Float.NaN;
        long start = 0;
        for (int i = 0; i < warmup + steps; i++) {
          if (i == warmup) {
            start = System.nanoTime();
          }
          DinoGraph.StepInputs in = new DinoGraph.StepInputs(1e-4f, 0.04f, 0.996f, 0.04f, false, 0, i);
          loss = dino.runStep(s, globals, locals, b, in, false).loss();
        }
        double secs = (System.nanoTime() - start) / 1e9;
        return new Report(name, b, steps * (double) b / secs, Flops.trainStepPerImage(cfg) / 1e9, matmulGflops,
            build, peakRssBytes(), loss);
      }
    }
  }

  /** Peak resident set size of this process (VmHWM), or -1 where /proc is not available. */
  public static long peakRssBytes() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
    return -1;
  }

  private static float[] gaussian(Random r, long n) {
    float[] x = new float[Math.toIntExact(n)];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    return x;
  }
}
