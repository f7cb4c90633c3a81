package dev.dino4j.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.DoubleSupplier;

/** What this machine's CPU can do, read from /proc/cpuinfo: for {@code train.precision}. */
public final class CpuFeatures {

  /** CPU flags of the instructions oneDNN's bf16 kernels need (AVX512-BF16 dot products or AMX tiles). */
  public static final List<String> BF16_FLAGS = List.of("avx512_bf16", "amx_bf16");

  private CpuFeatures() {}

  /** The flags of the first CPU in /proc/cpuinfo; empty where there is no such file (not Linux). */
  public static Set<String> flags() {
    Set<String> flags = new TreeSet<>();
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("flags")) {
          flags.addAll(List.of(line.substring(line.indexOf(':') + 1).trim().split("\\s+")));
          break;
        }
      }
    } catch (IOException e) {
      // no /proc: no flags known, so bf16 is refused and auto means fp32
    }
    return flags;
  }

  /** Whether a CPU with {@code flags} runs bf16 natively. */
  public static boolean bf16(Set<String> flags) {
    return BF16_FLAGS.stream().anyMatch(flags::contains);
  }

  /** The CPU flag that makes bf16 the faster precision outright, so that {@code auto} picks it unmeasured. */
  public static final String AUTO_BF16_FLAG = "amx_bf16";

  /**
   * bf16 matmuls must run at least this many times fp32's for {@code auto} to pick bf16 on a CPU
   * with AVX512-BF16 and no AMX. The probes seen: 0.45-0.9 on one AMD EPYC (the step slower in
   * bf16), 1.9-2.0 on another (the tiny recipe's step 1.6-1.85x faster in bf16), so the threshold
   * sits well away from both.
   */
  public static final double AUTO_BF16_MIN_SPEEDUP = 1.3;

  /**
   * {@code train.precision} as the session will run it: "auto" becomes "bf16" where the CPU has
   * AMX tiles, "bf16" where it has AVX512-BF16 and its bf16 matmuls measure at least {@link
   * #AUTO_BF16_MIN_SPEEDUP} times fp32's ({@link MatmulProbe#bf16Speedup}, once per process), and
   * "fp32" elsewhere; "fp32" and "bf16" stay as they are.
   */
  public static String resolvePrecision(String precision, Set<String> flags) {
    return resolvePrecision(precision, flags, MatmulProbe::bf16Speedup);
  }

  /** As {@link #resolvePrecision(String, Set)} with the bf16/fp32 matmul ratio from {@code bf16Speedup}. */
  public static String resolvePrecision(String precision, Set<String> flags, DoubleSupplier bf16Speedup) {
    if (!"auto".equals(precision)) {
      return precision;
    }
    if (flags.contains(AUTO_BF16_FLAG)) {
      return "bf16";
    }
    if (bf16(flags) && bf16Speedup.getAsDouble() >= AUTO_BF16_MIN_SPEEDUP) {
      return "bf16";
    }
    return "fp32";
  }
}
