package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.export.ExportFixtures;
import dev.dino4j.export.InferenceGraph;
import dev.dino4j.train.CheckpointWeights;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.SavedModelBundle;
import picocli.CommandLine;

/** {@code dino4j export}: the layout, versions, and every kind of bad input (exit 2, no partial version). */
class ExportCommandTest {

  private record Run(int code, String out, String err) {}

  private static Run cli(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new ExportCommand());
    cmd.setExecutionExceptionHandler(new Errors());
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  @TempDir static Path shared;
  private static Path sharedRun;

  /** One run directory with one checkpoint (random weights, step 0), written once: it needs the whole training graph. */
  @BeforeAll
  static void writeRun() {
    sharedRun = shared.resolve("run");
    DinoConfig cfg = ExportFixtures.tiny(sharedRun);
    CheckpointWeights.writeRun(cfg, ExportFixtures.randomWeights(cfg, 11), false);
  }

  /** A copy of the shared run directory named {@code name} (tests may break their copy). */
  static Path run(Path tmp, String name) throws IOException {
    Path dir = tmp.resolve(name);
    try (Stream<Path> s = Files.walk(sharedRun)) {
      for (Path p : s.toList()) {
        Path to = dir.resolve(sharedRun.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(to);
        } else {
          Files.copy(p, to);
        }
      }
    }
    return dir;
  }

  /** Everything under base, relative, sorted: what a failed export must leave unchanged. */
  private static List<String> tree(Path base) throws IOException {
    if (!Files.exists(base)) {
      return List.of();
    }
    try (Stream<Path> s = Files.walk(base)) {
      return s.map(p -> base.relativize(p).toString()).sorted().toList();
    }
  }

  @Test
  void writesNumberedVersionsInTfServingLayout(@TempDir Path tmp) throws Exception {
    Path run = run(tmp, "tiny-run");
    Path base = tmp.resolve("savedmodels");
    Run first = cli(run.toString(), "--base", base.toString());
    assertEquals(0, first.code(), first.err());
    Path v1 = base.resolve("tiny-run/1");
    assertTrue(first.out().contains(v1.toString()), first.out());
    assertTrue(Files.isRegularFile(v1.resolve("saved_model.pb")));
    assertTrue(Files.getPosixFilePermissions(v1).contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ),
        "readable by a TF Serving process of another user");
    assertTrue(Files.isRegularFile(v1.resolve("variables/variables.index")));
    assertTrue(Files.size(v1.resolve("assets.extra/tf_serving_warmup_requests")) > 0);
    JsonNode meta = new ObjectMapper().readTree(v1.resolve("assets.extra/dino4j.json").toFile());
    assertEquals(4, meta.get("patch_size").asInt());
    assertEquals(16, meta.get("embed_dim").asInt());
    assertEquals(0, meta.get("training_step").asLong());
    assertEquals("teacher", meta.get("network").asText());
    assertEquals(0.3f, (float) meta.get("mean").get(0).asDouble(), 1e-7);
    assertEquals(16, meta.get("config").get("augment").get("global_size").asInt());
    assertTrue(meta.get("source_checkpoint").asText().endsWith("ckpt-000000000"), meta.toString());

    // the next export is version 2; student on request; an explicit version and name
    Run second = cli(run.toString(), "--base", base.toString(), "--network", "student");
    assertEquals(0, second.code(), second.err());
    assertTrue(Files.isDirectory(base.resolve("tiny-run/2")));
    Run named = cli(run.resolve("checkpoints/ckpt-000000000").toString(), "--base", base.toString(),
        "--name", "other", "--version", "7");
    assertEquals(0, named.code(), named.err());
    assertTrue(Files.isDirectory(base.resolve("other/7")));
    // no temporary folders left behind
    try (Stream<Path> s = Files.list(base.resolve("tiny-run"))) {
      assertEquals(List.of("1", "2"), s.map(p -> p.getFileName().toString()).sorted().toList());
    }

