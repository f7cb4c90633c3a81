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
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Session;

/** The loop: exact resume, non-finite loss handling, checkpoint layout and logs. */
class TrainerTest {

  /** Deterministic random 12x12 RGB images; from image number {@code nanFrom} on, NaN pixels. */
  static final class Synthetic implements ImageDataset {
    private final int size;
    private final int nanFrom;
    final AtomicInteger reads = new AtomicInteger();

    Synthetic(int size, int nanFrom) {
      this.size = size;
      this.nanFrom = nanFrom;
    }

    @Override
    public int size() {
      return size;
    }

    @Override
    public Image image(int index) {
      int n = reads.getAndIncrement();
      Random r = new Random(index);
      float[] px = new float[12 * 12 * 3];
      for (int i = 0; i < px.length; i++) {
        px[i] = n >= nanFrom ? Float.NaN : r.nextFloat();
      }
      return new Image(12, 12, px);
    }

    @Override
    public int label(int index) {
      return index % 3;
    }

    @Override
    public int numClasses() {
      return 3;
    }

    @Override
    public String describe(int index) {
      return "synthetic#" + index;
    }
  }

  private static DinoConfig config(Path dir, int epochs, int steps) {
    DinoConfig c = TestConfigs.tiny(2, 0.1, 3.0, dir.toString());
    DinoConfig.Train t = c.train();
    return new DinoConfig(c.data(), c.augment(), c.model(), c.head(), c.loss(), c.optim(),
        new DinoConfig.Train(epochs, t.batchSize(), 42, steps, dir.toString(), 2, 0, "fp32", 0, 0, "auto"), // threads 0: TF's default pools, as real runs use
        c.eval());
  }

  @Test
  void resumeIsBitIdenticalToAnUninterruptedRun(@TempDir Path tmp) throws IOException {
    Path straight = tmp.resolve("straight");
    Trainer.Outcome a = new Trainer(config(straight, 2, 3), new Synthetic(16, Integer.MAX_VALUE)).run();
    assertFalse(a.interrupted());
    assertEquals(6, a.globalStep());

    // interrupted after the first step (as Ctrl-C does), then resumed twice from the same directory
    Path resumed = tmp.resolve("resumed");
    Trainer first = new Trainer(config(resumed, 2, 3), new Synthetic(16, Integer.MAX_VALUE));
    first.requestStop();
    Trainer.Outcome b1 = first.run();
    assertTrue(b1.interrupted());
    assertEquals(1, b1.globalStep());
    Trainer second = new Trainer(config(resumed, 2, 3), new Synthetic(16, Integer.MAX_VALUE));
    second.requestStop();
    assertEquals(2, second.run().globalStep()); // mid-epoch resume, stopped again
    Trainer.Outcome b = new Trainer(config(resumed, 2, 3), new Synthetic(16, Integer.MAX_VALUE)).run();
    assertFalse(b.interrupted());
    assertEquals(6, b.globalStep());
    assertEquals(a.lastLoss(), b.lastLoss(), 0f);

    // every variable (student, teacher, center, Adam moments, counters) bit for bit
    Path ca = new Checkpoints(straight).latest().orElseThrow();
    Path cb = new Checkpoints(resumed).latest().orElseThrow();
    assertEquals(ca.getFileName(), cb.getFileName());
    assertArrayEquals(Files.readAllBytes(ca.resolve("vars.data-00000-of-00001")),
        Files.readAllBytes(cb.resolve("vars.data-00000-of-00001")));
    // and the logged losses of the steps both runs logged agree exactly
    assertEquals(losses(straight), losses(resumed));
  }

