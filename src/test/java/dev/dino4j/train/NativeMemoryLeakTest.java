package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Session;

/**
 * No native memory growth over 1,000 training steps: the process's resident set (VmRSS) after a
 * warm-up against after 1,000 more steps, TensorBoard summaries written every 10 steps as the
 * trainer does.
 *
 * <p>Each step feeds 0.5 MB of views and fetches three scalars, so a leaked input tensor would
 * add ~500 MB; the bound, 64 MiB, leaves room for the allocator's arenas and the JVM settling, and
 * catches any per-step leak of more than ~64 KB. About 20 s.
 */
class NativeMemoryLeakTest {

  private static final int WARMUP = 200;
  private static final int STEPS = 1000;
  private static final long BOUND = 64L << 20;

  @Test
  void residentSetDoesNotGrowOverAThousandSteps(@TempDir Path dir) throws IOException {
    assumeTrue(Files.exists(Path.of("/proc/self/status")), "VmRSS is read from /proc (Linux)");
    DinoConfig cfg =
        ConfigLoader.fromYaml("", List.of(
            "model.arch=custom", "model.patch_size=8", "model.embed_dim=32", "model.depth=1", "model.heads=2",
            "head.out_dim=64", "head.hidden_dim=32", "head.bottleneck_dim=16",
            "augment.global_size=32", "augment.local_size=16", "augment.local_crops=2",
            "train.batch_size=16", "train.threads=1"));
    DinoConfig.Augment a = cfg.augment();
    int b = cfg.train().batchSize();
    float[] globals = GraphRunner.gaussian(2L * b * a.globalSize() * a.globalSize() * 3, 1);
    float[] locals = GraphRunner.gaussian((long) a.localCrops() * b * a.localSize() * a.localSize() * 3, 2);
    long before;
    long after;
    try (Graph g = new Graph()) {
      DinoGraph dino = new DinoGraph(g, cfg);
      try (Session s = new Session(g, SessionOptions.of(cfg.train()))) {
        dino.initialize(s, 0);
        dino.openSummaries(s, dir);
        for (int i = 0; i < WARMUP; i++) {
          step(dino, s, globals, locals, b, i);
        }
        before = settledResidentBytes();
        long t0 = System.nanoTime();
        for (int i = WARMUP; i < WARMUP + STEPS; i++) {
          step(dino, s, globals, locals, b, i);
        }
        after = settledResidentBytes();
        dino.flushSummaries(s);
        System.out.printf(Locale.ROOT, "VmRSS %.1f MiB after %d warm-up steps, %.1f MiB after %d more (%+.1f MiB, %.1f ms/step)%n",
            before / 1048576.0, WARMUP, after / 1048576.0, STEPS, (after - before) / 1048576.0,
            (System.nanoTime() - t0) / 1e6 / STEPS);
      }
    }
    assertTrue(after - before < BOUND, String.format(Locale.ROOT,
        "VmRSS grew by %.1f MiB over %d steps (bound %d MiB)", (after - before) / 1048576.0, STEPS, BOUND >> 20));
  }

  private static void step(DinoGraph dino, Session s, float[] globals, float[] locals, int b, int i) {
    DinoGraph.StepInputs in = new DinoGraph.StepInputs(1e-4f, 0.04f, 0.996f, 0.04f, false, 0, i);
    float loss = dino.runStep(s, globals, locals, b, in, i % 10 == 0).loss();
    assertTrue(Float.isFinite(loss), "loss at step " + i);
  }

  /**
   * VmRSS after two full collections: the first one after warm-up shrinks the Java heap the
   * warm-up grew, which would otherwise hide up to ~150 MB of native growth behind it.
   */
  private static long settledResidentBytes() throws IOException {
    for (int i = 0; i < 2; i++) {
      System.gc();
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    return residentBytes();
  }

  /** VmRSS of this process, from /proc/self/status. */
  private static long residentBytes() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
    }
    throw new IllegalStateException("no VmRSS line in /proc/self/status");
  }
}
