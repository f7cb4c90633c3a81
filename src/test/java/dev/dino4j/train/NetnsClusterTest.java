package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dino4j.config.DinoConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two workers on a real network interface: each JVM in a network namespace of its own, joined by a
 * veth pair (10.77.0.1 and 10.77.0.2), so the all-reduce crosses a link that can be slowed down
 * (tc tbf) or taken down (ip link set down) while the workers run. Contract: a slow link makes the
 * run slower, not different; a link that goes down stops both workers within the collective
 * timeout with a message naming the other worker; restarting both resumes from the chief's last
 * checkpoint. Needs root and iproute2 (skipped with the reason otherwise).
 */
@Tag("slow")
class NetnsClusterTest {

  private static final long PID = ProcessHandle.current().pid();
  private static final String[] NS = {"d4j-a" + PID, "d4j-b" + PID};
  private static final String[] DEV = {"d4ja" + PID % 100000, "d4jb" + PID % 100000};
  private static final String[] IP = {"10.77.0.1", "10.77.0.2"};
  private static String setupProblem;

  /** Runs a command; null when it exits 0, else the command and what it printed. */
  private static String sh(String... cmd) {
    try {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      return p.waitFor() == 0 ? null : String.join(" ", cmd) + ": " + out.strip();
    } catch (IOException | InterruptedException e) {
      return String.join(" ", cmd) + ": " + e;
    }
  }

  private static String out(String... cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor();
    return out;
  }

  private static String[] inNs(int w, String... cmd) {
    List<String> c = new ArrayList<>(List.of("ip", "netns", "exec", NS[w]));
    c.addAll(List.of(cmd));
    return c.toArray(String[]::new);
  }

  @BeforeAll
  static void link() {
    List<String[]> steps = new ArrayList<>();
    steps.add(new String[] {"ip", "netns", "add", NS[0]});
    steps.add(new String[] {"ip", "netns", "add", NS[1]});
    steps.add(new String[] {"ip", "link", "add", DEV[0], "netns", NS[0], "type", "veth", "peer", "name", DEV[1], "netns", NS[1]});
    for (int w = 0; w < 2; w++) {
      steps.add(inNs(w, "ip", "addr", "add", IP[w] + "/24", "dev", DEV[w]));
      steps.add(inNs(w, "ip", "link", "set", DEV[w], "up"));
      steps.add(inNs(w, "ip", "link", "set", "lo", "up"));
    }
    for (String[] s : steps) {
      String problem = sh(s);
      if (problem != null) {
        setupProblem = problem;
        return;
      }
    }
  }

  @AfterAll
  static void unlink() {
    sh("ip", "netns", "del", NS[0]); // deleting a namespace deletes its end of the veth pair, and so the pair
    sh("ip", "netns", "del", NS[1]);
  }

  private static void assumeLinked() {
    assumeTrue(setupProblem == null, "skipped: cannot make two network namespaces joined by a veth pair (needs root "
        + "and iproute2): " + setupProblem);
  }

  private static String workers(int port) {
    return IP[0] + ":" + port + "," + IP[1] + ":" + port;
  }

