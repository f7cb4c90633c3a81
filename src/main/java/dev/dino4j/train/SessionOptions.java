package dev.dino4j.train;

import dev.dino4j.config.ConfigException;
import dev.dino4j.config.CpuFeatures;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.FusedKernels;
import java.util.List;
import java.util.Set;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.GraphOptions;
import org.tensorflow.proto.RewriterConfig;

/**
 * The session options of the training step: thread pools and precision.
 *
 * <p>bf16 is Grappler's oneDNN mixed-precision rewrite, not a second graph: the graph, its
 * variables, the optimizer state and the gradients' accumulation into AdamW stay float32 (master
 * weights), and at session creation Grappler puts Cast ops around the ops oneDNN runs faster in
 * bfloat16 (MatMul, BatchMatMul, Conv2D and the elementwise ops between them). Softmax, the
 * reductions of LayerNorm and the loss, and every assign keep float32.
 */
public final class SessionOptions {

  /** CPU flags of the instructions oneDNN's bf16 kernels need (AVX512-BF16 dot products or AMX tiles). */
  public static final List<String> BF16_CPU_FLAGS = CpuFeatures.BF16_FLAGS;

  private SessionOptions() {}

  /** Smallest tower {@code train.towers: 0} makes: smaller matmuls lose more than the threads gain. */
  public static final int MIN_AUTO_TOWER_BATCH = 16;

  /**
   * The ConfigProto for {@code train.threads}, {@code train.towers} and {@code train.precision} of
   * a graph fed {@code localBatch} samples a step; fails if bf16 is asked of a CPU without it.
   */
  public static ConfigProto of(DinoConfig.Train t, int localBatch) {
    Set<String> flags = cpuFlags();
    String precision = CpuFeatures.resolvePrecision(t.precision(), flags); // loaded configs are resolved already
    requireSupported(precision, flags);
    return of(t.threads(), towers(t, localBatch), precision);
  }

  /** As {@link #of(DinoConfig.Train, int)} for one process fed the whole train.batch_size. */
  public static ConfigProto of(DinoConfig.Train t) {
    return of(t, t.batchSize());
  }

  /**
   * The number of towers for a graph fed {@code localBatch} samples: train.towers when set (it must
   * divide the batch), else one per core the session uses, each of at least {@link
   * #MIN_AUTO_TOWER_BATCH} samples and all of equal size (1 when that allows no split).
   */
  public static int towers(DinoConfig.Train t, int localBatch) {
    if (t.towers() > 0) {
      if (localBatch % t.towers() != 0) {
        throw new ConfigException(List.of("train.towers"), "train.towers = " + t.towers() + " must divide this"
            + " process's batch of " + localBatch + " samples into equal parts");
      }
      return t.towers();
    }
    for (int n = Math.min(cores(t.threads()), localBatch / MIN_AUTO_TOWER_BATCH); n > 1; n--) {
      if (localBatch % n == 0) {
        return n;
      }
    }
    return 1;
  }

  /**
   * Whether the graph uses dino4j's fused kernels ({@link FusedKernels}) for train.kernels: "stock"
   * never; "fused" always (an error naming the key when they are not built); "auto" where they are
   * built and every op runs on one thread (one per tower, or train.threads: 1), since each kernel
   * runs on the thread that calls it: spread over the cores, TF's stock ops would win.
   */
  public static boolean fusedKernels(DinoConfig.Train t, int towers) {
    switch (t.kernels()) {
      case "stock":
        return false;
      case "fused":
        if (!FusedKernels.available()) {
          throw new ConfigException(List.of("train.kernels"), "train.kernels = fused, but " + FusedKernels.problem());
        }
        return true;
      default:
        return cores(t.threads()) <= towers && FusedKernels.available();
    }
  }

  /** threads = 0: TF's default pools (all cores); precision "fp32" or "bf16"; one tower. */
  public static ConfigProto of(int threads, String precision) {
    return of(threads, 1, precision);
  }

  /**
   * threads = 0: all cores. With one tower, each op is spread over the threads (threads = 0: TF's
   * default pools); with several, each op runs on one thread and the towers side by side.
   */
  public static ConfigProto of(int threads, int towers, String precision) {
    ConfigProto.Builder b = ConfigProto.newBuilder();
    if (towers > 1) {
      // inter-op threads run the towers' chains side by side, each op single-threaded
      b.setIntraOpParallelismThreads(Math.max(1, cores(threads) / towers)).setInterOpParallelismThreads(towers);
    } else if (threads > 0) {
      // One inter-op thread: the step is a chain of big ops, each already spread over all cores by
      // oneDNN/Eigen; running independent ops side by side only makes them fight for the cores.
      b.setIntraOpParallelismThreads(threads).setInterOpParallelismThreads(1);
    }
    if ("bf16".equals(precision)) {
      // Remapping off: its MatMul + BiasAdd fusion (_FusedMatMul) runs the bf16 forward matmuls
      // 4-5x slower than the plain oneDNN bf16 matmul it replaces (measured: 61 against ~290
      // GFLOP/s per core), which costs more than the separate bias add it saves.
      b.setGraphOptions(
          GraphOptions.newBuilder()
              .setRewriteOptions(
                  RewriterConfig.newBuilder()
                      .setAutoMixedPrecisionOnednnBfloat16(RewriterConfig.Toggle.ON)
                      .setRemapping(RewriterConfig.Toggle.OFF)));
    }
    return b.build();
  }

  private static int cores(int threads) {
    return threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
  }

  /**
   * bf16 only where the CPU has bf16 instructions: elsewhere oneDNN emulates bfloat16 in float32
   * and the step gets slower, not faster, and rounds as if it were bf16.
   */
  public static void requireSupported(String precision, Set<String> cpuFlags) {
    if ("bf16".equals(precision) && !CpuFeatures.bf16(cpuFlags)) {
      throw new ConfigException(
          List.of("train.precision"),
          "train.precision = bf16: this CPU has no bfloat16 instructions (none of the flags "
              + String.join(", ", BF16_CPU_FLAGS)
              + " in /proc/cpuinfo), so bf16 would be emulated and slower than fp32; use"
              + " train.precision = fp32 here");
    }
  }

  /** Whether this machine's CPU can run {@code train.precision = bf16}. */
  public static boolean bf16Supported() {
    return CpuFeatures.bf16(cpuFlags());
  }

  /** The flags of the first CPU in /proc/cpuinfo; empty where there is no such file (not Linux). */
  static Set<String> cpuFlags() {
    return CpuFeatures.flags();
  }
}
