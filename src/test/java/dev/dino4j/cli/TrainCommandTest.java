package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code dino4j train} from the command line: exit codes, messages, a real run, Ctrl-C and resume. */
class TrainCommandTest {

  private static final Path FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

  private record Run(int code, String out, String err) {}

  private static Run cli(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new Main());
    cmd.setExecutionExceptionHandler(new Errors());
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void configErrorsExitWith2AndNameTheKey(@TempDir Path tmp) {
    Run r = cli("train", "--config", "configs/fmnist-tiny.yaml", "--set", "optim.lr=-1", "--output", tmp.toString());
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("optim.lr") && r.err().contains("-1"), r.err());
    Run unknown = cli("train", "--config", "configs/fmnist-tiny.yaml", "--set", "train.epochz=3");
    assertEquals(2, unknown.code());
    assertTrue(unknown.err().contains("train.epochz") && unknown.err().contains("train.epochs"), unknown.err());
    Run missing = cli("train", "--config", tmp.resolve("nope.yaml").toString());
    assertEquals(2, missing.code());
    assertTrue(missing.err().contains("nope.yaml"), missing.err());
  }

  @Test
  void missingDatasetIsAClearError(@TempDir Path tmp) {
    Run r = cli("train", "--config", "configs/fmnist-tiny.yaml", "--data", tmp.resolve("absent").toString(),
        "--output", tmp.resolve("run").toString());
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("absent"), r.err());
  }

  @Test
  @Tag("slow")
  void trainsTheTinyRecipeOnFashionMnist(@TempDir Path tmp) throws IOException {
    assumeTrue(Files.isDirectory(FASHION_MNIST), "Fashion-MNIST not installed (make data)");
    Path run = tmp.resolve("run");
    Run r = cli("train", "--config", "configs/fmnist-tiny.yaml", "--output", run.toString(),
        "--set", "train.epochs=2", "--set", "optim.warmup_epochs=1", "--set", "train.steps_per_epoch=4", "--set", "train.batch_size=16",
        "--set", "train.log_every=1", "--set", "eval.knn_every=2", "--set", "eval.knn_train_limit=300",
        "--set", "eval.knn_test_limit=100");
    assertEquals(0, r.code(), r.err());
    assertEquals("ckpt-000000008", Files.readString(run.resolve("checkpoints/latest")).trim());
    List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
    assertEquals(8 + 2, metrics.size(), "a line per step (log_every 1) and per epoch end");
    // periodic k-NN: after epoch 2 only (knn_every 2), on the test split, as a percentage
    assertFalse(metrics.get(4).contains("knn_top1"), metrics.get(4));
    var last = new com.fasterxml.jackson.databind.ObjectMapper().readTree(metrics.get(9));
    double top1 = last.get("knn_top1").asDouble();
    assertTrue(top1 > 10 && top1 <= 100, "20-NN top-1 of 10 classes well above chance: " + top1);
    assertTrue(Files.readString(run.resolve("train.log")).contains("20-NN of the teacher"));
    assertTrue(Files.readString(run.resolve("train.log")).contains("epoch 2/2"));
  }

  @Test
  @Tag("slow")
  void sigtermWritesACheckpointAndTheSameCommandResumes(@TempDir Path tmp) throws Exception {
    assumeTrue(Files.isDirectory(FASHION_MNIST), "Fashion-MNIST not installed (make data)");
    Path run = tmp.resolve("run");
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Main.class.getName(),
        "train", "--config", "configs/fmnist-tiny.yaml", "--output", run.toString(),
        "--set", "train.epochs=1", "--set", "optim.warmup_epochs=1", "--set", "train.steps_per_epoch=400", "--set", "train.batch_size=8",
        "--set", "train.log_every=1"));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(tmp.resolve("first.out").toFile());
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    Process p = pb.start();
    Path metrics = run.resolve("metrics.jsonl");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!(Files.exists(metrics) && Files.readAllLines(metrics).size() >= 3)) {
      assertTrue(p.isAlive(), "trainer died early: " + Files.readString(tmp.resolve("first.out")));
      assertTrue(System.nanoTime() < deadline, "no training steps within 120 s");
      Thread.sleep(200);
    }
    p.destroy(); // SIGTERM: the same shutdown path as Ctrl-C
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "trainer did not stop within 120 s of SIGTERM");
    String first = Files.readString(tmp.resolve("first.out"));
    assertTrue(first.contains("interrupted: checkpoint"), first);
    String name = Files.readString(run.resolve("checkpoints/latest")).trim();
    long stoppedAt = Long.parseLong(name.substring("ckpt-".length()));
    assertTrue(stoppedAt >= 3 && stoppedAt < 400, "stopped mid-epoch at " + stoppedAt);
    var state = new com.fasterxml.jackson.databind.ObjectMapper()
        .readTree(run.resolve("checkpoints").resolve(name).resolve("state.json").toFile());
    assertFalse(state.get("epochEnd").asBoolean(), state.toString());
    assertEquals(stoppedAt, state.get("stepInEpoch").asLong(), state.toString());

    // the same command resumes mid-epoch and finishes
    Process q = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("second.out").toFile()).start();
    // finishing 400 steps of batch 8 takes a while on 2 cores; stop it again once it resumed
    Path log = run.resolve("train.log");
    deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!Files.readString(log).contains("resumed from")) {
      assertTrue(q.isAlive(), "resume died: " + Files.readString(tmp.resolve("second.out")));
      assertTrue(System.nanoTime() < deadline, "no resume within 120 s");
      Thread.sleep(200);
    }
    String resumedLine = Files.readAllLines(log).stream().filter(l -> l.contains("resumed from")).findFirst().orElseThrow();
    assertTrue(resumedLine.contains("global step " + stoppedAt), resumedLine);
    q.destroy();
    assertTrue(q.waitFor(120, TimeUnit.SECONDS));
    long second = Long.parseLong(Files.readString(run.resolve("checkpoints/latest")).trim().substring("ckpt-".length()));
    assertTrue(second >= stoppedAt, "second checkpoint at " + second + " after " + stoppedAt);
  }
}
