package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.Weights;
import dev.dino4j.train.CheckpointWeights;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The evaluation commands from the command line: bad input exits 2 with a clear message; a small real run works. */
class EvalCommandsTest {

  private static final Path FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

  private record Run(int code, String out, String err) {}

  private static Run cli(Object command, String... args) {
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(command);
    cmd.setExecutionExceptionHandler(new Errors());
    cmd.setErr(new PrintWriter(err, true));
    PrintStream stdout = System.out;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    System.setOut(new PrintStream(out, true));
    int code;
    try {
      code = cmd.execute(args);
    } finally {
      System.setOut(stdout);
    }
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void missingCheckpointExits2(@TempDir Path tmp) {
    Run r = cli(new KnnCommand(), tmp.resolve("nope").toString());
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("nope") && r.err().contains("run directory"), r.err());
    Run a = cli(new AttentionCommand(), tmp.resolve("img.png").toString(), tmp.resolve("nope").toString(), "-o",
        tmp.toString());
    assertEquals(2, a.code(), a.err());
    assertTrue(a.err().contains("img.png"), a.err());
    Run l = cli(new LinearCommand(), tmp.resolve("nope").toString(), "-o", tmp.resolve("out").toString());
    assertEquals(2, l.code(), l.err());
    assertTrue(l.err().contains("nope"), l.err());
  }

  @Test
  void badOptionsExit2(@TempDir Path tmp) {
    Run k = cli(new KnnCommand(), tmp.toString(), "--k", "10,x");
    assertEquals(2, k.code(), k.err());
    assertTrue(k.err().contains("--k '10,x'") && k.err().contains("positive integer"), k.err());
    Run zero = cli(new KnnCommand(), tmp.toString(), "--k", "0");
    assertEquals(2, zero.code(), zero.err());
    Run t = cli(new KnnCommand(), tmp.toString(), "--temperature", "0");
    assertEquals(2, t.code(), t.err());
    assertTrue(t.err().contains("--temperature"), t.err());
    Run f = cli(new KnnCommand(), "--features", "hog");
    assertEquals(2, f.code(), f.err());
    assertTrue(f.err().contains("hog") && f.err().contains("pixels"), f.err());
    Run noRun = cli(new KnnCommand());
    assertEquals(2, noRun.code(), noRun.err());
    assertTrue(noRun.err().contains("RUN_OR_CKPT"), noRun.err());
    Run crop = cli(new LinearCommand(), tmp.toString(), "-o", tmp.toString(), "--crop-scale", "0.5,0.1");
    assertEquals(2, crop.code(), crop.err());
    assertTrue(crop.err().contains("--crop-scale"), crop.err());
    Run linEpochs = cli(new EvalBenchmarkCommand(), tmp.toString(), "--linear", tmp.toString(), "--linear-epochs", "0");
    assertEquals(2, linEpochs.code(), linEpochs.err());
    assertTrue(linEpochs.err().contains("--linear-epochs must be >= 1, got 0"), linEpochs.err());
    Run unknown = cli(new KnnCommand(), tmp.toString(), "--kk", "3");
    assertEquals(2, unknown.code(), unknown.err()); // picocli's usage error
  }

  /** The training loss of each epoch of a probe folder's linear.jsonl. */
  private static java.util.List<Double> probeLosses(Path probeDir) throws java.io.IOException {
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    java.util.List<Double> losses = new java.util.ArrayList<>();
    for (String line : Files.readAllLines(probeDir.resolve("linear.jsonl"))) {
      losses.add(json.readTree(line).get("loss").asDouble());
    }
    assertEquals(2, losses.size(), probeDir + ": one line per epoch");
    return losses;
  }

