package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BenchComparisonTest {

  @Test
  void dropsOnlyTheNativeInfoLines() {
    assertTrue(BenchComparison.ABSL_INFO.matcher(
        "I0000 00:00:1795880931.855463   18371 auto_mixed_precision.cc:1508] No allowlist ops found, nothing to do").find());
    assertTrue(BenchComparison.ABSL_INFO.matcher(
        "I0000 00:00:1795880934.066473   18371 auto_mixed_precision.cc:2260] Converted 2509/7347 nodes").find());
    // warnings, errors and our own lines pass through
    assertFalse(BenchComparison.ABSL_INFO.matcher(
        "W0000 00:00:1795880931.855463   18371 auto_mixed_precision.cc:1508] something to see").find());
    assertFalse(BenchComparison.ABSL_INFO.matcher("bench: round 1/1, pytorch bf16 ...").find());
    assertFalse(BenchComparison.ABSL_INFO.matcher(
        "2026-11-28 15:42:17.340186: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.").find());
  }
}
