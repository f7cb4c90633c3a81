package dev.dino4j.cli;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.eval.Backbones;
import dev.dino4j.eval.EvalData;
import dev.dino4j.eval.Knn;
import dev.dino4j.eval.KnnEvaluation;
import dev.dino4j.train.Checkpoints;
import dev.dino4j.train.RunReport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code dino4j eval-benchmark}: the accuracy benchmark's table. k-NN (default 20-NN, T = 0.07)
 * on the test split for the trained teacher, beside raw pixels (the bar learned features must
 * clear), normalised pixels, and the same network at its random initialisation.
 */
@Command(
    name = "eval-benchmark",
    mixinStandardHelpOptions = true,
    description = {
      "Accuracy benchmark: k-NN top-1 of a run's teacher on the test split, beside raw pixels and the same",
      "network at random initialisation, with the time each took."
    })
final class EvalBenchmarkCommand implements Callable<Integer> {

  @Parameters(index = "0", arity = "0..1", paramLabel = "RUN_OR_CKPT",
      description = "Run directory or checkpoint folder. Default: runs/fmnist-tiny.")
  Path run = Path.of("runs/fmnist-tiny");

  @Option(names = "--k", defaultValue = "20", description = "Neighbours. Default: ${DEFAULT-VALUE} (the reported k).")
  int k;

  @Option(names = "--temperature", defaultValue = "0.07", description = "Default: ${DEFAULT-VALUE}.")
  double temperature;

  @Option(names = "--data", description = "Dataset location for both splits; same as --set data.path=PATH.")
  String data;

  @Option(names = "--limit-train", defaultValue = "0", description = "First N training images only (0 = all).")
  int limitTrain;

  @Option(names = "--limit-test", defaultValue = "0", description = "First N test images only (0 = all).")
  int limitTest;

  @Option(names = "--features-dir", description = "Cache features as .npy here (pixels and random init are reused).")
  Path featuresDir;

  @Option(names = "--linear", paramLabel = "DIR", description = "Also the linear probe (DINO protocol, centre"
      + " views cached: `linear --no-augment`) of the teacher, raw pixels and random init; checkpoints in DIR/teacher,"
      + " DIR/pixels, DIR/random (a second run resumes or reuses them).")
  Path linearDir;

  @Option(names = "--linear-epochs", defaultValue = "100", description = "Epochs of each linear probe. Default:"
      + " ${DEFAULT-VALUE} (the reference).")
  int linearEpochs;

