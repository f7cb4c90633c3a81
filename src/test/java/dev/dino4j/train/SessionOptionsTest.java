package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.ConfigException;
import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.CpuFeatures;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.config.MatmulProbe;
import java.io.IOException;
import java.util.List;
import java.util.Set;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.RewriterConfig;

/** train.precision and train.threads as session options; bf16 refused where the CPU lacks it. */
class SessionOptionsTest {

  @Test
  void bf16OnACpuWithoutBf16InstructionsIsAConfigErrorNamingThePrecisionKey() {
    ConfigException e =
        assertThrows(ConfigException.class,
            () -> SessionOptions.requireSupported("bf16", Set.of("avx2", "avx512f", "fma")));
    assertEquals(List.of("train.precision"), e.keys());
    assertTrue(e.getMessage().startsWith("train.precision = bf16: "), e.getMessage());
    assertTrue(e.getMessage().contains("avx512_bf16") && e.getMessage().contains("amx_bf16"), e.getMessage());
    assertTrue(e.getMessage().contains("use train.precision = fp32"), e.getMessage());
  }

  @Test
  void bf16IsAcceptedWithEitherFlagAndFp32Everywhere() {
    SessionOptions.requireSupported("bf16", Set.of("avx512_bf16"));
    SessionOptions.requireSupported("bf16", Set.of("amx_bf16", "amx_tile"));
    SessionOptions.requireSupported("fp32", Set.of());
  }

  @Test
  void bf16TurnsOnTheOneDnnMixedPrecisionRewriteAndFp32LeavesGrapplerAlone() {
    ConfigProto bf16 = SessionOptions.of(2, "bf16");
    RewriterConfig rw = bf16.getGraphOptions().getRewriteOptions();
    assertEquals(RewriterConfig.Toggle.ON, rw.getAutoMixedPrecisionOnednnBfloat16());
    assertEquals(RewriterConfig.Toggle.OFF, rw.getRemapping());
    assertEquals(2, bf16.getIntraOpParallelismThreads());
    assertEquals(1, bf16.getInterOpParallelismThreads());
    ConfigProto fp32 = SessionOptions.of(0, "fp32");
    assertFalse(fp32.hasGraphOptions());
    assertEquals(0, fp32.getIntraOpParallelismThreads(), "0 threads = TF's default pools");
  }

  @Test
  void autoPrecisionIsBf16WithAmxMeasuredWithAvx512Bf16AndFp32Elsewhere() {
    DoubleSupplier unasked = () -> {
      throw new AssertionError("the matmul probe must not run here");
    };
    assertEquals("bf16", CpuFeatures.resolvePrecision("auto", Set.of("avx512f", "amx_bf16"), unasked));
    // AVX512-BF16 without AMX: the measured bf16/fp32 matmul ratio decides (the two EPYCs seen: 0.6, 1.9)
    assertEquals("bf16", CpuFeatures.resolvePrecision("auto", Set.of("avx512f", "avx512_bf16"), () -> 1.9));
    assertEquals("fp32", CpuFeatures.resolvePrecision("auto", Set.of("avx512f", "avx512_bf16"), () -> 0.6),
        "bf16 runs there, but slower than fp32, so auto keeps fp32");
    assertEquals("fp32", CpuFeatures.resolvePrecision("auto", Set.of("avx512_bf16"), () -> CpuFeatures.AUTO_BF16_MIN_SPEEDUP - 0.01));
    assertEquals("bf16", CpuFeatures.resolvePrecision("auto", Set.of("avx512_bf16"), () -> CpuFeatures.AUTO_BF16_MIN_SPEEDUP));
    assertEquals("fp32", CpuFeatures.resolvePrecision("auto", Set.of("avx2", "avx512f"), unasked), "no bf16 instructions: nothing to measure");
    assertEquals("bf16", CpuFeatures.resolvePrecision("bf16", Set.of("avx512_bf16"), unasked));
    assertEquals("fp32", CpuFeatures.resolvePrecision("fp32", Set.of("amx_bf16"), unasked));
    assertEquals("bf16", CpuFeatures.resolvePrecision("bf16", Set.of(), unasked), "explicit bf16 stays, and is refused later");
  }

  @Test
  void theMatmulProbeMeasuresBothPrecisionsInAChildJvmWhereTheCpuHasBf16() throws Exception {
    double[] peaks = MatmulProbe.peaksInChild(1, false, 256, 2);
    assertTrue(peaks[0] > 0.5 && Double.isFinite(peaks[0]), "fp32 GFLOP/s " + peaks[0]);
    assertTrue(Double.isNaN(peaks[1]), "bf16 not asked for: " + peaks[1]);
    // TF sizes its thread pools at a process's first session: the probe's must not be this process's
    assertTrue(MatmulProbe.lastChildPid() > 0);
    assertNotEquals(ProcessHandle.current().pid(), MatmulProbe.lastChildPid());
    Assumptions.assumeTrue(CpuFeatures.bf16(CpuFeatures.flags()), "no bf16 instructions: auto never probes here");
    double ratio = MatmulProbe.bf16Speedup();
    // the ratios seen run 0.45-2.0; anything far outside means a broken measurement, not a CPU
    assertTrue(ratio > 0.1 && ratio < 20, "bf16/fp32 " + ratio);
    assertEquals(ratio, MatmulProbe.bf16Speedup(), "measured once per process, so every load of a run agrees");
  }

  @Test
  void aProbeChildThatFailsSaysWhatItPrinted() {
    IOException e = assertThrows(IOException.class, () -> MatmulProbe.peaksInChild(1, false, -1, 2));
    assertTrue(e.getMessage().contains("without its result line"), e.getMessage());
    assertTrue(e.getMessage().contains("Exception"), "the child's error is passed on: " + e.getMessage());
  }

  @Test
  void aLoadedConfigSaysWhichPrecisionAutoBecameOnThisMachine() throws Exception {
    DinoConfig c = ConfigLoader.fromYaml("train:\n  precision: auto\n", List.of());
    assertEquals(CpuFeatures.resolvePrecision("auto", CpuFeatures.flags()), c.train().precision());
    assertTrue(Set.of("fp32", "bf16").contains(c.train().precision()), c.train().precision());
    assertTrue(ConfigLoader.toYaml(c).contains("precision: \"" + c.train().precision() + "\""), ConfigLoader.toYaml(c));
  }

  @Test
  void cpuFlagsAreReadFromProcCpuinfo() {
    // Every x86-64 CPU reports sse2; elsewhere (no /proc) the set is empty and bf16 is refused.
    Set<String> flags = SessionOptions.cpuFlags();
    assertTrue(flags.isEmpty() || flags.contains("sse2") || flags.contains("fp"), flags.toString());
  }
}
