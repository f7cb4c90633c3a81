package dev.dino4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.Flops;
import dev.dino4j.train.SessionOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * {@code dino4j bench --compare}: dino4j's step and the PyTorch step of src/python/bench_torch.py
 * on the same config, side by side.
 *
 * <p>Every run is a separate process, so peak RSS is each framework's own (VmHWM of the JVM,
 * ru_maxrss of Python) and no run inherits another's warm caches or allocator. The runs alternate
 * (dino4j fp32, PyTorch fp32, dino4j bf16, PyTorch bf16, per round), so a background load that
 * comes and goes hits both frameworks alike and the ratios stay meaningful on a busy machine. The
 * matmul peaks (fp32 and bf16, both frameworks) are measured in the same invocation; MFU is taken
 * against the best peak seen at the run's precision.
 */
final class BenchComparison {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The targets: dino4j / PyTorch images/s per precision. */
  private static final Map<String, Double> TARGETS = Map.of("fp32", 1.15, "bf16", 1.0);

  private final Path configPath;
  private final List<String> overrides;
  private final DinoConfig cfg;
  private final int steps;
  private final int warmup;
  private final int rounds;
  private final String python;
  private final Path torchScript;
  private final List<String> precisions;
  private final String torchLastBlock;

  BenchComparison(
      Path configPath, List<String> overrides, DinoConfig cfg, int steps, int warmup, int rounds, String python,
      Path torchScript, List<String> precisions, String torchLastBlock) {
    this.configPath = configPath;
    this.overrides = overrides;
    this.cfg = cfg;
    this.steps = steps;
    this.warmup = warmup;
    this.rounds = rounds;
    this.python = python;
    this.torchScript = torchScript;
    List<String> usable = new ArrayList<>();
    for (String p : precisions) {
      if (!"bf16".equals(p) || SessionOptions.bf16Supported()) {
        usable.add(p);
      } else {
        System.err.println("bench: skipping bf16: this CPU has none of " + SessionOptions.BF16_CPU_FLAGS);
      }
    }
    this.precisions = usable;
    this.torchLastBlock = torchLastBlock;
  }

  void run() throws IOException, InterruptedException {
    if (!Files.isRegularFile(torchScript)) {
      throw new IllegalArgumentException("--torch-script " + torchScript + " does not exist (run from the repository root)");
    }
    Map<String, List<JsonNode>> runs = new LinkedHashMap<>(); // "framework precision" -> one row per round
    List<JsonNode> peaks = new ArrayList<>();
    for (int round = 1; round <= rounds; round++) {
      for (String precision : precisions) {
        for (String framework : List.of("dino4j", "pytorch")) {
          System.err.printf(Locale.ROOT, "bench: round %d/%d, %s %s ...%n", round, rounds, framework, precision);
          JsonNode r = launch(framework.equals("dino4j") ? dino4jCommand(precision) : torchCommand(precision));
          System.err.printf(Locale.ROOT, "bench:   %.2f images/s, peak RSS %.0f MiB%n",
              r.get("images_per_s").asDouble(), r.get("peak_rss_bytes").asDouble() / 1048576);
          runs.computeIfAbsent(framework + " " + precision, k -> new ArrayList<>()).add(r);
          if (framework.equals("dino4j")) {
            peaks.add(r);
          }
        }
      }
      List<String> matmul = new ArrayList<>(List.of(python, torchScript.toString(), "--matmul"));
      matmul.addAll(List.of("--threads", Integer.toString(cfg.train().threads())));
      peaks.add(launch(matmul));
    }
    print(runs, peaks);
  }