    // it loads, with the four predict signatures and only the backbone's variables
    try (SavedModelBundle b = SavedModelBundle.load(v1.toString(), "serve")) {
      assertEquals(java.util.Set.of("serving_default", "image_bytes", "patch_tokens", "attention"),
          b.metaGraphDef().getSignatureDefMap().keySet());
      b.metaGraphDef().getSignatureDefMap().values()
          .forEach(sd -> assertEquals(InferenceGraph.PREDICT, sd.getMethodName()));
      long nodes = b.metaGraphDef().getGraphDef().getNodeList().stream()
          .filter(n -> n.getOp().equals("VariableV2")).count();
      assertEquals(4 + 12 * 2 + 2, nodes, "backbone variables only (no head, student copy or optimizer)");
    }
  }

  @Test
  void anExistingVersionIsRefused(@TempDir Path tmp) throws Exception {
    Path run = run(tmp, "r");
    Path base = tmp.resolve("models");
    assertEquals(0, cli(run.toString(), "--base", base.toString(), "--version", "3").code());
    long before = Files.getLastModifiedTime(base.resolve("r/3/saved_model.pb")).toMillis();
    List<String> tree = tree(base);
    Run again = cli(run.toString(), "--base", base.toString(), "--version", "3");
    assertEquals(2, again.code(), again.err());
    assertTrue(again.err().contains(base.resolve("r/3").toString()) && again.err().contains("already exists")
        && again.err().contains("(4)"), again.err());
    assertEquals(tree, tree(base));
    assertEquals(before, Files.getLastModifiedTime(base.resolve("r/3/saved_model.pb")).toMillis());
  }

  @Test
  void missingOrCorruptCheckpointsAreClearErrors(@TempDir Path tmp) throws Exception {
    Path base = tmp.resolve("models");
    Run missing = cli(tmp.resolve("nope").toString(), "--base", base.toString());
    assertEquals(2, missing.code(), missing.err());
    assertTrue(missing.err().contains("nope") && missing.err().contains("does not exist"), missing.err());

    Run notARun = cli(tmp.toString(), "--base", base.toString());
    assertEquals(2, notARun.code(), notARun.err());
    assertTrue(notARun.err().contains("neither a run directory"), notARun.err());

    Path run = run(tmp, "broken");
    Path ckpt = run.resolve("checkpoints/ckpt-000000000");
    try (Stream<Path> s = Files.list(ckpt)) {
      for (Path p : s.filter(p -> p.getFileName().toString().startsWith("vars.data")).toList()) {
        Files.write(p, new byte[] {1, 2, 3}); // truncated
      }
    }
    Run corrupt = cli(run.toString(), "--base", base.toString());
    assertEquals(2, corrupt.code(), corrupt.err());
    assertTrue(corrupt.err().contains(ckpt.toString()) && corrupt.err().contains("corrupt"), corrupt.err());
    assertEquals(List.of(), tree(base.resolve("broken")).stream().filter(p -> !p.isEmpty()).toList(),
        "no version folder and no temporary folder");
  }

  @Test
  void aRunFromAnotherArchitectureIsRefused(@TempDir Path tmp) throws Exception {
    Path run = run(tmp, "arch");
    Path ckpt = run.resolve("checkpoints/ckpt-000000000");
    // the checkpoint's config claims a wider model than its variables hold
    DinoConfig wider = ExportFixtures.tiny(run, "model.embed_dim=32");
    Files.writeString(ckpt.resolve("config.yaml"), ConfigLoader.toYaml(wider));
    Path base = tmp.resolve("models");
    Run r = cli(run.toString(), "--base", base.toString());
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains(ckpt.toString()) && r.err().contains("another architecture"), r.err());
    assertFalse(Files.exists(base.resolve("arch/1")));
  }

  @Test
  void anUnwritableTargetIsAClearError(@TempDir Path tmp) throws Exception {
    Path run = run(tmp, "w");
    Path file = Files.writeString(tmp.resolve("a-file"), "not a folder");
    Run r = cli(run.toString(), "--base", file.toString());
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains(file.resolve("w").toString()) && r.err().contains("writable folder"), r.err());

    Run badName = cli(run.toString(), "--base", tmp.resolve("m").toString(), "--name", "../escape");
    assertEquals(2, badName.code(), badName.err());
    assertTrue(badName.err().contains("../escape"), badName.err());
    Run badNet = cli(run.toString(), "--base", tmp.resolve("m").toString(), "--network", "head");
    assertEquals(2, badNet.code(), badNet.err());
    assertTrue(badNet.err().contains("teacher or student"), badNet.err());
  }
}
