package dev.dino4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.config.MatmulProbe;
import dev.dino4j.train.Cluster;
import dev.dino4j.train.SessionOptions;
import dev.dino4j.train.StepBenchmark;
import dev.dino4j.train.StepProfile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dino4j bench}: training-step throughput, analytic FLOPs, measured matmul peaks, MFU, peak
 * RSS; with {@code --compare}, side by side with the PyTorch step of src/python/bench_torch.py.
 */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = {
      "Benchmark the training step on synthetic views (model step only) at the config's train.precision.",
      "With --compare: dino4j and PyTorch (src/python/bench_torch.py), fp32 and bf16, alternating, each run in its"
          + " own process, then images/s, GFLOP/s, MFU, peak RSS and the dino4j / PyTorch ratios."
    })
final class BenchCommand implements Callable<Integer> {

  @Option(names = {"-c", "--config"}, description = "Recipe to benchmark (default: configs/bench-a.yaml, config A).",
      defaultValue = "configs/bench-a.yaml")
  Path config;

  @Option(names = "--set", description = "Override a config key (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--steps", defaultValue = "20", description = "Timed steps (default ${DEFAULT-VALUE}).")
  int steps;

  @Option(names = "--warmup", defaultValue = "3", description = "Untimed warm-up steps (default ${DEFAULT-VALUE}).")
  int warmup;

  @Option(names = "--cluster", description = "Cluster file: benchmark data-parallel steps, one process per worker "
      + "(train.batch_size is the global batch); also times a bare all-reduce of the step's payload.")
  Path cluster;

  @Option(names = "--task", description = "This process's worker index in --cluster.")
  Integer task;

  @Option(names = "--profile", defaultValue = "0", description = "After the timed steps, trace this many more"
      + " (TF's full trace) and print where the kernel time goes, by kernel type and by part of the graph.")
  int profile;

  @Option(names = "--json", description = "Print one JSON line instead of the table (what --compare reads).")
  boolean json;

  @Option(names = "--compare", description = "Run dino4j and PyTorch side by side, fp32 and bf16, alternating.")
  boolean compare;

  @Option(names = "--rounds", defaultValue = "1",
      description = "With --compare: rounds of the four runs; ratios average over rounds (default ${DEFAULT-VALUE}).")
  int rounds;

  @Option(names = "--python", defaultValue = ".venv/bin/python",
      description = "With --compare: the Python with torch (scripts/python-venv.sh prints it; default ${DEFAULT-VALUE}).")
  String python;

  @Option(names = "--torch-script", defaultValue = "src/python/bench_torch.py",
      description = "With --compare: the PyTorch step (default ${DEFAULT-VALUE}).")
  Path torchScript;

  @Option(names = "--torch-last-block", defaultValue = "full",
      description = "With --compare: full (default): PyTorch runs the reference's step, every token through every"
          + " block; cls: its last block on the CLS row only, as dino4j's graph (a like-for-like check).")
  String torchLastBlock;

  @Option(names = "--precisions", split = ",", defaultValue = "fp32,bf16",
      description = "With --compare: precisions to run (default ${DEFAULT-VALUE}; bf16 only where the CPU has it).")
  List<String> precisions;