  private void print(Map<String, List<JsonNode>> runs, List<JsonNode> peaks) {
    // GFLOP/s and MFU count the matmuls each framework runs: PyTorch's step is the reference's,
    // dino4j's graph skips the last block's non-CLS rows (images/s compare the same training step)
    double gflopPerImage = Flops.trainStepPerImage(cfg, torchLastBlock.equals("cls")) / 1e9;
    double dino4jGflopPerImage = Flops.trainStepPerImage(cfg, true) / 1e9;
    DinoConfig.Augment a = cfg.augment();
    System.out.printf(Locale.ROOT, "%nconfig %s: batch %d, 2 global %d-px + %d local %d-px views, %.2f GFLOP/image"
            + " (analytic matmuls; dino4j runs %.2f: its last block on the CLS row only; PyTorch's last block: %s),"
            + " %d timed steps after %d warm-up, %d round(s), runs alternating; dino4j in %d tower(s), %s kernels"
            + " (train.kernels)%n",
        configPath, cfg.train().batchSize(), a.globalSize(), a.localCrops(), a.localSize(), gflopPerImage,
        dino4jGflopPerImage, torchLastBlock.equals("cls") ? "CLS row only" : "every token", steps,
        warmup, rounds, SessionOptions.towers(cfg.train(), cfg.train().batchSize()),
        BenchCommand.kernels(cfg, cfg.train().batchSize()));
    Map<String, Double> peak = new LinkedHashMap<>();
    for (String precision : precisions) {
      double tf = best(peaks, "dino4j", "matmul_gflops_" + precision);
      double torch = best(peaks, "pytorch", "matmul_gflops_" + precision);
      peak.put(precision, Math.max(tf, torch));
      System.out.printf(Locale.ROOT, "matmul peak %s: %.0f GFLOP/s (best of TensorFlow %.0f, PyTorch %.0f; 1024^3"
          + " chains, this invocation)%n", precision, Math.max(tf, torch), tf, torch);
    }
    System.out.printf(Locale.ROOT, "%n%-9s %-9s %8s %9s %6s %9s  %s%n",
        "precision", "framework", "images/s", "GFLOP/s", "MFU", "peak RSS", "images/s per round");
    for (String precision : precisions) {
      for (String framework : List.of("dino4j", "pytorch")) {
        List<JsonNode> rows = runs.get(framework + " " + precision);
        double ips = mean(rows, "images_per_s");
        double gflops = ips * (framework.equals("dino4j") ? dino4jGflopPerImage : gflopPerImage);
        List<String> perRound = new ArrayList<>();
        for (JsonNode r : rows) {
          perRound.add(String.format(Locale.ROOT, "%.2f", r.get("images_per_s").asDouble()));
        }
        System.out.printf(Locale.ROOT, "%-9s %-9s %8.2f %9.1f %5.1f%% %5.2f GiB  %s%n", precision, framework, ips,
            gflops, 100 * gflops / peak.get(precision), max(rows, "peak_rss_bytes") / (1L << 30),
            String.join(" ", perRound));
      }
    }
    System.out.println();
    for (String precision : precisions) {
      List<JsonNode> d = runs.get("dino4j " + precision);
      List<JsonNode> t = runs.get("pytorch " + precision);
      List<String> perRound = new ArrayList<>();
      for (int i = 0; i < d.size(); i++) {
        perRound.add(String.format(Locale.ROOT, "%.2f",
            d.get(i).get("images_per_s").asDouble() / t.get(i).get("images_per_s").asDouble()));
      }
      double ratio = mean(d, "images_per_s") / mean(t, "images_per_s");
      double target = TARGETS.get(precision);
      System.out.printf(Locale.ROOT, "dino4j / PyTorch %s: %.2f (target >= %.2f: %s; per round %s)%n", precision,
          ratio, target, ratio >= target ? "met" : "NOT met", String.join(" ", perRound));
    }
    if (runs.containsKey("dino4j bf16") && runs.containsKey("dino4j fp32")) {
      System.out.printf(Locale.ROOT, "bf16 / fp32: dino4j %.2f, PyTorch %.2f%n",
          mean(runs.get("dino4j bf16"), "images_per_s") / mean(runs.get("dino4j fp32"), "images_per_s"),
          mean(runs.get("pytorch bf16"), "images_per_s") / mean(runs.get("pytorch fp32"), "images_per_s"));
    }
  }

