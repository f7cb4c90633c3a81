package dev.dino4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.data.MultiCropBatch;
import dev.dino4j.eval.Npy;
import dev.dino4j.export.SafetensorsWeights;
import dev.dino4j.export.SafetensorsWriter;
import dev.dino4j.export.WeightNames;
import dev.dino4j.model.ParamSpec;
import dev.dino4j.model.Weights;
import dev.dino4j.train.CheckpointWeights;
import dev.dino4j.train.Checkpoints;
import dev.dino4j.train.DinoGraph;
import dev.dino4j.train.IbotMasks;
import dev.dino4j.train.Trainer;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code dino4j parity-dump} (hidden, a developer tool): trains a short run with the real {@link
 * Trainer} and writes what a PyTorch replay of the same steps needs (src/python/parity_torch.py,
 * docs/parity.md). A CLI subcommand rather than a test-scope class so that {@code make parity}
 * runs it from the built jar, without compiling the tests.
 *
 * <pre>
 *   OUT/.parity-dump                 marker: make parity replaces only folders that hold one
 *   OUT/parity.json                  the resolved config (JSON) and the number of steps (written last)
 *   OUT/init.safetensors             step 0 of the student = teacher, head included (official names, PyTorch layouts)
 *   OUT/views/step-NNNN-globals.npy  [2B, G, G, 3] NHWC float32, view-major, as fed to the step
 *   OUT/views/step-NNNN-locals.npy   [nB, L, L, 3]
 *   OUT/views/step-NNNN-masks.npy    [2B, N] float32, 1 = masked patch (with loss.ibot_weight > 0)
 *   OUT/dino4j-steps.jsonl           per step: loss and the scalars fed (lr, wd, momentum, teacher temp, freeze)
 *   OUT/final-student.safetensors    after the last step (official names, PyTorch layouts)
 *   OUT/final-teacher.safetensors
 *   OUT/final-center.safetensors     center [1, K]; with iBOT also ibot_center [1, K], student.mask_token,
 *                                    teacher.mask_token [1, D]
 *   OUT/run/                         the run directory (checkpoints, train.log)
 * </pre>
 */
@Command(
    name = "parity-dump",
    hidden = true,
    mixinStandardHelpOptions = true,
    description = {
      "Developer tool for the training-parity harness (make parity, docs/parity.md): train a short run and write its "
          + "initial weights, every step's views and loss, and the final student, teacher and center."
    })
final class ParityDumpCommand implements Callable<Integer> {

  private static final ObjectMapper JSON = new ObjectMapper();

  @Spec CommandSpec spec;

  @Option(names = {"-c", "--config"}, defaultValue = "configs/parity.yaml", description = "Run config (default: ${DEFAULT-VALUE}).")
  Path config;

  @Option(names = {"-o", "--out"}, required = true, description = "Output folder; must not exist or be empty.")
  Path out;

  @Option(names = "--set", description = "Override a config key, e.g. --set train.kernels=stock (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    if (Files.isDirectory(out)) {
      try (var entries = Files.list(out)) {
        if (entries.findAny().isPresent()) {
          throw new IllegalArgumentException(out + " is not empty: the dump must come from one fresh run");
        }
      }
    }
    Path runDir = out.resolve("run");
    List<String> all = new ArrayList<>(overrides);
    all.add("train.output_dir=" + runDir);
    DinoConfig cfg = ConfigLoader.load(config, all);
    if (cfg.train().stepsPerEpoch() <= 0) {
      throw new IllegalArgumentException("train.steps_per_epoch must be set (> 0): the replay needs a fixed step count");
    }
    if (cfg.model().dropPathRate() != 0) {
      throw new IllegalArgumentException("model.drop_path_rate = " + cfg.model().dropPathRate()
          + ": parity needs 0 (the frameworks draw different stochastic-depth masks)");
    }
    Files.createDirectories(out.resolve("views"));
    // marks the folder as a parity dump, so that make parity may replace it and nothing else
    Files.writeString(out.resolve(".parity-dump"), "written by dino4j parity-dump\n");

    // ---- step 0: the weights a fresh run draws from train.seed, as a run's first checkpoint ----
    List<ParamSpec> specs = CheckpointWeights.specs(cfg);
    List<float[]> drawn = DinoGraph.initialValues(specs, cfg.train().seed());
    Weights init = new Weights();
    for (int i = 0; i < specs.size(); i++) {
      init.put(specs.get(i).name(), specs.get(i).shape(), drawn.get(i));
    }
    Path step0 = CheckpointWeights.writeRun(cfg, init, false);
    // written from the checkpoint, not from the arrays: what the Trainer resumes from is what PyTorch loads
    saveNetwork(network(step0, cfg, "student"), out.resolve("init.safetensors"), cfg, "student, step 0");