  /** knn, attention, linear and eval-benchmark on a tiny fresh run and 300 / 100 Fashion-MNIST images (~30 s). */
  @Test
  @org.junit.jupiter.api.Tag("slow")
  void commandsRunOnATinyRun(@TempDir Path tmp) throws Exception {
    assumeTrue(Files.isDirectory(FASHION_MNIST), "Fashion-MNIST not installed");
    Path runDir = tmp.resolve("run");
    String yaml = String.join("\n",
        "data: {source: fashion-mnist, path: '" + FASHION_MNIST + "', mean: [0.286, 0.286, 0.286], std: [0.353, 0.353, 0.353]}",
        "augment: {global_size: 16, local_size: 8, local_crops: 2}",
        "model: {arch: custom, patch_size: 4, embed_dim: 16, depth: 2, heads: 2}",
        "head: {out_dim: 32, hidden_dim: 24, bottleneck_dim: 8}",
        "train: {output_dir: '" + runDir + "'}", "");
    DinoConfig cfg = ConfigLoader.fromYaml(yaml, java.util.List.of());
    Files.writeString(tmp.resolve("tiny.yaml"), yaml);
    // weights from another seed than the config's, so that "the same ViT at random init" differs from the teacher
    Weights w = dev.dino4j.eval.Backbones.randomInit(ConfigLoader.fromYaml(yaml, java.util.List.of("train.seed=7")))
        .weights();
    CheckpointWeights.writeRun(cfg, w, true);

    Path feats = tmp.resolve("features");
    Run k = cli(new KnnCommand(), runDir.toString(), "--k", "1,20", "--limit-train", "300", "--limit-test", "100",
        "--features-dir", feats.toString());
    assertEquals(0, k.code(), k.err());
    assertTrue(k.out().contains("300 train / 100 test") && k.out().contains("   20  "), k.out());
    assertTrue(Files.isRegularFile(feats.resolve("teacher-train-features.npy")));
    assertTrue(Files.isRegularFile(feats.resolve("teacher-test-labels.npy")));
    Run again = cli(new KnnCommand(), runDir.toString(), "--k", "1,20", "--limit-train", "300", "--limit-test", "100",
        "--features-dir", feats.toString());
    assertEquals(k.out().lines().skip(1).toList(), again.out().lines().skip(1).toList(), "reused features, same table");

    // The same teacher exported as a SavedModel: k-NN through its serving_default signature gets
    // the features the checkpoint gave, and so the same table.
    Run exp = cli(new ExportCommand(), runDir.toString(), "--base", tmp.resolve("savedmodels").toString(),
        "--name", "tiny");
    assertEquals(0, exp.code(), exp.err());
    Run sm = cli(new KnnCommand(), tmp.resolve("savedmodels/tiny").toString(), "--k", "1,20", "--limit-train",
        "300", "--limit-test", "100", "--features-dir", feats.toString());
    assertEquals(0, sm.code(), sm.err());
    assertTrue(sm.out().contains("SavedModel"), sm.out());
    assertEquals(k.out().lines().skip(1).toList(), sm.out().lines().skip(1).toList(), "SavedModel vs checkpoint");
    dev.dino4j.eval.Features fromCkpt = dev.dino4j.eval.Features.load(feats, "teacher-test");
    dev.dino4j.eval.Features fromSm = dev.dino4j.eval.Features.load(feats, "savedmodel-test");
    assertEquals(fromCkpt.count(), fromSm.count());
    float worst = 0;
    for (int i = 0; i < fromCkpt.values().length; i++) {
      worst = Math.max(worst, Math.abs(fromCkpt.values()[i] - fromSm.values()[i]));
    }
    assertTrue(worst < 1e-4f, "max |checkpoint - SavedModel| feature difference " + worst);

    Run px = cli(new KnnCommand(), runDir.toString(), "--features", "pixels", "--k", "20", "--limit-train", "300",
        "--limit-test", "100");
    assertEquals(0, px.code(), px.err());
    assertTrue(px.out().contains("2352-dim"), px.out()); // 28 x 28 x 3

    BufferedImage png = new BufferedImage(28, 20, BufferedImage.TYPE_INT_RGB);
    Random r = new Random(0);
    for (int y = 0; y < 20; y++) {
      for (int x = 0; x < 28; x++) {
        png.setRGB(x, y, r.nextInt(1 << 24));
      }
    }
    Path img = tmp.resolve("img.png");
    ImageIO.write(png, "png", img.toFile());
    Run a = cli(new AttentionCommand(), img.toString(), runDir.toString(), "-o", tmp.resolve("attn").toString(),
        "--threshold", "0.6");
    assertEquals(0, a.code(), a.err());
    assertTrue(Files.isRegularFile(tmp.resolve("attn/mask-head1.png")), a.out());

    Run lin = cli(new LinearCommand(), runDir.toString(), "-o", tmp.resolve("lin").toString(), "--epochs", "2",
        "--limit-train", "300", "--limit-test", "100", "--n-last-blocks", "2", "--lr", "0.1");
    assertEquals(0, lin.code(), lin.err());
    assertTrue(lin.out().contains("32-dim features (2 block(s))") && lin.out().contains("best top-1"), lin.out());
    assertTrue(Files.readString(tmp.resolve("lin/linear.jsonl")).lines().count() == 2);

    // The same probe on the raw pixels (the baseline): 28 x 28 x 3 features; on 300 images, with
    // fresh crops for 10 epochs, it must learn the classes well above chance (10%; 59% measured).
    Run linPx = cli(new LinearCommand(), runDir.toString(), "--features", "pixels", "-o", tmp.resolve("lin-px").toString(),
        "--epochs", "10", "--limit-train", "300", "--limit-test", "100", "--lr", "0.1", "--crop-scale", "0.6,1");
    assertEquals(0, linPx.code(), linPx.err());
    assertTrue(linPx.out().contains("raw pixels in [0, 1]: 2352-dim features (28 x 28 x 3 pixels), fresh crops"),
        linPx.out());
    double pxTop1 = Double.parseDouble(linPx.out().replaceAll("(?s).*best top-1 ([0-9.]+)%.*", "$1").trim());
    assertTrue(pxTop1 > 40, "pixel linear probe top-1 " + pxTop1 + "%: " + linPx.out());
    Run linRnd = cli(new LinearCommand(), "--features", "random", "--config", tmp.resolve("tiny.yaml").toString(),
        "-o", tmp.resolve("lin-rnd").toString(), "--epochs", "1", "--limit-train", "300", "--limit-test", "100",
        "--no-augment");
    assertEquals(0, linRnd.code(), linRnd.err());
    assertTrue(linRnd.out().contains("random init") && linRnd.out().contains("centre views cached"), linRnd.out());

    Run b = cli(new EvalBenchmarkCommand(), runDir.toString(), "--limit-train", "300", "--limit-test", "100");
    assertEquals(0, b.code(), b.err());
    assertTrue(b.out().contains("raw pixels") && b.out().contains("random init") && b.out().contains("DINO teacher"),
        b.out());

    // --linear adds the three probes; each must be the probe `linear --no-augment` trains with the
    // same options: the teacher's and the random network's best top-1 equal the linear command's
    Run bl = cli(new EvalBenchmarkCommand(), runDir.toString(), "--limit-train", "300", "--limit-test", "100",
        "--linear", tmp.resolve("bench-lin").toString(), "--linear-epochs", "2");
    assertEquals(0, bl.code(), bl.err());
    assertTrue(bl.out().contains("linear probe (networks: CLS of the last 2 block(s); centre views cached, 2 epochs"),
        bl.out());
    for (String kind : new String[] {"teacher", "pixels", "random"}) {
      assertTrue(Files.readString(tmp.resolve("bench-lin/" + kind + "/linear.jsonl")).lines().count() == 2, kind);
    }
    Run own = cli(new LinearCommand(), runDir.toString(), "-o", tmp.resolve("lin-own").toString(), "--epochs", "2",
        "--limit-train", "300", "--limit-test", "100", "--no-augment");
    assertEquals(0, own.code(), own.err());
    Run ownRnd = cli(new LinearCommand(), runDir.toString(), "--features", "random", "-o",
        tmp.resolve("lin-own-rnd").toString(), "--epochs", "2", "--limit-train", "300", "--limit-test", "100",
        "--no-augment");
    assertEquals(0, ownRnd.code(), ownRnd.err());
    // the per-epoch training losses (full float precision) tell the probes apart: the run's teacher
    // (seed 7) is not the random-init network (the config's seed 0)
    assertEquals(probeLosses(tmp.resolve("lin-own")), probeLosses(tmp.resolve("bench-lin/teacher")));
    assertEquals(probeLosses(tmp.resolve("lin-own-rnd")), probeLosses(tmp.resolve("bench-lin/random")));
    assertNotEquals(probeLosses(tmp.resolve("bench-lin/teacher")), probeLosses(tmp.resolve("bench-lin/random")));
    String linearSection = bl.out().substring(bl.out().indexOf("linear probe ("));
    String ownTop1 = own.out().replaceAll("(?s).*best top-1 ([0-9.]+)%.*", "$1").trim();
    String teacherRow = linearSection.lines().filter(l -> l.contains("DINO teacher")).findFirst().orElseThrow();
    assertTrue(teacherRow.contains(" " + ownTop1 + "% "), "eval-benchmark --linear teacher row " + teacherRow
        + " against linear --no-augment's " + ownTop1 + "%");
    String pixelRow = linearSection.lines().filter(l -> l.contains("raw pixels")).findFirst().orElseThrow();
    assertTrue(pixelRow.contains(" 2352 "), pixelRow);
  }
}