  @Override
  public Integer call() throws Exception {
    DinoConfig cfg = ConfigLoader.load(config, overrides);
    if ((cluster == null) != (task == null)) {
      throw new IllegalArgumentException("--cluster and --task go together");
    }
    if (compare) {
      if (cluster != null) {
        throw new IllegalArgumentException("--compare runs on one machine; leave out --cluster");
      }
      if (!List.of("full", "cls").contains(torchLastBlock)) {
        throw new IllegalArgumentException("--torch-last-block must be full or cls, got " + torchLastBlock);
      }
      new BenchComparison(config, overrides, cfg, steps, warmup, rounds, python, torchScript, precisions, torchLastBlock)
          .run();
      return 0;
    }
    Cluster workers = cluster == null ? Cluster.single() : Cluster.fromYaml(cluster, task);
    int threads = cfg.train().threads();
    boolean bf16 = SessionOptions.bf16Supported();
    // in a child JVM: a probe session here would size this process's TF pools before the step's session
    double[] peaks = MatmulProbe.peaksInChild(threads, bf16, 1024, 5);
    double fp32Peak = peaks[0];
    double bf16Peak = peaks[1];
    double peak = "bf16".equals(cfg.train().precision()) ? bf16Peak : fp32Peak;
    StepProfile traced = new StepProfile();
    StepBenchmark.Report r =
        StepBenchmark.run(config.getFileName().toString(), cfg, warmup, steps, peak, workers, profile, traced);
    if (!workers.chief()) {
      return 0; // the chief prints the report
    }
    if (json) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("framework", "dino4j");
      m.put("precision", r.precision());
      m.put("threads", threads);
      m.put("towers", SessionOptions.towers(cfg.train(), r.batchSize() / r.workers()));
      m.put("kernels", kernels(cfg, r.batchSize() / r.workers()));
      m.put("batch", r.batchSize());
      m.put("steps", steps);
      m.put("warmup", warmup);
      m.put("images_per_s", r.imagesPerSec());
      m.put("step_ms", 1000.0 * r.batchSize() / r.imagesPerSec());
      m.put("step_ms_min", r.stepMsMin());
      m.put("cpu_ms_per_step", r.cpuMsPerStep());
      m.put("gflop_per_image", r.gflopPerImage());
      m.put("matmul_gflops_fp32", fp32Peak);
      m.put("matmul_gflops_bf16", bf16 ? bf16Peak : null);
      m.put("peak_rss_bytes", r.peakRssBytes());
      m.put("build_s", r.buildSeconds());
      m.put("last_loss", r.lastLoss());
      System.out.println(new ObjectMapper().writeValueAsString(m));
      return 0;
    }
    System.out.printf(Locale.ROOT, "config            %s (batch %d, %s, %d tower(s), %s ops, %d steps timed after %d warm-up)%n",
        r.name(), r.batchSize(), r.precision(), SessionOptions.towers(cfg.train(), r.batchSize() / r.workers()),
        kernels(cfg, r.batchSize() / r.workers()), steps, warmup);
    System.out.printf(Locale.ROOT, "workers           %d%s%n", r.workers(),
        r.workers() > 1 ? " (batch " + r.batchSize() / r.workers() + " each; images/s below counts all workers)" : "");
    System.out.printf(Locale.ROOT, "images/s          %.1f%n", r.imagesPerSec());
    System.out.printf(Locale.ROOT, "step              %.1f ms%n", 1e3 * r.stepSeconds());
    if (r.workers() > 1) {
      System.out.printf(Locale.ROOT, "all-reduce        %.1f ms = %.1f%% of a step (bare all-reduce of the step's %d floats, %.1f MB)%n",
          1e3 * r.allReduceSeconds(), 100 * r.allReduceShare(), r.allReduceFloats(), r.allReduceFloats() * 4 / 1e6);
    }
    System.out.printf(Locale.ROOT, "GFLOP/image       %.2f (analytic matmuls this graph runs: student fwd+bwd + teacher fwd, last block on the CLS row)%n", r.gflopPerImage());
    System.out.printf(Locale.ROOT, "achieved GFLOP/s  %.1f%n", r.achievedGflops());
    System.out.printf(Locale.ROOT, "matmul GFLOP/s    fp32 %.1f, bf16 %s (1024^3 matmuls, same threads, this run)%n",
        fp32Peak, bf16 ? String.format(Locale.ROOT, "%.1f", bf16Peak) : "n/a (no bf16 on this CPU)");
    if (r.workers() == 1) {
      System.out.printf(Locale.ROOT, "MFU               %.1f%% (against the %s peak)%n", 100 * r.mfu(), r.precision());
    } else { // each worker measured its matmul peak while the others were busy too
      System.out.printf(Locale.ROOT, "MFU               n/a (workers measure the peak while sharing the machine)%n");
    }
    System.out.printf(Locale.ROOT, "peak RSS          %.0f MiB%n", r.peakRssBytes() / 1048576.0);
    System.out.printf(Locale.ROOT, "graph build       %.1f s%n", r.buildSeconds());
    System.out.printf(Locale.ROOT, "last loss         %.4f%n", r.lastLoss());
    if (profile > 0) {
      System.out.printf(Locale.ROOT, "%n%s", traced.format(25));
    }
    return 0;
  }

  /** "fused" or "stock": the kernels a graph fed localBatch samples uses (train.kernels). */
  static String kernels(DinoConfig cfg, int localBatch) {
    return SessionOptions.fusedKernels(cfg.train(), SessionOptions.towers(cfg.train(), localBatch)) ? "fused" : "stock";
  }
}