    // ---- the run, every step recorded ----
    ImageDataset dataset = ImageDataset.open(cfg.data(), runDir);
    int[] steps = {0};
    Trainer.Outcome outcome;
    try (BufferedWriter log = Files.newBufferedWriter(out.resolve("dino4j-steps.jsonl"), StandardCharsets.UTF_8)) {
      outcome = new Trainer(cfg, dataset).onStep((gs, epoch, b, in, res) -> {
        String name = String.format(Locale.ROOT, "step-%04d", gs);
        Npy.write(out.resolve("views").resolve(name + "-globals.npy"), b.globals(), 2L * b.batchSize(), b.globalSize(),
            b.globalSize(), 3); // [2B, G, G, 3]
        Npy.write(out.resolve("views").resolve(name + "-locals.npy"), b.locals(), (long) b.localCrops() * b.batchSize(),
            b.localSize(), b.localSize(), 3); // [nB, L, L, 3]
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", gs);
        m.put("epoch", epoch);
        m.put("loss", res.loss());
        if (cfg.loss().koleoWeight() > 0) {
          m.put("koleo", res.koleo()); // the KoLeo term before its weight
        }
        if (cfg.loss().ibot()) {
          m.put("ibot", res.ibot()); // the iBOT patch loss before its weight
          // the masks the step was fed: the same pure function of (seed, step) the graph calls
          int grid = cfg.augment().globalSize() / cfg.model().patchSize();
          float[] masks = IbotMasks.workerRows(IbotMasks.forStep(cfg.loss(), in.seed(), in.step(),
              2 * b.batchSize(), grid), 0, 1);
          Npy.write(out.resolve("views").resolve(name + "-masks.npy"), masks, 2L * b.batchSize(), (long) grid * grid);
        }
        m.put("lr", in.lr());
        m.put("weight_decay", in.weightDecay());
        m.put("momentum", in.momentum());
        m.put("teacher_temp", in.teacherTemp());
        m.put("freeze_last_layer", in.freezeLastLayer());
        log.write(JSON.writeValueAsString(m));
        log.newLine();
        steps[0]++;
      }).run();
    }
    if (outcome.interrupted()) {
      throw new IllegalStateException("the run was interrupted at step " + outcome.globalStep() + "; nothing to compare");
    }

    // ---- the end state ----
    Path last = new Checkpoints(runDir).latest().orElseThrow();
    saveNetwork(network(last, cfg, "student"), out.resolve("final-student.safetensors"), cfg, "student, final");
    saveNetwork(network(last, cfg, "teacher"), out.resolve("final-teacher.safetensors"), cfg, "teacher, final");
    int k = cfg.head().outDim();
    Weights center = new Weights();
    center.put("center", new long[] {1, k}, readVariable(last, "dino", "center", 1, k));
    if (cfg.loss().ibot()) {
      int dim = cfg.model().embedDim();
      int ibotK = cfg.loss().ibotPrototypes(cfg.head());
      center.put("ibot_center", new long[] {1, ibotK}, readVariable(last, "dino", "ibot_center", 1, ibotK));
      for (String net : List.of("student", "teacher")) {
        center.put(net + ".mask_token", new long[] {1, dim}, readVariable(last, net, "mask_token", 1, dim));
      }
    }
    SafetensorsWriter.write(out.resolve("final-center.safetensors"), center.all(), Map.of());

    Map<String, Object> meta = new LinkedHashMap<>();
    meta.put("steps", steps[0]);
    meta.put("steps_per_epoch", cfg.train().stepsPerEpoch());
    meta.put("final_checkpoint", last.toString());
    meta.put("config", JSON.readTree(ConfigLoader.toJson(cfg)));
    Files.writeString(out.resolve("parity.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(meta));

    PrintWriter pw = spec.commandLine().getOut();
    pw.printf(Locale.ROOT, "parity-dump: %d steps (kernels %s), last loss %.6f; initial and final weights, views and losses in %s%n",
        steps[0], cfg.train().kernels(), outcome.lastLoss(), out);
    pw.flush();
    return 0;
  }

  /** Backbone and head of {@code scope}, and iBOT's separate head when the config has one (ibot_head.*). */
  private static Weights network(Path checkpoint, DinoConfig cfg, String scope) {
    Weights w = CheckpointWeights.read(checkpoint, cfg, scope);
    List<ParamSpec> ibotHead = dev.dino4j.model.DinoHead.ibotHeadParams(cfg);
    if (!ibotHead.isEmpty()) {
      CheckpointWeights.read(checkpoint, ibotHead, scope).all().forEach((n, t) -> w.put(n, t.shape(), t.values()));
    }
    return w;
  }

  private static void saveNetwork(Weights w, Path file, DinoConfig cfg, String what) throws IOException {
    SafetensorsWeights.save(file, w, WeightNames.Naming.OFFICIAL, Map.of("dino4j.parity", what));
  }

  /** scope/name [rows, cols] from a checkpoint: a graph with that one variable restores only it. */
  private static float[] readVariable(Path checkpoint, String scope, String name, int rows, int cols) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Variable<TFloat32> c = tf.withSubScope(scope).withName(name).variable(Shape.of(rows, cols), TFloat32.class);
      var read = tf.identity(c);
      try (Session s = new Session(g)) {
        s.restore(checkpoint.resolve("vars").toString());
        try (Result r = s.runner().fetch(read).run()) {
          float[] v = new float[rows * cols];
          ((TFloat32) r.get(0)).copyTo(DataBuffers.of(v, false, false));
          return v;
        }
      }
    }
  }
}