  /** {@link #config} with every DINOv2 option on: 2 registers, LayerScale, KoLeo, Sinkhorn-Knopp. */
  private static DinoConfig dinov2(Path dir, int epochs, int steps, String precision) {
    DinoConfig c = config(dir, epochs, steps);
    DinoConfig.Model m = c.model();
    DinoConfig.Loss l = c.loss();
    DinoConfig.Train t = c.train();
    return new DinoConfig(c.data(), c.augment(),
        new DinoConfig.Model(m.arch(), m.patchSize(), m.embedDim(), m.depth(), m.heads(), m.mlpRatio(), m.dropPathRate(),
            0.1, 2, 1e-5),
        c.head(),
        new DinoConfig.Loss(l.studentTemp(), l.teacherTemp(), l.warmupTeacherTemp(), l.warmupTeacherTempEpochs(),
            l.centerMomentum(), 0.1, "sinkhorn", 3),
        c.optim(),
        new DinoConfig.Train(t.epochs(), t.batchSize(), t.seed(), t.stepsPerEpoch(), t.outputDir(), t.logEvery(),
            t.saveEvery(), precision, t.threads(), t.towers(), t.kernels()),
        c.eval());
  }

  /** A config for a run in {@code dir} with 2 epochs of 2 steps at this precision. */
  private interface RunConfig {
    DinoConfig of(Path dir, String precision);
  }

  /**
   * Trains 4 steps straight and, in another folder, 1 step, a stop and the other 3: both end with
   * the same loss and bit-identical variables; with bf16 where the CPU has it, the same losses to
   * bf16's rounding (~1%). Returns the straight run's folder.
   */
  private static Path assertResumeIsBitIdenticalAndBf16Tracks(Path tmp, RunConfig cfg) throws IOException {
    Path straight = tmp.resolve("straight");
    Trainer.Outcome a = new Trainer(cfg.of(straight, "fp32"), new Synthetic(16, Integer.MAX_VALUE)).run();
    assertEquals(4, a.globalStep());
    Path resumed = tmp.resolve("resumed");
    Trainer first = new Trainer(cfg.of(resumed, "fp32"), new Synthetic(16, Integer.MAX_VALUE));
    first.requestStop();
    assertEquals(1, first.run().globalStep());
    Trainer.Outcome b = new Trainer(cfg.of(resumed, "fp32"), new Synthetic(16, Integer.MAX_VALUE)).run();
    assertEquals(a.lastLoss(), b.lastLoss(), 0f);
    Path ca = new Checkpoints(straight).latest().orElseThrow();
    Path cb = new Checkpoints(resumed).latest().orElseThrow();
    assertArrayEquals(Files.readAllBytes(ca.resolve("vars.data-00000-of-00001")),
        Files.readAllBytes(cb.resolve("vars.data-00000-of-00001")));
    if (SessionOptions.bf16Supported()) {
      Path half = tmp.resolve("bf16");
      new Trainer(cfg.of(half, "bf16"), new Synthetic(16, Integer.MAX_VALUE)).run();
      List<JsonNode> s32 = metricLines(straight).stream().filter(n -> n.has("loss")).toList();
      List<JsonNode> s16 = metricLines(half).stream().filter(n -> n.has("loss")).toList();
      assertEquals(s32.size(), s16.size());
      for (int i = 0; i < s32.size(); i++) {
        // 3%, plus 0.01 nats: bf16's ~0.4% on logits of order 10 (cosines / 0.1) moves a cross-entropy by
        // ~0.01 whatever its size, and at these near-identical synthetic views the DINO term is only ~0.2.
        // KoLeo is not compared: the views' features are near-duplicates at init (distances ~1e-11, its
        // -log ~26), where bf16 rounding decides the distance; the logged loss is the DINO term alone
        for (String term : List.of("loss", "ibot")) {
          if (s32.get(i).has(term)) {
            double x32 = s32.get(i).get(term).asDouble();
            double x16 = s16.get(i).get(term).asDouble();
            assertEquals(x32, x16, 0.03 * Math.abs(x32) + 0.01, "bf16 step " + i + " " + term + ": " + s16.get(i)
                + " vs fp32 " + s32.get(i));
          }
        }
      }
    }
    return straight;
  }

