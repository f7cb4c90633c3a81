package dev.dino4j.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

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

  /** The CPU flag that makes bf16 the faster precision, so that {@code auto} picks it. */
  public static final String AUTO_BF16_FLAG = "amx_bf16";

  /**
   * {@code train.precision} as the session will run it: "auto" becomes "bf16" where the CPU has
   * AMX tiles and "fp32" elsewhere; "fp32" and "bf16" stay as they are. AVX512-BF16 alone runs
   * bf16 but not faster: on an AMD EPYC with it and no AMX the tiny recipe's step ran 132-158
   * images/s in bf16 against 166-210 in fp32, where a Xeon with AMX ran bf16 1.5x faster (docs/design.md, "Precision").
   */
  public static String resolvePrecision(String precision, Set<String> flags) {
    return "auto".equals(precision) ? (flags.contains(AUTO_BF16_FLAG) ? "bf16" : "fp32") : precision;
  }
}
