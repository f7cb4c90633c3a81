package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.Image;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.model.Weights;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The training loop on a loopback cluster: 2 workers x B/2 train like 1 worker x B (losses,
 * weights), stop together, resume from the chief's checkpoint, and stop with a clear message
 * within the collective timeout when a worker fails or its process is killed.
 */
@Tag("slow")
class DistributedTrainerTest {

  static DinoConfig config(Path dir, int epochs, int steps, int batch) {
    return config(dir, epochs, steps, batch, TestConfigs.tiny(2, 0.1, 3.0, dir.toString()).loss());
  }

  static DinoConfig config(Path dir, int epochs, int steps, int batch, DinoConfig.Loss loss) {
    DinoConfig c = TestConfigs.tiny(2, 0.1, 3.0, dir.toString());
    return new DinoConfig(c.data(), c.augment(), c.model(), c.head(), loss, c.optim(),
        new DinoConfig.Train(epochs, batch, 42, steps, dir.toString(), 1, 0, "fp32", 1, 1, "auto"), c.eval());
  }

  @Test
  void twoWorkersWithSinkhornCenteringTrainLikeOne(@TempDir Path tmp) throws Exception {
    // Sinkhorn-Knopp normalises over the GLOBAL batch: its sums and its max shift are all-reduced, so
    // two workers with half batches must give one worker's steps. (KoLeo is per worker, as per GPU
    // in DINOv2, so it is left out of the equivalence.)
    DinoConfig.Loss l = TestConfigs.tiny(2, 0.1, 3.0, "unused").loss();
    DinoConfig.Loss sk = new DinoConfig.Loss(l.studentTemp(), l.teacherTemp(), l.warmupTeacherTemp(),
        l.warmupTeacherTempEpochs(), l.centerMomentum(), 0.0, "sinkhorn", 3);
    Path one = tmp.resolve("one");
    new Trainer(config(one, 2, 2, 8, sk), new TrainerTest.Synthetic(24, Integer.MAX_VALUE)).run();
    Path two = tmp.resolve("two");
    List<Trainer> workers = new ArrayList<>();
    for (Cluster c : ClusterTest.loopback(2, 60)) {
      workers.add(new Trainer(config(two, 2, 2, 8, sk), new TrainerTest.Synthetic(24, Integer.MAX_VALUE), c));
    }
    runCluster(workers);
    List<double[]> a = losses(one);
    List<double[]> b = losses(two);
    assertEquals(4, a.size());
    assertEquals(a.size(), b.size());
    double maxLoss = maxLossDiff(a, b);
    double maxWeight = maxWeightDiff(one, two, config(one, 2, 2, 8, sk), "student");
    System.out.printf("Sinkhorn centering, 2 x B/2 vs 1 x B: max |loss diff| %.3g, max |weight diff| %.3g%n",
        maxLoss, maxWeight);
    assertTrue(maxLoss < 1e-5, "losses differ by " + maxLoss);
    assertTrue(maxWeight < 1e-5, "weights differ by " + maxWeight);
  }

  @Test
  void twoWorkersWithIbotTrainLikeOne(@TempDir Path tmp) throws Exception {
    // iBOT: each worker takes its samples' rows of the global batch's masks, its loss is over its own
    // views (equal shards: the mean is the global loss) and the patch center pools the workers' sums
    // and counts, so uneven numbers of masked patches weigh as in one worker
    DinoConfig base = TestConfigs.tinyIbot(2, 0.1, 3.0, "unused", 0.0);
    Path one = tmp.resolve("one");
    new Trainer(ibotConfig(one, base), new TrainerTest.Synthetic(24, Integer.MAX_VALUE)).run();
    Path two = tmp.resolve("two");
    List<Trainer> workers = new ArrayList<>();
    for (Cluster c : ClusterTest.loopback(2, 60)) {
      workers.add(new Trainer(ibotConfig(two, base), new TrainerTest.Synthetic(24, Integer.MAX_VALUE), c));
    }
    runCluster(workers);
    List<double[]> a = losses(one);
    List<double[]> b = losses(two);
    assertEquals(4, a.size());
    assertEquals(a.size(), b.size());
    double maxLoss = maxLossDiff(a, b);
    double maxWeight = maxWeightDiff(one, two, ibotConfig(one, base), "student", "teacher");
    System.out.printf("iBOT, 2 x B/2 vs 1 x B: max |loss diff| %.3g, max |weight diff| %.3g%n", maxLoss, maxWeight);
    assertTrue(maxLoss < 1e-5, "losses differ by " + maxLoss);
    assertTrue(maxWeight < 1e-5, "weights differ by " + maxWeight);
    assertEquals(metric(one, "ibot"), metric(two, "ibot"), 1e-5);
  }

