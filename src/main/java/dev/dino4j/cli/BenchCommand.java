package dev.dino4j.cli;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.train.Cluster;
import dev.dino4j.train.StepBenchmark;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code dino4j bench}: training-step throughput, analytic FLOPs, measured matmul peak, MFU, peak RSS. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = "Benchmark the training step on synthetic views (model step only, fp32).")
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

  @Override
  public Integer call() {
    DinoConfig cfg = ConfigLoader.load(config, overrides);
    if ((cluster == null) != (task == null)) {
      throw new IllegalArgumentException("--cluster and --task go together");
    }
    Cluster workers = cluster == null ? Cluster.single() : Cluster.fromYaml(cluster, task);
    int threads = cfg.train().threads();
    double peak = StepBenchmark.matmulGflops(threads, 1024, 5);
    StepBenchmark.Report r = StepBenchmark.run(config.getFileName().toString(), cfg, warmup, steps, peak, workers);
    if (!workers.chief()) {
      return 0; // the chief prints the report
    }
    System.out.printf(Locale.ROOT, "config            %s (batch %d, %d steps timed after %d warm-up)%n",
        r.name(), r.batchSize(), steps, warmup);
    System.out.printf(Locale.ROOT, "workers           %d%s%n", r.workers(),
        r.workers() > 1 ? " (batch " + r.batchSize() / r.workers() + " each; images/s below counts all workers)" : "");
    System.out.printf(Locale.ROOT, "images/s          %.1f%n", r.imagesPerSec());
    System.out.printf(Locale.ROOT, "step              %.1f ms%n", 1e3 * r.stepSeconds());
    if (r.workers() > 1) {
      System.out.printf(Locale.ROOT, "all-reduce        %.1f ms = %.1f%% of a step (bare all-reduce of the step's %d floats, %.1f MB)%n",
          1e3 * r.allReduceSeconds(), 100 * r.allReduceShare(), r.allReduceFloats(), r.allReduceFloats() * 4 / 1e6);
    }
    System.out.printf(Locale.ROOT, "GFLOP/image       %.2f (analytic, matmuls: student fwd+bwd + teacher fwd)%n", r.gflopPerImage());
    System.out.printf(Locale.ROOT, "achieved GFLOP/s  %.1f%n", r.achievedGflops());
    System.out.printf(Locale.ROOT, "matmul GFLOP/s    %.1f (fp32 1024^3 matmuls, same threads, this run)%n", r.matmulGflops());
    if (r.workers() == 1) {
      System.out.printf(Locale.ROOT, "MFU               %.1f%%%n", 100 * r.mfu());
    } else { // each worker measured its matmul peak while the others were busy too
      System.out.printf(Locale.ROOT, "MFU               n/a (workers measure the peak while sharing the machine)%n");
    }
    System.out.printf(Locale.ROOT, "peak RSS          %.0f MiB%n", r.peakRssBytes() / 1048576.0);
    System.out.printf(Locale.ROOT, "graph build       %.1f s%n", r.buildSeconds());
    System.out.printf(Locale.ROOT, "last loss         %.4f%n", r.lastLoss());
    return 0;
  }
}