  /** Worker {@code w} in its namespace: ClusterWorkerMain with these arguments. */
  private static Process worker(int w, Path dir, String workers, double timeout, int epochs, int steps, int every,
      Path out) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(inNs(w, ProcessHandle.current().info().command().orElse("java"),
        "-Xmx1g", "-XX:ErrorFile=" + crashReport(out), "-cp", System.getProperty("java.class.path"), ClusterWorkerMain.class.getName(), dir.toString(),
        workers, String.valueOf(w), String.valueOf(timeout), String.valueOf(epochs), String.valueOf(steps),
        String.valueOf(every))));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile());
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    return pb.start();
  }

  /** Where a worker's JVM writes its crash report: beside its output, not in the working directory. */
  private static Path crashReport(Path out) {
    return out.resolveSibling(out.getFileName() + ".hs_err.log");
  }

  /** The worker's output, and the head of its JVM crash report if it crashed. */
  private static String output(Path out) throws IOException {
    String o = Files.readString(out);
    Path crash = crashReport(out);
    if (Files.exists(crash)) {
      o += "\nJVM crash report " + crash + ":\n" + String.join("\n", Files.readAllLines(crash).stream().limit(60).toList());
    }
    return o;
  }

  private static void finish(Process p, Path out, int minutes) throws Exception {
    assertTrue(p.waitFor(minutes, TimeUnit.MINUTES), "worker did not finish: " + output(out));
    assertEquals(0, p.exitValue(), output(out));
  }

  /** Two workers to the end of a 2 x 3-step run; returns the wall time in seconds. */
  private static double runPair(Path dir, int port, Path tmp) throws Exception {
    long t0 = System.nanoTime();
    Process a = worker(0, dir, workers(port), 60, 2, 3, 0, tmp.resolve(dir.getFileName() + "-0.out"));
    Process b = worker(1, dir, workers(port), 60, 2, 3, 0, tmp.resolve(dir.getFileName() + "-1.out"));
    finish(a, tmp.resolve(dir.getFileName() + "-0.out"), 10);
    finish(b, tmp.resolve(dir.getFileName() + "-1.out"), 10);
    return (System.nanoTime() - t0) / 1e9;
  }

  private static double maxLossDiff(Path a, Path b) throws IOException {
    List<double[]> la = DistributedTrainerTest.losses(a);
    List<double[]> lb = DistributedTrainerTest.losses(b);
    assertEquals(la.size(), lb.size());
    double max = 0;
    for (int i = 0; i < la.size(); i++) {
      assertEquals(la.get(i)[0], lb.get(i)[0]);
      max = Math.max(max, Math.abs(la.get(i)[1] - lb.get(i)[1]));
    }
    return max;
  }

  @Test
  void overAVethLinkTwoWorkersTrainLikeOneAndASlowLinkOnlyMakesItSlower(@TempDir Path tmp) throws Exception {
    assumeLinked();
    Path one = tmp.resolve("one");
    DinoConfig cfg = ClusterWorkerMain.config(one, 2, 3, 0);
    new Trainer(cfg, new TrainerTest.Synthetic(8000, Integer.MAX_VALUE)).run();

    Path fast = tmp.resolve("fast");
    double fastS = runPair(fast, 47011, tmp);
    // 1 Mbit/s each way: the step's all-reduce (~30 KB of gradients and statistics) takes a quarter second
    for (int w = 0; w < 2; w++) {
      assertNull(sh(inNs(w, "tc", "qdisc", "add", "dev", DEV[w], "root", "tbf", "rate", "1mbit", "burst", "8kb",
          "latency", "2s")));
    }
    Path slow = tmp.resolve("slow");
    double slowS;
    String qdisc;
    try {
      slowS = runPair(slow, 47012, tmp);
      qdisc = out(inNs(0, "tc", "-s", "qdisc", "show", "dev", DEV[0]));
    } finally {
      for (int w = 0; w < 2; w++) {
        sh(inNs(w, "tc", "qdisc", "del", "dev", DEV[w], "root"));
      }
    }
    // the shaper really held packets back during the run (tbf counts them as overlimits)
    Matcher m = Pattern.compile("overlimits (\\d+)").matcher(qdisc);
    assertTrue(m.find() && Long.parseLong(m.group(1)) > 0, "tbf did not throttle: " + qdisc);
    double fastLoss = maxLossDiff(one, fast);
    double slowLoss = maxLossDiff(one, slow);
    double fastW = DistributedTrainerTest.maxWeightDiff(one, fast, cfg, "student", "teacher");
    double slowW = DistributedTrainerTest.maxWeightDiff(one, slow, cfg, "student", "teacher");
    System.out.printf("veth, 2 workers vs 1 (6 steps): max |loss diff| %.3g, max |weight diff| %.3g, %.1f s; "
        + "through tbf 1 Mbit/s: %.3g, %.3g, %.1f s (%s)%n", fastLoss, fastW, fastS, slowLoss, slowW, slowS,
        m.group(0));
    assertTrue(fastLoss < 1e-5 && fastW < 1e-5, "over the veth link: loss " + fastLoss + ", weights " + fastW);
    assertTrue(slowLoss < 1e-5 && slowW < 1e-5, "over the slowed link: loss " + slowLoss + ", weights " + slowW);
    // the slow run is the same run: identical logged losses to the fast one, bit for bit
    assertEquals(DistributedTrainerTest.losses(fast).stream().map(x -> x[1]).toList(),
        DistributedTrainerTest.losses(slow).stream().map(x -> x[1]).toList());
  }

  @Test
  void aLinkTakenDownStopsBothWorkersNamingTheOtherAndARestartResumes(@TempDir Path tmp) throws Exception {
    assumeLinked();
    double timeout = 10;
    int steps = 300;
    int every = 5;
    Path dir = tmp.resolve("run");
    Path[] outs = {tmp.resolve("w0.out"), tmp.resolve("w1.out")};
    Process[] p = new Process[2];
    for (int w = 0; w < 2; w++) {
      p[w] = worker(w, dir, workers(47021), timeout, 1, steps, every, outs[w]);
    }
    try {
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
      while (!(Files.exists(dir.resolve("metrics.jsonl")) && DistributedTrainerTest.losses(dir).size() >= 12)) {
        assertTrue(System.nanoTime() < deadline && p[0].isAlive() && p[1].isAlive(),
            "cluster did not start:\n" + Files.readString(outs[0]) + "\n" + Files.readString(outs[1]));
        Thread.sleep(100);
      }
      long down = System.nanoTime();
      assertNull(sh(inNs(1, "ip", "link", "set", DEV[1], "down")));
      for (int w = 0; w < 2; w++) {
        assertTrue(p[w].waitFor((long) timeout + 60, TimeUnit.SECONDS), "worker " + w + " still runs " + (timeout + 60)
            + " s after the link went down:\n" + Files.readString(outs[w]));
      }
      double after = (System.nanoTime() - down) / 1e9;
      for (int w = 0; w < 2; w++) {
        String o = output(outs[w]);
        assertEquals(3, p[w].exitValue(), "worker " + w + " should stop with WORKER LOST:\n" + o);
        String other = "worker " + (1 - w) + " (" + IP[1 - w] + ":47021)";
        assertTrue(o.contains("Another worker (" + other + ")"), "worker " + w + " does not name " + other + ":\n" + o);
      }
      System.out.printf("link down: both workers stopped within %.1f s (collective timeout %.0f s)%n", after, timeout);
      assertTrue(after < timeout + 60);
    } finally {
      for (Process q : p) {
        q.destroyForcibly();
      }
      sh(inNs(1, "ip", "link", "set", DEV[1], "up"));
    }
    long latest = Long.parseLong(new Checkpoints(dir).latest().orElseThrow().getFileName().toString().substring(5));
    assertTrue(latest >= every && latest < steps, "latest checkpoint at step " + latest);

    // link back up; the same command on both resumes from the chief's last checkpoint and finishes
    for (int w = 0; w < 2; w++) {
      p[w] = worker(w, dir, workers(47021), timeout, 1, steps, every, tmp.resolve("again" + w + ".out"));
    }
    for (int w = 0; w < 2; w++) {
      finish(p[w], tmp.resolve("again" + w + ".out"), 10);
    }
    assertTrue(Files.readString(dir.resolve("train.log")).contains(String.format("resumed from %s",
        new Checkpoints(dir).dir().resolve(String.format("ckpt-%09d", latest)))), "no resume from ckpt " + latest);
    assertEquals(String.format("ckpt-%09d", steps), new Checkpoints(dir).latest().orElseThrow().getFileName().toString());
  }
}