  private static DinoConfig ibotConfig(Path dir, DinoConfig c) {
    return new DinoConfig(c.data(), c.augment(), c.model(), c.head(), c.loss(), c.optim(),
        new DinoConfig.Train(2, 8, 42, 2, dir.toString(), 1, 0, "fp32", 1, 1, "auto"), c.eval());
  }

  /** The last logged value of {@code key}. */
  private static double metric(Path dir, String key) throws IOException {
    ObjectMapper om = new ObjectMapper();
    double last = Double.NaN;
    for (String line : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
      JsonNode n = om.readTree(line);
      if (n.has(key)) {
        last = n.get(key).asDouble();
      }
    }
    return last;
  }

  /** Max |loss difference| over two runs' logged steps, in order. */
  static double maxLossDiff(List<double[]> a, List<double[]> b) {
    double max = 0;
    for (int i = 0; i < a.size(); i++) {
      max = Math.max(max, Math.abs(a.get(i)[1] - b.get(i)[1]));
    }
    return max;
  }

  /** Logged (step, loss) pairs of a run directory. */
  static List<double[]> losses(Path dir) throws IOException {
    List<double[]> out = new ArrayList<>();
    ObjectMapper om = new ObjectMapper();
    for (String line : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
      JsonNode n = om.readTree(line);
      if (n.has("loss")) {
        out.add(new double[] {n.get("step").asDouble(), n.get("loss").asDouble()});
      }
    }
    return out;
  }

  /** Max |a - b| over every tensor of the given scopes ("student", "teacher") of two runs' latest checkpoints. */
  static double maxWeightDiff(Path a, Path b, DinoConfig cfg, String... scopes) {
    double max = 0;
    for (String scope : scopes) {
      Weights wa = CheckpointWeights.read(new Checkpoints(a).latest().orElseThrow(), cfg, scope);
      Weights wb = CheckpointWeights.read(new Checkpoints(b).latest().orElseThrow(), cfg, scope);
      for (var e : wa.all().entrySet()) {
        float[] x = e.getValue().values();
        float[] y = wb.get(e.getKey()).values();
        for (int j = 0; j < x.length; j++) {
          max = Math.max(max, Math.abs(x[j] - y[j]));
        }
      }
    }
    return max;
  }

