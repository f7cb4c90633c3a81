package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.export.SafetensorsReader;
import dev.dino4j.export.SafetensorsWeights;
import dev.dino4j.export.WeightNames;
import dev.dino4j.model.ParamSpec;
import dev.dino4j.model.Weights;
import dev.dino4j.train.CheckpointWeights;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code dino4j import} and {@code dino4j export-weights}: round trips, exit codes and messages. */
class WeightsCommandsTest {

  /** ViT dim 8, depth 2, heads 2, patch 2 on 6-px globals; head hidden 12, bottleneck 4, K 10. */
  static final String YAML = """
      model: {arch: custom, patch_size: 2, embed_dim: 8, depth: 2, heads: 2}
      augment: {global_size: 6, local_size: 4, local_crops: 2}
      head: {out_dim: 10, hidden_dim: 12, bottleneck_dim: 4, layers: 3, norm_last_layer: false}
      train: {batch_size: 4}
      """;

  record Run(int code, String out, String err) {}

  /** The CLI with the weight commands (registered here too, in case Main does not list them yet). */
  static Run cli(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new Main());
    if (!cmd.getSubcommands().containsKey("import")) {
      cmd.addSubcommand(new ImportCommand());
    }
    if (!cmd.getSubcommands().containsKey("export-weights")) {
      cmd.addSubcommand(new WeightsExportCommand());
    }
    cmd.setExecutionExceptionHandler(new Errors());
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  static Weights random(DinoConfig cfg, long seed, boolean head) {
    Random r = new Random(seed);
    Weights w = new Weights();
    for (ParamSpec s : CheckpointWeights.specs(cfg)) {
      float[] v = new float[s.size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) r.nextGaussian();
      }
      if (head || !s.name().startsWith("head.")) {
        w.put(s.name(), s.shape(), v);
      }
    }
    return w;
  }

  static Weights readAsDino(Path file) throws IOException {
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      WeightNames.Mapped m = WeightNames.toDino(r.readAll(), null);
      assertEquals(List.of(), m.problems());
      return m.weights();
    }
  }

  static void assertSameWeights(Weights want, Weights got) {
    assertEquals(want.all().keySet(), got.all().keySet());
    for (String n : want.all().keySet()) {
      assertArrayEquals(want.get(n).shape(), got.get(n).shape(), n);
      assertArrayEquals(want.get(n).values(), got.get(n).values(), 0f, n);
    }
  }

  @Test
  void importedWeightsExportBackUnchangedInEveryNaming(@TempDir Path tmp) throws IOException {
    Path yaml = Files.writeString(tmp.resolve("c.yaml"), YAML);
    DinoConfig cfg = ConfigLoader.load(yaml, List.of());
    Weights w = random(cfg, 11, true);
    Path in = tmp.resolve("in.safetensors");
    SafetensorsWeights.save(in, w, WeightNames.Naming.OFFICIAL, Map.of());
    Path run = tmp.resolve("run");

    Run imp = cli("import", in.toString(), "--config", yaml.toString(), "--output", run.toString());
    assertEquals(0, imp.code(), imp.err());
    assertTrue(imp.out().contains("imported " + w.size() + " tensors (official naming)"), imp.out());
    assertTrue(Files.isRegularFile(run.resolve("config.yaml")));

    for (String network : List.of("teacher", "student")) {
      Path out = tmp.resolve(network + ".safetensors");
      Run exp = cli("export-weights", run.toString(), "--output", out.toString(), "--network", network);
      assertEquals(0, exp.code(), exp.err());
      assertSameWeights(w, readAsDino(out));
      try (SafetensorsReader r = SafetensorsReader.open(out)) {
        assertTrue(r.names().contains("backbone.blocks.0.attn.qkv.weight"), r.names().toString());
        assertEquals(network, r.metadata().get("dino4j.network"));
        assertTrue(r.metadata().get("dino4j.vit").contains("num_heads=2"), r.metadata().toString());
      }
    }
    Weights backbone = random(cfg, 11, false);
    for (String naming : List.of("official", "hf", "hf-legacy")) {
      Path out = tmp.resolve(naming + ".safetensors");
      Run exp = cli("export-weights", run.toString(), "--output", out.toString(), "--naming", naming, "--backbone-only");
      assertEquals(0, exp.code(), exp.err());
      assertSameWeights(backbone, readAsDino(out));
    }
    // the exported HF file imports again (backbone only) into a second run
    Run again = cli("import", tmp.resolve("hf.safetensors").toString(), "--config", yaml.toString(),
        "--output", tmp.resolve("run2").toString(), "--backbone-only");
    assertEquals(0, again.code(), again.err());
    assertTrue(again.out().contains("(hf naming, backbone only"), again.out());
    // export errors
    Run hfHead = cli("export-weights", run.toString(), "--output", tmp.resolve("x.safetensors").toString(), "--naming", "hf");
    assertEquals(2, hfHead.code());
    assertTrue(hfHead.err().contains("add --backbone-only"), hfHead.err());
    Run badNaming = cli("export-weights", run.toString(), "--output", tmp.resolve("x.safetensors").toString(), "--naming", "timm2");
    assertEquals(2, badNaming.code());
    assertTrue(badNaming.err().contains("unknown naming 'timm2'"), badNaming.err());
    Run exists = cli("export-weights", run.toString(), "--output", in.toString());
    assertEquals(2, exists.code());
    assertTrue(exists.err().contains("exists; pass --force"), exists.err());
    assertEquals(0, cli("export-weights", run.toString(), "--output", in.toString(), "--force").code());
    Run twice = cli("import", in.toString(), "--config", yaml.toString(), "--output", run.toString());
    assertEquals(2, twice.code());
    assertTrue(twice.err().contains("already holds a checkpoint"), twice.err());
  }

  @Test
  void importMismatchesAndBadFilesAreListedWithExitCode2(@TempDir Path tmp) throws IOException {
    Path yaml = Files.writeString(tmp.resolve("c.yaml"), YAML);
    DinoConfig cfg = ConfigLoader.load(yaml, List.of());
    Path in = tmp.resolve("in.safetensors");
    SafetensorsWeights.save(in, random(cfg, 12, true), WeightNames.Naming.OFFICIAL, Map.of());

    Run arch = cli("import", in.toString(), "--config", yaml.toString(), "--output", tmp.resolve("r1").toString(),
        "--set", "model.embed_dim=16", "--set", "model.depth=3", "--set", "augment.global_size=8",
        "--set", "head.out_dim=12");
    assertEquals(2, arch.code(), arch.err());
    assertTrue(arch.err().contains("does not fit the config"), arch.err());
    assertTrue(arch.err().contains("model.embed_dim 16 but the weights have 8 (cls_token)"), arch.err());
    assertTrue(arch.err().contains("model.depth 3 but the weights have 2 blocks"), arch.err());
    assertTrue(arch.err().contains("augment.global_size 8 gives a 4x4 patch grid but pos_embed holds 3x3 "
        + "(set augment.global_size=6"), arch.err());
    assertTrue(arch.err().contains("head.out_dim 12 but the weights have 10"), arch.err());
    assertFalse(Files.exists(tmp.resolve("r1/checkpoints/latest")), "nothing written");

    Path hf = tmp.resolve("hf.safetensors");
    SafetensorsWeights.save(hf, random(cfg, 12, false), WeightNames.Naming.HF, Map.of());
    Run noHead = cli("import", hf.toString(), "--config", yaml.toString(), "--output", tmp.resolve("r2").toString());
    assertEquals(2, noHead.code());
    assertTrue(noHead.err().contains("missing head.mlp.0.weight[8, 12]"), noHead.err());
    assertTrue(noHead.err().contains("pass --backbone-only"), noHead.err());

    Files.write(tmp.resolve("junk.safetensors"), new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    Run junk = cli("import", tmp.resolve("junk.safetensors").toString(), "--config", yaml.toString(),
        "--output", tmp.resolve("r3").toString());
    assertEquals(2, junk.code());
    assertTrue(junk.err().contains("junk.safetensors header length"), junk.err());

    Run notRun = cli("export-weights", tmp.toString(), "--output", tmp.resolve("y.safetensors").toString());
    assertEquals(2, notRun.code());
    assertTrue(notRun.err().contains("neither a run directory"), notRun.err());
  }
}
