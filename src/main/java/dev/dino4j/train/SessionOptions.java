package dev.dino4j.train;

import dev.dino4j.config.ConfigException;
import dev.dino4j.config.DinoConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
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
  public static final List<String> BF16_CPU_FLAGS = List.of("avx512_bf16", "amx_bf16");

  private SessionOptions() {}

  /** The ConfigProto for {@code train.threads} and {@code train.precision}; fails if bf16 is asked of a CPU without it. */
  public static ConfigProto of(DinoConfig.Train t) {
    requireSupported(t.precision(), cpuFlags());
    return of(t.threads(), t.precision());
  }

  /** threads = 0: TF's default pools (all cores); precision "fp32" or "bf16". */
  public static ConfigProto of(int threads, String precision) {
    ConfigProto.Builder b = ConfigProto.newBuilder();
    if (threads > 0) {
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

  /**
   * bf16 only where the CPU has bf16 instructions: elsewhere oneDNN emulates bfloat16 in float32
   * and the step gets slower, not faster, and rounds as if it were bf16.
   */
  public static void requireSupported(String precision, Set<String> cpuFlags) {
    if ("bf16".equals(precision) && BF16_CPU_FLAGS.stream().noneMatch(cpuFlags::contains)) {
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
    Set<String> flags = cpuFlags();
    return BF16_CPU_FLAGS.stream().anyMatch(flags::contains);
  }

  /** The flags of the first CPU in /proc/cpuinfo; empty where there is no such file (not Linux). */
  static Set<String> cpuFlags() {
    Set<String> flags = new TreeSet<>();
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("flags")) {
          flags.addAll(List.of(line.substring(line.indexOf(':') + 1).trim().split("\\s+")));
          break;
        }
      }
    } catch (IOException e) {
      // no /proc: no flags known, so bf16 is refused with the message above
    }
    return flags;
  }
}
