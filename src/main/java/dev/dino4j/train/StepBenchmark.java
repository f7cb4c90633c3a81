package dev.dino4j.train;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.Flops;
import dev.dino4j.model.Params;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;

/**
 * Measures the training step on synthetic views (model step only, no data loading) and the
 * machine's fp32 and bf16 matmul throughput in the same process, so that MFU = achieved / measured
 * peak at the step's precision.
 */
public final class StepBenchmark {

  /**
   * One benchmark row; {@code matmulGflops} is the peak at {@code precision}. {@code cpuMsPerStep}
   * is the process's CPU time per timed step (all threads): on a machine shared with other jobs
   * it is a steadier measure of the work a step takes than wall time.
   */
  public record Report(
      String name, String precision, int batchSize, int steps, double imagesPerSec, double stepMsMin,
      double cpuMsPerStep, double gflopPerImage, double matmulGflops, double buildSeconds, long peakRssBytes,
      float lastLoss, int workers, double stepSeconds, double allReduceSeconds, long allReduceFloats) {

    /** Share of a step a bare all-reduce of the step's payload takes (0 on one worker). */
    public double allReduceShare() {
      return stepSeconds > 0 ? allReduceSeconds / stepSeconds : 0;
    }

    public double achievedGflops() {
      return imagesPerSec * gflopPerImage;
    }

    public double mfu() {
      return achievedGflops() / matmulGflops;
    }
  }

  private StepBenchmark() {}

  /**
   * Times {@code steps} training steps after {@code warmup} untimed ones, at the config's
   * train.precision; {@code matmulGflops} is the peak MFU is taken against.
   */
  public static Report run(String name, DinoConfig cfg, int warmup, int steps, double matmulGflops) {
    return run(name, cfg, warmup, steps, matmulGflops, Cluster.single());
  }

  /**
   * On a cluster: this worker's share of the global batch train.batch_size, images/s counted for
   * all workers; then the same number of bare all-reduces of the step's payload (every
   * gradient, the center statistic and 3 scalars), timed alone, for the all-reduce share.
   */
  public static Report run(String name, DinoConfig cfg, int warmup, int steps, double matmulGflops, Cluster cluster) {
    return run(name, cfg, warmup, steps, matmulGflops, cluster, 0, null);
  }

  /**
   * As above, then {@code tracedSteps} more steps under TF's full trace, added to {@code profile}
   * (untimed: tracing slows a step).
   */
  public static Report run(String name, DinoConfig cfg, int warmup, int steps, double matmulGflops, Cluster cluster,
      int tracedSteps, StepProfile profile) {
    int global = cfg.train().batchSize();
    int b = cluster.localBatch(global);
    DinoConfig.Augment a = cfg.augment();
    Random r = new Random(1);
    float[] globals = gaussian(r, 2L * b * a.globalSize() * a.globalSize() * 3);
    float[] locals = gaussian(r, (long) a.localCrops() * b * a.localSize() * a.localSize() * 3);
    try (Graph g = new Graph()) {
      long t0 = System.nanoTime();
      DinoGraph dino = new DinoGraph(g, cfg, cluster);
      long payload = cfg.head().outDim() + 3L;
      for (Params.Param p : dino.optimizer.trainable()) {
        payload += p.spec().size();
      }
      Operand<TFloat32> probe = null;
      if (cluster.distributed()) {
        Ops tf = Ops.create(g).withSubScope("probe");
        probe = tf.sum(AllReduce.reduce(tf, cluster, tf.zeros(tf.constant(new long[] {payload}), TFloat32.class),
            AllReduce.PROBE, "Div", cluster.collectiveTimeoutSeconds()), tf.constant(0));
      }
      double build = (System.nanoTime() - t0) / 1e9;
      ConfigProto config = SessionOptions.of(cfg.train(), b);
      try (Session s = cluster.distributed() ? cluster.openSession(g, config) : new Session(g, config)) {
        if (cluster.chief()) {
          dino.initialize(s, 0);
        }
        if (cluster.distributed()) {
          cluster.awaitPeers();
          dino.copyFromChief(s);
        }
        float loss = Float.NaN;
        double total = 0;
        double fastest = Double.MAX_VALUE;
        long cpuStart = 0;
        for (int i = 0; i < warmup + steps; i++) {
          DinoGraph.StepInputs in = new DinoGraph.StepInputs(1e-4f, 0.04f, 0.996f, 0.04f, false, 0, i);
          if (i == warmup) {
            cpuStart = processCpuNanos();
          }
          long start = System.nanoTime();
          loss = dino.runStep(s, globals, locals, b, in, false).loss();
          double secs = (System.nanoTime() - start) / 1e9;
          if (i >= warmup) {
            total += secs;
            fastest = Math.min(fastest, secs);
          }
        }
        double cpuMs = (processCpuNanos() - cpuStart) / 1e6 / steps;
        for (int i = 0; i < tracedSteps; i++) {
          DinoGraph.StepInputs in = new DinoGraph.StepInputs(1e-4f, 0.04f, 0.996f, 0.04f, false, 0, warmup + steps + i);
          dino.runStep(s, globals, locals, b, in, false, profile::add);
        }
        double allReduce = 0;
        if (probe != null) {
          long start = 0;
          for (int i = 0; i < warmup + steps; i++) {
            if (i == warmup) {
              start = System.nanoTime();
            }
            s.runner().fetch(probe).run().close();
          }
          allReduce = (System.nanoTime() - start) / 1e9 / steps;
        }
        return new Report(name, cfg.train().precision(), global, steps, steps * (double) global / total, 1000 * fastest,
            cpuMs, Flops.trainStepPerImage(cfg, true) / 1e9, matmulGflops, build, peakRssBytes(), loss, cluster.size(),
            total / steps, allReduce, cluster.distributed() ? payload : 0);
      }
    }
  }

  /** CPU time of this process so far, all threads (TF's native pools included). */
  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
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