  @Test
  void withTheDinov2OptionsResumeIsBitIdenticalAndBf16Tracks(@TempDir Path tmp) throws IOException {
    Path straight = assertResumeIsBitIdenticalAndBf16Tracks(tmp, (dir, precision) -> dinov2(dir, 2, 2, precision));
    // the registers and LayerScale gammas are in the checkpoint, with everything else, bit for bit
    Path ca = new Checkpoints(straight).latest().orElseThrow();
    Weights w = CheckpointWeights.read(ca, dinov2(straight, 2, 2, "fp32"), "student");
    assertTrue(w.has("register_tokens") && w.has("blocks.1.ls2.gamma"), w.all().keySet().toString());
    assertTrue(Files.readString(straight.resolve("metrics.jsonl")).contains("\"koleo\""), "koleo is logged");
  }

  /**
   * iBOT (with KoLeo, 2 registers and LayerScale, so the patch rows start after the registers) on
   * 16-px globals: the masks come from (seed, step), so a resumed run trains bit for bit as an
   * uninterrupted one, the mask token and the patch center included.
   */
  private static DinoConfig ibot(Path dir, int epochs, int steps, String precision) {
    DinoConfig c = TestConfigs.tinyIbot(2, 0.1, 3.0, dir.toString(), 0.1);
    DinoConfig.Model m = c.model();
    return new DinoConfig(c.data(), c.augment(),
        new DinoConfig.Model(m.arch(), m.patchSize(), m.embedDim(), m.depth(), m.heads(), m.mlpRatio(), m.dropPathRate(),
            0.0, 2, 1e-5),
        c.head(), c.loss(), c.optim(),
        new DinoConfig.Train(epochs, 4, 0, steps, dir.toString(), 1, 0, precision, 1, 1, "auto"), c.eval());
  }

  @Test
  void withIbotResumeIsBitIdenticalAndBf16Tracks(@TempDir Path tmp) throws IOException {
    Path straight = assertResumeIsBitIdenticalAndBf16Tracks(tmp, (dir, precision) -> ibot(dir, 2, 2, precision));
    Path ca = new Checkpoints(straight).latest().orElseThrow();
    List<JsonNode> lines = metricLines(straight);
    List<Double> ibots = lines.stream().filter(n -> n.has("ibot")).map(n -> n.get("ibot").asDouble()).toList();
    assertEquals(4, ibots.size(), "ibot is logged every step");
    for (double v : ibots) {
      assertTrue(v > 0.5 && Double.isFinite(v), "iBOT term " + v + " (K = 32: ln K = 3.5 at a uniform teacher)");
    }
    // the mask token is trained: it left its zero init
    try (Graph g = new Graph()) {
      DinoGraph dg = new DinoGraph(g, ibot(straight, 2, 2, "fp32"));
      try (Session s = new Session(g)) {
        Checkpoints.restore(s, ca);
        float[] token = GraphRunner.values(s, dg.student).get("mask_token");
        double max = 0;
        for (float x : token) {
          max = Math.max(max, Math.abs(x));
        }
        assertTrue(max > 1e-5, "mask_token still " + max);
        float[] center = GraphRunner.fetch(s, List.of(dg.ibotCenter)).get(0);
        assertTrue(Math.abs(center[0]) > 0, "ibot center never updated");
      }
    }
  }