  /** Runs one Trainer per worker, each on its own thread; returns their outcomes (or throws the first failure). */
  static List<Trainer.Outcome> runCluster(List<Trainer> trainers) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(trainers.size());
    try {
      List<Future<Trainer.Outcome>> fs = new ArrayList<>();
      for (Trainer t : trainers) {
        fs.add(pool.submit(t::run));
      }
      List<Trainer.Outcome> out = new ArrayList<>();
      for (Future<Trainer.Outcome> f : fs) {
        out.add(f.get(10, TimeUnit.MINUTES));
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void twoWorkersWithHalfBatchesTrainLikeOneStopTogetherAndResume(@TempDir Path tmp) throws Exception {
    int epochs = 2;
    int steps = 2;
    int batch = 8;
    Path one = tmp.resolve("one");
    new Trainer(config(one, epochs, steps, batch), new TrainerTest.Synthetic(24, Integer.MAX_VALUE)).run();

    Path two = tmp.resolve("two");
    List<Cluster> workers = ClusterTest.loopback(2, 60);
    // first run: worker 1 (not the chief) asks to stop; both stop after step 0, the chief saves
    List<Trainer> first = new ArrayList<>();
    for (Cluster c : workers) {
      first.add(new Trainer(config(two, epochs, steps, batch), new TrainerTest.Synthetic(24, Integer.MAX_VALUE), c));
    }
    first.get(1).requestStop();
    List<Trainer.Outcome> stopped = runCluster(first);
    for (Trainer.Outcome o : stopped) {
      assertTrue(o.interrupted());
      assertEquals(1, o.globalStep(), "both workers stop after the same step");
    }
    assertEquals("ckpt-000000001", new Checkpoints(two).latest().orElseThrow().getFileName().toString());

    // second run (fresh servers, as after a restart): resumes from the chief's checkpoint
    List<Trainer> second = new ArrayList<>();
    for (Cluster c : ClusterTest.loopback(2, 60)) {
      second.add(new Trainer(config(two, epochs, steps, batch), new TrainerTest.Synthetic(24, Integer.MAX_VALUE), c));
    }
    List<Trainer.Outcome> done = runCluster(second);
    assertEquals(epochs * steps, done.get(0).globalStep());
    assertEquals(done.get(0).lastLoss(), done.get(1).lastLoss(), 0f, "both workers report the global loss");
    assertTrue(Files.isRegularFile(two.resolve("train-worker1.log")));

    List<double[]> a = losses(one);
    List<double[]> b = losses(two);
    assertEquals(epochs * steps, a.size());
    assertEquals(a.size(), b.size());
    double maxLoss = 0;
    for (int i = 0; i < a.size(); i++) {
      assertEquals(a.get(i)[0], b.get(i)[0]);
      maxLoss = Math.max(maxLoss, Math.abs(a.get(i)[1] - b.get(i)[1]));
    }
    double maxWeight = maxWeightDiff(one, two, config(one, epochs, steps, batch), "student", "teacher");
    System.out.printf("Trainer, 2 x B/2 (stopped and resumed) vs 1 x B, %d steps: max |loss diff| %.3g, max |weight diff| %.3g%n",
        a.size(), maxLoss, maxWeight);
    assertTrue(maxLoss < 1e-5, "losses differ by " + maxLoss);
    assertTrue(maxWeight < 1e-5, "weights differ by " + maxWeight);
  }

  @Test
  void workersWithDifferentRecipesRefuseToStart(@TempDir Path tmp) throws Exception {
    List<Cluster> workers = ClusterTest.loopback(2, 30);
    Path dir = tmp.resolve("run");
    DinoConfig c = config(dir, 1, 2, 8);
    DinoConfig.Optim o = c.optim();
    DinoConfig otherLr = new DinoConfig(c.data(), c.augment(), c.model(), c.head(), c.loss(),
        new DinoConfig.Optim(2 * o.lr(), o.minLr(), o.warmupEpochs(), o.weightDecay(), o.weightDecayEnd(), o.clipGrad(),
            o.freezeLastLayer(), o.momentumTeacher(), o.beta1(), o.beta2(), o.eps()),
        c.train(), c.eval());
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<Trainer.Outcome> f0 = pool.submit(new Trainer(c, new TrainerTest.Synthetic(24, Integer.MAX_VALUE), workers.get(0))::run);
      Future<Trainer.Outcome> f1 = pool.submit(new Trainer(otherLr, new TrainerTest.Synthetic(24, Integer.MAX_VALUE), workers.get(1))::run);
      for (Future<Trainer.Outcome> f : List.of(f0, f1)) {
        Exception e = assertThrows(Exception.class, () -> f.get(5, TimeUnit.MINUTES));
        String m = e.getCause().getMessage();
        assertTrue(m.contains("worker 1") && m.contains("different recipe"), m);
      }
    } finally {
      pool.shutdownNow();
    }
    assertFalse(Files.exists(new Checkpoints(dir).dir().resolve("latest")), "no step was taken");
  }

  /** A dataset whose reads fail after {@code okReads} images: the worker reading it dies. */
  static final class FailingAfter implements ImageDataset {
    private final TrainerTest.Synthetic images;
    private final int okReads;
    private int n;

    FailingAfter(int size, int okReads) {
      this.images = new TrainerTest.Synthetic(size, Integer.MAX_VALUE);
      this.okReads = okReads;
    }

    @Override
    public int size() {
      return images.size();
    }

    @Override
    public synchronized Image image(int index) {
      if (n++ >= okReads) {
        throw new IllegalStateException("simulated worker crash");
      }
      return images.image(index);
    }

    @Override
    public int label(int index) {
      return images.label(index);
    }

    @Override
    public int numClasses() {
      return images.numClasses();
    }

    @Override
    public String describe(int index) {
      return images.describe(index);
    }
  }

  @Test
  void aFailedWorkerStopsTheChiefWithinTheCollectiveTimeout(@TempDir Path tmp) throws Exception {
    double timeout = 5;
    List<Cluster> workers = ClusterTest.loopback(2, timeout);
    Path dir = tmp.resolve("run");
    // worker 1 builds 3 batches of 4 samples, then its loader fails while worker 0 is mid-epoch
    Trainer chief = new Trainer(config(dir, 1, 20, 8), new TrainerTest.Synthetic(200, Integer.MAX_VALUE), workers.get(0));
    Trainer failing = new Trainer(config(dir, 1, 20, 8), new FailingAfter(200, 12), workers.get(1));
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<Trainer.Outcome> f0 = pool.submit(chief::run);
      Future<Long> f1 = pool.submit(() -> {
        try {
          failing.run();
          return -1L;
        } catch (IllegalStateException e) {
          return System.nanoTime();
        }
      });
      long died = f1.get(10, TimeUnit.MINUTES);
      assertTrue(died > 0, "worker 1 should have failed");
      Exception e = assertThrows(Exception.class, () -> f0.get(2, TimeUnit.MINUTES));
      double after = (System.nanoTime() - died) / 1e9;
      Throwable cause = e.getCause();
      assertInstanceOf(Trainer.WorkerLostException.class, cause, String.valueOf(cause));
      String m = cause.getMessage();
      assertTrue(m.contains("worker 0") && m.contains("collective_timeout_s") && m.contains("Restart all 2 workers"), m);
      System.out.printf("chief stopped %.1f s after worker 1 died (collective timeout %.0f s): %s%n", after, timeout,
          m.lines().findFirst().orElse(""));
      assertTrue(after < timeout + 30, "chief took " + after + " s to notice");
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * A worker process killed mid-training (SIGKILL, as a crashed machine): the survivor, in this
   * JVM, stops with a clear message within the collective timeout. Killing the chief tests the
   * side that depends on the group leader; killing worker 1 the leader's side.
   */
  @ParameterizedTest(name = "kill worker {0}")
  @ValueSource(ints = {1, 0})
  void aKilledWorkerProcessStopsTheSurvivor(int killed, @TempDir Path tmp) throws Exception {
    double timeout = 10;
    List<Cluster> workers = ClusterTest.loopback(2, timeout);
    Path dir = tmp.resolve("run");
    Path out = tmp.resolve("worker" + killed + ".out");
    Process child = new ProcessBuilder(
            ProcessHandle.current().info().command().orElse("java"), "-Xmx1g",
            "-cp", System.getProperty("java.class.path"), ClusterWorkerMain.class.getName(),
            dir.toString(), String.join(",", workers.get(0).workers()), String.valueOf(killed), String.valueOf(timeout))
        .redirectErrorStream(true).redirectOutput(out.toFile()).start();
    int survivor = 1 - killed;
    Trainer trainer = new Trainer(config(dir, 1, 1000, 8), new TrainerTest.Synthetic(8000, Integer.MAX_VALUE),
        workers.get(survivor));
    ExecutorService pool = Executors.newSingleThreadExecutor();
    try {
      Future<Trainer.Outcome> f = pool.submit(trainer::run);
      // wait until the chief has logged a few steps, then kill the child
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
      while (!(Files.exists(dir.resolve("metrics.jsonl")) && losses(dir).size() >= 3)) {
        assertTrue(System.nanoTime() < deadline && child.isAlive() && !f.isDone(),
            "cluster did not start; worker " + killed + " said:\n" + Files.readString(out));
        Thread.sleep(200);
      }
      long killedAt = System.nanoTime();
      child.destroyForcibly().waitFor();
      Exception e = assertThrows(Exception.class, () -> f.get(3, TimeUnit.MINUTES));
      double after = (System.nanoTime() - killedAt) / 1e9;
      assertInstanceOf(Trainer.WorkerLostException.class, e.getCause(), String.valueOf(e.getCause()));
      String m = e.getCause().getMessage();
      assertTrue(m.contains("worker " + survivor) && m.contains("Restart all 2 workers"), m);
      System.out.printf("worker %d stopped %.1f s after worker %d was killed (collective timeout %.0f s): %s%n",
          survivor, after, killed, timeout, m.lines().findFirst().orElse(""));
      assertTrue(after < timeout + 30, "the survivor took " + after + " s to notice");
    } finally {
      child.destroyForcibly();
      pool.shutdownNow();
    }
  }
}