  @Override
  public Integer call() throws Exception {
    if (linearDir != null && linearEpochs < 1) {
      throw new IllegalArgumentException("--linear-epochs must be >= 1, got " + linearEpochs);
    }
    if (k < 1 || !(temperature > 0) || limitTrain < 0 || limitTest < 0) {
      throw new IllegalArgumentException("--k must be >= 1, --temperature > 0 and limits >= 0; got k = " + k
          + ", T = " + temperature);
    }
    long start = System.nanoTime();
    List<String> overrides = new ArrayList<>();
    if (data != null && !data.isBlank()) {
      overrides.add("data.path=" + data);
    }
    Backbones.Loaded teacher = Backbones.fromCheckpoint(run, "teacher", overrides);
    DinoConfig cfg = teacher.config();
    ImageDataset train = EvalData.open(cfg, "train", null);
    ImageDataset test = EvalData.open(cfg, "test", null);
    record Row(String name, KnnEvaluation.Outcome o) {}
    List<Row> rows = new ArrayList<>();
    int[] ks = {k};
    rows.add(new Row("DINO teacher (" + run + ")", KnnEvaluation.run(KnnEvaluation.Kind.NETWORK, teacher, cfg, train,
        test, limitTrain, limitTest, ks, temperature, 256, featuresDir, "teacher", true)));
    rows.add(new Row("raw pixels [0, 1]", KnnEvaluation.run(KnnEvaluation.Kind.PIXELS, null, cfg, train, test,
        limitTrain, limitTest, ks, temperature, 256, featuresDir, "pixels", true)));
    rows.add(new Row("pixels, normalised (mean/std)", KnnEvaluation.run(KnnEvaluation.Kind.PIXELS_NORMALISED, null,
        cfg, train, test, limitTrain, limitTest, ks, temperature, 256, featuresDir, "pixels-normalised", true)));
    rows.add(new Row("same ViT, random init", KnnEvaluation.run(KnnEvaluation.Kind.NETWORK,
        Backbones.randomInit(cfg), cfg, train, test, limitTrain, limitTest, ks, temperature, 256, featuresDir,
        "random", true)));
    KnnEvaluation.Outcome first = rows.get(0).o();
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "%d-NN (T = %s) on %d test images, memory bank %d training images (%s)%n", k,
        temperature, first.testCount(), first.trainCount(), teacher.description()));
    sb.append(String.format(Locale.ROOT, "| %-40s | %5s | %7s | %7s | %8s |%n", "features", "dim", "top-1", "top-5",
        "time"));
    sb.append("|").append("-".repeat(42)).append("|").append("-".repeat(7)).append("|").append("-".repeat(9))
        .append("|").append("-".repeat(9)).append("|").append("-".repeat(10)).append("|\n");
    for (Row r : rows) {
      Knn.Result res = r.o().results().get(0);
      double secs = r.o().timing().trainFeatures() + r.o().timing().testFeatures() + r.o().timing().knn();
      sb.append(String.format(Locale.ROOT, "| %-40s | %5d | %6.2f%% | %6.2f%% | %7.1fs |%n", r.name(), r.o().dim(),
          res.top1(), res.top5(), secs));
    }
    if (linearDir != null) {
      sb.append(linearTable());
    }
    trainingTime(run).ifPresent(sb::append);
    sb.append(String.format(Locale.ROOT, "evaluation total %.1f s%n", (System.nanoTime() - start) / 1e9));
    System.out.print(sb);
    return 0;
  }

  /**
   * The linear probes, each exactly what {@code dino4j linear --no-augment} with the same
   * --epochs, --limit-* and --data trains (its options parsed by the same picocli definitions, so
   * the defaults are the linear command's), in one table.
   */
  private String linearTable() throws Exception {
    record Row(String name, LinearCommand.Outcome o, double seconds) {}
    List<Row> rows = new ArrayList<>();
    for (String[] kind : new String[][] {{"cls", "teacher", "DINO teacher (" + run + ")"},
        {"pixels", "pixels", "raw pixels [0, 1]"}, {"random", "random", "same ViT, random init"}}) {
      List<String> args = new ArrayList<>(List.of(run.toString(), "--features", kind[0], "--no-augment", "-o",
          linearDir.resolve(kind[1]).toString(), "--epochs", Integer.toString(linearEpochs), "--limit-train",
          Integer.toString(limitTrain), "--limit-test", Integer.toString(limitTest)));
      if (data != null && !data.isBlank()) {
        args.addAll(List.of("--data", data));
      }
      LinearCommand probe = new LinearCommand();
      new picocli.CommandLine(probe).parseArgs(args.toArray(String[]::new));
      long t0 = System.nanoTime();
      rows.add(new Row(kind[2], probe.probe(), (System.nanoTime() - t0) / 1e9));
    }
    StringBuilder sb = new StringBuilder();
    LinearCommand.Outcome first = rows.get(0).o();
    sb.append(String.format(Locale.ROOT, "linear probe (networks: CLS of the last %s; centre views cached, %d epochs,"
        + " best test top-1 over the epochs; checkpoints in %s)%n", first.layout(), first.result().epochs(), linearDir));
    sb.append(String.format(Locale.ROOT, "| %-40s | %5s | %7s | %7s | %8s |%n", "features", "dim", "top-1", "top-5",
        "time"));
    sb.append("|").append("-".repeat(42)).append("|").append("-".repeat(7)).append("|").append("-".repeat(9))
        .append("|").append("-".repeat(9)).append("|").append("-".repeat(10)).append("|\n");
    for (Row r : rows) {
      sb.append(String.format(Locale.ROOT, "| %-40s | %5d | %6.2f%% | %6.2f%% | %7.1fs |%n", r.name(), r.o().dim(),
          r.o().result().bestTop1(), r.o().result().bestTop5(), r.seconds()));
    }
    return sb.toString();
  }

  /**
   * "training: E epochs, S steps, H h M min" from the run's metrics.jsonl (the sum of its
   * epoch_end seconds, each epoch once: step time incl. data waits, without the in-training k-NN checks), so the
   * table says what training budget bought the accuracy. Empty when there is no such file.
   */
  static Optional<String> trainingTime(Path runOrCheckpoint) throws IOException {
    Path metrics = Checkpoints.runDirOf(runOrCheckpoint).resolve("metrics.jsonl");
    if (!Files.isRegularFile(metrics)) {
      return Optional.empty();
    }
    RunReport.Training t = RunReport.training(metrics.getParent());
    long seconds = (long) t.seconds();
    return Optional.of(String.format(Locale.ROOT, "training: %d epoch(s), last logged step %d, %d h %02d min (%s)%n",
        t.epochs(), t.lastLoggedStep(), seconds / 3600, (seconds % 3600) / 60, metrics));
  }
}
