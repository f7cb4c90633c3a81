package dev.dino4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class FlopsTest {

  @Test
  void configAsStepIsTheIssuesCountAndTheClsOnlyLastBlockSkipsItsOtherRows() throws Exception {
    DinoConfig cfg = ConfigLoader.load(Path.of("configs/bench-a.yaml"), List.of());
    // the benchmark issue's count for config A: 4.7 GFLOP per image, matmuls only
    assertEquals(4.71, Flops.trainStepPerImage(cfg) / 1e9, 0.005);
    // what the last block no longer computes for the n - 1 patch rows of a view: their queries,
    // their rows of q k^T and attn v, proj and the MLP (d = 192, hidden 768)
    double d = 192;
    double hidden = 768;
    for (int size : new int[] {32, 16}) {
      double n = Math.pow(size / 4, 2) + 1;
      double skipped = (n - 1) * (2 * d * d + 2 * d * d + 2 * 2 * d * hidden) + 2 * 2 * (n - 1) * n * d;
      assertEquals(skipped, Flops.forwardPerView(cfg, size) - Flops.forwardPerView(cfg, size, true), 1e-6 * skipped);
    }
    // config A's step: 2 global and 6 local views through the student (3x), 2 through the teacher
    double perImage = Flops.trainStepPerImage(cfg, true) / Flops.trainStepPerImage(cfg);
    assertEquals(0.86, perImage, 0.01);
  }

  /** The conv stem's matmuls at 32 px, p = 4, D = 128, counted by hand: 3 -> 32 at 16x16, 32 -> 64 at 8x8, 1x1 to 128. */
  @Test
  void convStemCountsItsConvolutions() {
    var conv = new dev.dino4j.config.DinoConfig.Model("custom", 4, 128, 4, 4, 4.0, 0.1, 0.0, 0, 0.0, "conv");
    double byHand = 2.0 * 16 * 16 * 9 * 3 * 32 + 2.0 * 8 * 8 * 9 * 32 * 64 + 2.0 * 64 * 64 * 128;
    assertEquals(byHand, Flops.patchEmbedFlops(conv, 32), 0);
    var patch = new dev.dino4j.config.DinoConfig.Model("custom", 4, 128, 4, 4, 4.0, 0.1);
    assertEquals(2.0 * 64 * 48 * 128, Flops.patchEmbedFlops(patch, 32), 0);
  }
}