  @Test
  void nonFiniteLossStopsAndKeepsTheLastGoodCheckpoint(@TempDir Path tmp) throws IOException {
    Path dir = tmp.resolve("run");
    // 2 steps x batch 4 = 8 images per epoch after one read by the readability check: the second
    // epoch sees NaN pixels
    Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class,
        () -> new Trainer(config(dir, 3, 2), new Synthetic(16, 9)).run()); // +1: the up-front readability check
    assertTrue(e.getMessage().contains("global step 2"), e.getMessage());
    assertTrue(e.getMessage().contains("lr "), e.getMessage());
    assertTrue(e.getMessage().contains("teacher temperature"), e.getMessage());
    Path latest = new Checkpoints(dir).latest().orElseThrow();
    assertEquals("ckpt-000000002", latest.getFileName().toString());
    assertTrue(e.getMessage().contains(latest.toString()), e.getMessage());
    // the checkpoint restores and holds finite weights
    try (Graph g = new Graph()) {
      DinoGraph dg = new DinoGraph(g, config(dir, 3, 2));
      try (Session s = new Session(g)) {
        Checkpoints.State st = Checkpoints.restore(s, latest);
        assertEquals(new Checkpoints.State(1, 0, 2, true), st);
        for (float[] v : GraphRunner.values(s, dg.student).values()) {
          for (float x : v) {
            assertTrue(Float.isFinite(x));
          }
        }
      }
    }
    try (Stream<Path> files = Files.list(new Checkpoints(dir).dir())) {
      assertEquals(List.of("ckpt-000000002", "latest"), files.map(p -> p.getFileName().toString()).sorted().toList());
    }
  }

  @Test
  void runDirectoryHoldsConfigLogsMetricsAndTensorBoardEvents(@TempDir Path tmp) throws IOException {
    Path dir = tmp.resolve("run");
    new Trainer(config(dir, 1, 2), new Synthetic(16, Integer.MAX_VALUE)).run();
    assertTrue(Files.readString(dir.resolve("config.yaml")).contains("batch_size: 4"));
    assertTrue(Files.readString(dir.resolve("train.log")).contains("epoch 1/1"));
    List<JsonNode> lines = metricLines(dir);
    assertTrue(lines.stream().anyMatch(n -> n.has("loss") && n.has("teacher_entropy") && n.has("kl") && n.has("lr")));
    assertTrue(lines.stream().anyMatch(n -> n.has("epoch_end")));
    try (Stream<Path> tb = Files.list(dir.resolve("tensorboard"))) {
      Path events = tb.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents")).findFirst().orElseThrow();
      String raw = new String(Files.readAllBytes(events), java.nio.charset.StandardCharsets.ISO_8859_1);
      for (String tag : List.of("train/loss", "train/lr", "train/teacher_entropy", "train/kl_teacher_student",
          "train/teacher_temp", "train/teacher_momentum", "train/weight_decay")) {
        assertTrue(raw.contains(tag), "event file holds " + tag);
      }
    }
    Path ckpt = new Checkpoints(dir).latest().orElseThrow();
    assertTrue(Files.readString(ckpt.resolve("config.yaml")).contains("output_dir"));
  }

  @Test
  void aDifferentModelInAnExistingRunDirectoryIsRefused(@TempDir Path tmp) {
    Path dir = tmp.resolve("run");
    new Trainer(config(dir, 1, 1), new Synthetic(8, Integer.MAX_VALUE)).run();
    DinoConfig c = config(dir, 1, 1);
    DinoConfig other = new DinoConfig(c.data(), c.augment(),
        new DinoConfig.Model("custom", 4, 24, 2, 2, 4.0, 0.1), c.head(), c.loss(), c.optim(), c.train(), c.eval());
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> new Trainer(other, new Synthetic(8, Integer.MAX_VALUE)).run());
    assertTrue(e.getMessage().contains("model"), e.getMessage());
  }

  private static List<JsonNode> metricLines(Path dir) throws IOException {
    ObjectMapper om = new ObjectMapper();
    List<JsonNode> out = new ArrayList<>();
    for (String line : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
      out.add(om.readTree(line));
    }
    return out;
  }

  private static List<String> losses(Path dir) throws IOException {
    List<String> out = new ArrayList<>();
    for (JsonNode n : metricLines(dir)) {
      if (n.has("loss")) {
        out.add(n.get("step").asText() + ":" + n.get("loss").asText());
      }
    }
    return out;
  }
}
