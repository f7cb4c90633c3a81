package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dino4j.train.Checkpoints;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGKILL at ten moments of a short run, four of them inside a checkpoint write (made to happen
 * there by the test-only pause hook of {@link Checkpoints}), each followed by a restart of the
 * same command: the run ends with variables bit-identical to an uninterrupted run, and no
 * temporary folder is left.
 */
@Tag("slow")
class KillResumeTest {

  private static final Path FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");
  static final int STEPS_PER_EPOCH = 15;
  static final int EPOCHS = 3;
  static final int EVERY = 4; // train.checkpoint_every_steps

  /** A tiny model on Fashion-MNIST: about 7 s a run on 2 cores, 1 s of it training. */
  static List<String> command(Path run, String... jvmOptions) {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx1g"));
    cmd.addAll(List.of(jvmOptions));
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(),
        "train", "--config", "configs/fmnist-tiny.yaml", "--output", run.toString()));
    for (String s : tinyOverrides()) {
      cmd.add("--set");
      cmd.add(s);
    }
    return cmd;
  }

  static List<String> tinyOverrides() {
    return List.of("model.embed_dim=16", "model.depth=1", "model.heads=2", "augment.global_size=16",
        "augment.local_size=8", "augment.local_crops=2", "head.out_dim=64", "head.hidden_dim=32",
        "head.bottleneck_dim=16", "train.batch_size=8", "train.epochs=" + EPOCHS,
        "train.steps_per_epoch=" + STEPS_PER_EPOCH, "optim.warmup_epochs=1", "optim.freeze_last_layer=1",
        "train.log_every=1", "train.threads=1", "train.towers=1", "data.workers=1", "eval.knn_every=0",
        "train.precision=fp32", "train.checkpoint_every_steps=" + EVERY);
  }

  static Process start(List<String> cmd, Path out) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile());
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    return pb.start();
  }

  @Test
  void tenKillsFourInsideACheckpointWriteEndBitIdentical(@TempDir Path tmp) throws Exception {
    assumeTrue(Files.isDirectory(FASHION_MNIST), "Fashion-MNIST not installed (make data)");
    long total = (long) EPOCHS * STEPS_PER_EPOCH;
    Path straight = tmp.resolve("straight");
    long launched = System.nanoTime();
    Process ref = start(command(straight), tmp.resolve("straight.out"));
    awaitStep(ref, tmp.resolve("straight.out"), straight.resolve("metrics.jsonl"), 0, 0);
    // start-up (JVM, data, graph build) as measured on this machine: time-based kills fall inside it,
    // so that a fast machine cannot finish the run before the kill
    long startupMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - launched);
    assertTrue(ref.waitFor(300, TimeUnit.SECONDS), "uninterrupted run did not finish");
    assertEquals(0, ref.exitValue(), Files.readString(tmp.resolve("straight.out")));

    long seed = Long.getLong("dino4j.killtest.seed", System.nanoTime());
    Random rnd = new Random(seed);
    System.out.println("KillResumeTest seed " + seed + " (-Ddino4j.killtest.seed=... repeats these moments); start-up "
        + startupMs + " ms");
    // kills 2, 4, 6, 8 (0-based 1, 3, 5, 7) stop inside a write, one phase each; the rest at random moments
    String[] phases = {"temp-created", "variables-written", "folder-renamed", "latest-written"};
    Path run = tmp.resolve("killed");
    Checkpoints ckpts = new Checkpoints(run);
    int insideWrite = 0;
    int resumed = 0;
    boolean leftTemp = false;
    for (int i = 0; i < 10; i++) {
      long latest = latestStep(ckpts);
      resumed += latest > 0 ? 1 : 0;
      Path out = tmp.resolve("kill" + i + ".out");
      long metricsBefore = Files.exists(run.resolve("metrics.jsonl")) ? Files.size(run.resolve("metrics.jsonl")) : 0;
      String moment;
      Process p;
      if (i % 2 == 1 && i < 8) {
        String phase = phases[i / 2];
        long at = nextSave(latest);
        p = start(command(run, "-Ddino4j.test.checkpoint_pause=" + phase + "@" + at), out);
        awaitOutput(p, out, "checkpoint writer paused at " + phase + " of step " + at);
        moment = "inside the write of step " + at + " at " + phase;
        insideWrite++;
      } else if (i == 0 || latest >= total - 3) {
        // a random moment of the start-up; also when too few steps are left for a step-based kill
        p = start(command(run), out);
        long ms = 100 + rnd.nextInt((int) Math.max(1, startupMs * 7 / 10 - 100));
        Thread.sleep(ms);
        moment = ms + " ms after launch (start-up " + startupMs + " ms)";
      } else {
        p = start(command(run), out);
        // just past the next checkpoint (0-2 steps after it), then a random part of a step (~25 ms):
        // every such kill comes after a completed mid-run checkpoint, so the next start resumes
        // from one, and the small advances leave steps for all ten kills; never the last steps
        long step = Math.min(total - 3, nextSave(latest) + rnd.nextInt(3));
        awaitStep(p, out, run.resolve("metrics.jsonl"), metricsBefore, step);
        int ms = rnd.nextInt(40);
        Thread.sleep(ms);
        moment = "step " + step + " + " + ms + " ms";
      }
      assertTrue(p.isAlive(), "kill " + i + ": the run ended before " + moment + ": " + Files.readString(out));
      p.destroyForcibly(); // SIGKILL: no shutdown hook, no checkpoint
      assertTrue(p.waitFor(60, TimeUnit.SECONDS));
      // latest names a complete checkpoint, or none yet, whatever the moment
      Optional<Path> now = ckpts.latest();
      List<String> left = hidden(ckpts.dir());
      boolean temp = left.stream().anyMatch(n -> n.startsWith(".tmp-"));
      leftTemp |= temp;
      System.out.printf("kill %d: %s; latest %s%s%n", i, moment, now.map(Path::getFileName).orElse(null),
          left.isEmpty() ? "" : "; left: " + left);
      if (i == 3) {
        assertTrue(temp, "killed after the variables were written: the temp folder is still there");
      }
    }
    assertEquals(4, insideWrite);
    assertTrue(resumed >= 4, "only " + resumed + " of the 10 starts resumed from a checkpoint");
    assertTrue(leftTemp);

    Process last = start(command(run), tmp.resolve("final.out"));
    assertTrue(last.waitFor(300, TimeUnit.SECONDS), "final run did not finish");
    assertEquals(0, last.exitValue(), Files.readString(tmp.resolve("final.out")));
    assertTrue(Files.readString(run.resolve("train.log")).contains("left by a checkpoint write that did not finish"),
        "a start after a killed write says what it removed");

    Path a = new Checkpoints(straight).latest().orElseThrow();
    Path b = ckpts.latest().orElseThrow();
    assertEquals(String.format("ckpt-%09d", total), b.getFileName().toString());
    assertEquals(a.getFileName(), b.getFileName());
    // every variable (student, teacher, center, Adam moments, counters) bit for bit
    assertArrayEquals(Files.readAllBytes(a.resolve("vars.data-00000-of-00001")),
        Files.readAllBytes(b.resolve("vars.data-00000-of-00001")));
    assertArrayEquals(Files.readAllBytes(a.resolve("vars.index")), Files.readAllBytes(b.resolve("vars.index")));
    assertEquals(Files.readString(a.resolve("state.json")), Files.readString(b.resolve("state.json")));
    assertEquals(List.of(), hidden(ckpts.dir()), "no temporary folder or pointer file left");
    try (Stream<Path> s = Files.list(ckpts.dir())) {
      assertEquals(List.of(b.getFileName().toString(), "latest"),
          s.map(q -> q.getFileName().toString()).sorted().toList());
    }
  }

  /** The step of the checkpoint latest names; 0 without one. */
  static long latestStep(Checkpoints c) {
    return c.latest().map(p -> Long.parseLong(p.getFileName().toString().substring("ckpt-".length()))).orElse(0L);
  }

  /** The first checkpoint a run resumed at {@code latest} writes: the step cadence or an epoch end. */
  static long nextSave(long latest) {
    long c = latest + 1;
    while (c % EVERY != 0 && c % STEPS_PER_EPOCH != 0) {
      c++;
    }
    return c;
  }

  private static List<String> hidden(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(q -> q.getFileName().toString()).filter(n -> n.startsWith(".")).sorted().toList();
    }
  }

  private static void awaitOutput(Process p, Path out, String line) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!Files.readString(out).contains(line)) {
      assertTrue(p.isAlive(), "the run ended before \"" + line + "\": " + Files.readString(out));
      assertTrue(System.nanoTime() < deadline, "no \"" + line + "\" within 120 s");
      Thread.sleep(20);
    }
  }

  /** Waits until this process logged global step {@code step} (metrics.jsonl lines after {@code from} bytes). */
  private static void awaitStep(Process p, Path out, Path metrics, long from, long step) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    String marker = "\"step\":" + step + ",";
    while (true) {
      if (Files.exists(metrics) && Files.size(metrics) > from) {
        byte[] all = Files.readAllBytes(metrics);
        if (new String(all, (int) from, all.length - (int) from, java.nio.charset.StandardCharsets.UTF_8).contains(marker)) {
          return;
        }
      }
      assertTrue(p.isAlive(), "the run ended before step " + step + ": " + Files.readString(out));
      assertTrue(System.nanoTime() < deadline, "no step " + step + " within 120 s");
      Thread.sleep(5);
    }
  }
}