  /** This JVM again (same java, JVM options and classpath), as {@code dino4j bench --json}. */
  private List<String> dino4jCommand(String precision) {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "bench", "--json"));
    cmd.addAll(List.of("--config", configPath.toString(), "--steps", Integer.toString(steps), "--warmup",
        Integer.toString(warmup)));
    for (String o : overrides) {
      cmd.addAll(List.of("--set", o));
    }
    cmd.addAll(List.of("--set", "train.precision=" + precision));
    return cmd;
  }

  /** bench_torch.py with the sizes of this config, so one YAML file drives both frameworks. */
  private List<String> torchCommand(String precision) {
    DinoConfig.Model m = cfg.model();
    DinoConfig.Head h = cfg.head();
    DinoConfig.Augment a = cfg.augment();
    List<String> cmd = new ArrayList<>(List.of(python, torchScript.toString(), "--precision", precision));
    Map<String, Object> args = new LinkedHashMap<>();
    args.put("batch", cfg.train().batchSize());
    args.put("global-size", a.globalSize());
    args.put("local-size", a.localSize());
    args.put("local-crops", a.localCrops());
    args.put("patch", m.patchSize());
    args.put("dim", m.embedDim());
    args.put("depth", m.depth());
    args.put("heads", m.heads());
    args.put("mlp-ratio", m.mlpRatio());
    args.put("drop-path", m.dropPathRate());
    args.put("head-hidden", h.hiddenDim());
    args.put("bottleneck", h.bottleneckDim());
    args.put("head-layers", h.layers());
    args.put("out-dim", h.outDim());
    args.put("norm-last-layer", h.normLastLayer() ? 1 : 0);
    args.put("student-temp", cfg.loss().studentTemp());
    args.put("center-momentum", cfg.loss().centerMomentum());
    args.put("clip", cfg.optim().clipGrad());
    args.put("threads", cfg.train().threads());
    args.put("steps", steps);
    args.put("warmup", warmup);
    args.put("last-block", torchLastBlock);
    args.forEach((k, v) -> cmd.addAll(List.of("--" + k, v.toString())));
    return cmd;
  }

  /**
   * Runs one benchmark process; its stderr passes through but for TF's absl INFO lines (one or
   * two per graph function from the bf16 rewrite, ~180 a run, that TF_CPP_MIN_LOG_LEVEL does not
   * govern); the last stdout line is its JSON result.
   */
  private static JsonNode launch(List<String> cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).start();
    Thread errors = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = r.readLine()) != null; ) {
          if (!ABSL_INFO.matcher(line).find()) {
            System.err.println(line);
          }
        }
      } catch (IOException e) {
        // the process is gone; its exit code says what happened
      }
    });
    errors.setDaemon(true);
    errors.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    int code = p.waitFor();
    errors.join(5000);
    String last = out.substring(out.lastIndexOf('\n') + 1);
    if (code != 0 || !last.startsWith("{")) {
      throw new IllegalStateException("benchmark run failed (exit " + code + "): " + String.join(" ", cmd)
          + (out.isEmpty() ? "" : "\n" + out));
    }
    return JSON.readTree(last);
  }

  static final Pattern ABSL_INFO = Pattern.compile("^I\\d{4} [\\d:. ]+\\d+ \\w+\\.cc:\\d+\\]");

  private static double best(List<JsonNode> rows, String framework, String key) {
    double best = 0;
    for (JsonNode r : rows) {
      if (framework.equals(r.get("framework").asText()) && r.hasNonNull(key)) {
        best = Math.max(best, r.get(key).asDouble());
      }
    }
    return best;
  }

  private static double mean(List<JsonNode> rows, String key) {
    double sum = 0;
    for (JsonNode r : rows) {
      sum += r.get(key).asDouble();
    }
    return sum / rows.size();
  }

  private static double max(List<JsonNode> rows, String key) {
    double m = 0;
    for (JsonNode r : rows) {
      m = Math.max(m, r.get(key).asDouble());
    }
    return m;
  }
}
