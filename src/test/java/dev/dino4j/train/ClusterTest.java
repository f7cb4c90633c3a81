package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.DinoConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/**
 * Data-parallel training on loopback: two workers in this JVM, each with its own TF gRPC server,
 * graph and session, all-reducing through TF's collective ops.
 */
class ClusterTest {

  /** Workers of a test cluster on free loopback ports. */
  static List<Cluster> loopback(int n, double collectiveTimeout) {
    List<String> addresses = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      try (ServerSocket s = new ServerSocket(0)) {
        addresses.add("localhost:" + s.getLocalPort());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    List<Cluster> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(new Cluster(addresses, i, collectiveTimeout, 60));
    }
    return out;
  }

  /** Runs one callable per worker on its own thread; returns their results in task order. */
  static <T> List<T> onEachWorker(List<Cluster> workers, java.util.function.Function<Cluster, T> job) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(workers.size());
    try {
      List<Future<T>> fs = new ArrayList<>();
      for (Cluster c : workers) {
        Callable<T> call = () -> job.apply(c);
        fs.add(pool.submit(call));
      }
      List<T> out = new ArrayList<>();
      for (Future<T> f : fs) {
        out.add(f.get(5, TimeUnit.MINUTES));
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void clusterFileAndTfConfigParse(@TempDir Path tmp) throws IOException {
    Path f = tmp.resolve("cluster.yaml");
    Files.writeString(f, "workers: [host0:2222, 'host1:2223']\ncollective_timeout_s: 30\n");
    Cluster c = Cluster.fromYaml(f, 1);
    assertEquals(List.of("host0:2222", "host1:2223"), c.workers());
    assertEquals(2, c.size());
    assertFalse(c.chief());
    assertEquals(30, c.collectiveTimeoutSeconds());
    assertEquals(Cluster.DEFAULT_STARTUP_TIMEOUT_S, c.startupTimeoutSeconds());
    assertEquals("/job:worker/replica:0/task:1/device:CPU:0", c.device());
    assertEquals(4, c.localBatch(8));
    assertThrows(IllegalArgumentException.class, () -> c.localBatch(7));

    Cluster t = Cluster.fromTfConfig(
        "{\"cluster\": {\"worker\": [\"a:1\", \"b:2\", \"c:3\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}");
    assertEquals(3, t.size());
    assertTrue(t.chief());

    assertFalse(Cluster.single().distributed());

    // strict: unknown keys, bad addresses, a task outside the cluster, other TF_CONFIG jobs
    Files.writeString(f, "workers: [h:1]\ntimeout: 3\n");
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Cluster.fromYaml(f, 0)).getMessage().contains("'timeout'"));
    Files.writeString(f, "workers: [nohost]\n");
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Cluster.fromYaml(f, 0)).getMessage().contains("host:port"));
    Files.writeString(f, "workers: [h:1, h:2]\n");
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Cluster.fromYaml(f, 2)).getMessage().contains("0..1"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Cluster.fromTfConfig(
        "{\"cluster\": {\"chief\": [\"a:1\"], \"worker\": [\"b:2\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}"))
        .getMessage().contains("'chief'"));
  }

  @Test
  void allReduceAveragesAndSumsAcrossTwoWorkers() throws Exception {
    List<Cluster> workers = loopback(2, 30);
    List<float[]> results = onEachWorker(workers, c -> {
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        float k = c.task() + 1;
        Operand<TFloat32> a = tf.constant(new float[][] {{k, 10 * k}, {100 * k, -k}}); // [2, 2]
        Operand<TFloat32> b = tf.constant(k * 0.5f); // scalar
        List<Operand<TFloat32>> mean = AllReduce.mean(tf, c, List.of(a, b),
            List.of(org.tensorflow.ndarray.Shape.of(2, 2), org.tensorflow.ndarray.Shape.scalar()), 7, 30);
        Operand<TInt64> sum = AllReduce.reduce(tf, c, tf.constant(new long[] {c.task() + 1L, 1L << 40}), 8, "Id", 30);
        try (Session s = c.openSession(g, SessionOptions.of(1, "fp32"));
            Result r = s.runner().fetch(mean.get(0)).fetch(mean.get(1)).fetch(sum).run()) {
          float[] m = GraphRunner.toArray((TFloat32) r.get(0));
          TInt64 sm = (TInt64) r.get(2);
          return new float[] {m[0], m[1], m[2], m[3], ((TFloat32) r.get(1)).getFloat(), sm.getLong(0), sm.getLong(1) / (float) (1L << 40)};
        }
      }
    });
    for (float[] r : results) { // workers 1 and 2: means 1.5, 15, 150, -1.5 and 0.75; sums 3 and 2^41
      assertArrayEquals(new float[] {1.5f, 15f, 150f, -1.5f, 0.75f, 3f, 2f}, r, 0f);
    }
  }

  /** Student, teacher and center after a step, by name. */
  private static Map<String, float[]> state(Session s, DinoGraph g) {
    Map<String, float[]> m = new LinkedHashMap<>();
    GraphRunner.values(s, g.student).forEach((k, v) -> m.put("student/" + k, v));
    GraphRunner.values(s, g.teacher).forEach((k, v) -> m.put("teacher/" + k, v));
    m.put("center", GraphRunner.fetch(s, List.of(g.center)).get(0));
    return m;
  }

  private record Trajectory(List<Float> losses, List<Map<String, float[]>> states) {}

  /** Rows [k * B/n, (k+1) * B/n) of each of the {@code views} views of a view-major batch of B. */
  static float[] shard(float[] x, int views, int b, int k, int n) {
    int per = x.length / (views * b); // floats per image
    int lb = b / n;
    float[] out = new float[views * lb * per];
    for (int v = 0; v < views; v++) {
      System.arraycopy(x, (v * b + k * lb) * per, out, v * lb * per, lb * per);
    }
    return out;
  }

  private static Trajectory train(Session s, DinoGraph g, float[] globals, float[] locals, int b, int steps) {
    List<Float> losses = new ArrayList<>();
    List<Map<String, float[]>> states = new ArrayList<>();
    for (int i = 0; i < steps; i++) {
      // freeze the last layer in step 0, a large lr so the steps move the weights visibly
      DinoGraph.StepInputs in = new DinoGraph.StepInputs(5e-3f, 0.04f, 0.9f, 0.04f, i == 0, 3, i);
      losses.add(g.runStep(s, globals, locals, b, in, false).loss());
      states.add(state(s, g));
    }
    return new Trajectory(losses, states);
  }

  /**
   * The correctness criterion, at the graph level: 2 workers with B/2 samples each take
   * the same steps as 1 worker with B (losses, student, teacher, center after every step), with
   * stochastic depth and per-tensor gradient clipping on; and the two replicas are bit-identical
   * after every step.
   */
  @Test
  void twoWorkersWithHalfBatchesStepLikeOneWorkerWithTheWholeBatch() throws Exception {
    int b = 4;
    int steps = 4;
    int nLocal = 2;
    DinoConfig cfg = TestConfigs.tiny(nLocal, 0.2, 0.05, "unused"); // clip 0.05: clipping is active
    DinoConfig.Augment a = cfg.augment();
    float[] globals = GraphRunner.gaussian(2L * b * a.globalSize() * a.globalSize() * 3, 21);
    float[] locals = GraphRunner.gaussian((long) nLocal * b * a.localSize() * a.localSize() * 3, 22);

    Trajectory one;
    try (Graph g = new Graph()) {
      DinoGraph dg = new DinoGraph(g, cfg);
      try (Session s = new Session(g, SessionOptions.of(1, "fp32"))) {
        dg.initialize(s, 5);
        one = train(s, dg, globals, locals, b, steps);
      }
    }

    List<Trajectory> two = onEachWorker(loopback(2, 30), c -> {
      try (Graph g = new Graph()) {
        DinoGraph dg = new DinoGraph(g, cfg, c);
        try (Session s = c.openSession(g, SessionOptions.of(1, "fp32"))) {
          if (c.chief()) {
            dg.initialize(s, 5);
          }
          dg.copyFromChief(s); // worker 1 never initialised: every variable comes from the chief
          return train(s, dg, shard(globals, 2, b, c.task(), 2), shard(locals, nLocal, b, c.task(), 2), b / 2, steps);
        }
      }
    });

    double maxLoss = 0;
    double maxWeight = 0;
    for (int i = 0; i < steps; i++) {
      assertEquals(two.get(0).losses().get(i), two.get(1).losses().get(i), 0f, "step " + i + ": both workers report the global loss");
      maxLoss = Math.max(maxLoss, Math.abs(two.get(0).losses().get(i) - one.losses().get(i)));
      Map<String, float[]> ref = one.states().get(i);
      for (String k : ref.keySet()) {
        assertArrayEquals(two.get(0).states().get(i).get(k), two.get(1).states().get(i).get(k), 0f,
            "step " + i + " " + k + ": replicas bit-identical");
        float[] x = two.get(0).states().get(i).get(k);
        for (int j = 0; j < x.length; j++) {
          maxWeight = Math.max(maxWeight, Math.abs(x[j] - ref.get(k)[j]));
        }
      }
    }
    System.out.printf("2 x B/2 vs 1 x B over %d steps: max |loss diff| %.3g, max |weight diff| %.3g (losses %s)%n",
        steps, maxLoss, maxWeight, one.losses());
    assertTrue(maxLoss < 1e-5, "loss differs by " + maxLoss);
    assertTrue(maxWeight < 1e-5, "weights differ by " + maxWeight);
    // and the steps did move: the first and last losses differ
    assertNotEquals(one.losses().get(0), one.losses().get(steps - 1));
  }
}
