package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dino4j.config.ConfigException;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.FusedKernels;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * train.kernels: the training step with dino4j's fused LayerNorm and bias+GELU ops is the step
 * with TF's stock ops, and "auto" picks them only where every op runs on one thread.
 * (The ops themselves: dev.dino4j.model.FusedKernelsTest, which also fails if they are not built.)
 */
class FusedKernelsStepTest {

  @Test
  void fusedKernelsTakeTheSameStepsAsStockOps() {
    assumeTrue(FusedKernels.available(), FusedKernels.problem());
    DinoConfig base = TestConfigs.tiny(2, 0.2, 3.0, "unused"); // drop path on, two local crops
    // two towers: the ops are built in the towers' scopes, as auto picks them on this machine (one
    // tower, one thread: TowersTest's single chain runs the fused ops under auto)
    for (int towers : new int[] {2}) {
      List<float[]> stock = TowersTest.run(TowersTest.with(base, towers, towers, "stock"), 3);
      List<float[]> fused = TowersTest.run(TowersTest.with(base, towers, towers, "fused"), 3);
      assertEquals(stock.size(), fused.size());
      for (int i = 0; i < stock.size(); i++) {
        float[] x = stock.get(i);
        float[] y = fused.get(i);
        double scale = 0;
        double diff = 0;
        for (int j = 0; j < x.length; j++) {
          scale = Math.max(scale, Math.abs(x[j]));
          diff = Math.max(diff, Math.abs(x[j] - y[j]));
        }
        // as TowersTest: float rounding in another order, amplified only where AdamW normalises
        // a gradient that is itself float noise
        assertTrue(diff <= 1e-4 * Math.max(scale, 1e-3) + 2e-5,
            towers + " towers, tensor " + i + ": max diff " + diff + " at scale " + scale);
      }
    }
  }

  @Test
  void autoUsesThemWhereEveryOpRunsOnOneThread() {
    DinoConfig.Train spread = new DinoConfig.Train(1, 64, 0, 0, "runs/x", 1, 0, "fp32", 2, 1, "auto");
    assertFalse(SessionOptions.fusedKernels(spread, 1), "one tower over 2 threads: TF's multi-threaded ops");
    DinoConfig.Train towers = new DinoConfig.Train(1, 64, 0, 0, "runs/x", 1, 0, "fp32", 2, 2, "auto");
    assertEquals(FusedKernels.available(), SessionOptions.fusedKernels(towers, 2));
    DinoConfig.Train single = new DinoConfig.Train(1, 64, 0, 0, "runs/x", 1, 0, "fp32", 1, 1, "auto");
    assertEquals(FusedKernels.available(), SessionOptions.fusedKernels(single, 1));
    DinoConfig.Train stock = new DinoConfig.Train(1, 64, 0, 0, "runs/x", 1, 0, "fp32", 1, 1, "stock");
    assertFalse(SessionOptions.fusedKernels(stock, 1));
    DinoConfig.Train fused = new DinoConfig.Train(1, 64, 0, 0, "runs/x", 1, 0, "fp32", 2, 1, "fused");
    if (FusedKernels.available()) {
      assertTrue(SessionOptions.fusedKernels(fused, 1), "fused: also on several threads");
    } else {
      ConfigException e = assertThrows(ConfigException.class, () -> SessionOptions.fusedKernels(fused, 1));
      assertEquals(List.of("train.kernels"), e.keys());
    }
  }
}
