package dev.dino4j.cli;

import dev.dino4j.train.RunReport;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dino4j report}: pictures of runs from their metrics.jsonl. */
@Command(
    name = "report",
    mixinStandardHelpOptions = true,
    description = {
      "Write RUN/report.png from RUN/metrics.jsonl: loss, teacher entropy against ln K, KL, k-NN accuracy, lr,",
      "weight decay, teacher momentum and teacher temperature against the step. The trainer writes it too, at the",
      "end of a run and after every k-NN check.",
      "With several runs (or --curves): one picture of their learning curves, the in-training k-NN top-1 against",
      "the step, one line per run, each --baseline as a horizontal line.",
      "--table prints those k-NN checks as a Markdown table instead (one row per run, one column per step)."
    })
final class ReportCommand implements Callable<Integer> {

  @Parameters(arity = "1..*", paramLabel = "RUN", description = "Run directories (each holds metrics.jsonl).")
  List<Path> runs = new ArrayList<>();

  @Option(names = "--curves", description = "Learning curves even for one run.")
  boolean curves;

  @Option(names = {"-o", "--out"}, description = "Output PNG. Default: RUN/report.png, or curves.png for curves.")
  Path out;

  @Option(names = "--baseline", paramLabel = "LABEL=TOP1",
      description = "A horizontal line on the learning curves, e.g. --baseline \"raw pixels=84.59\" (repeatable).")
  List<String> baselines = new ArrayList<>();

  @Option(names = "--table", description = "Print the runs' in-training k-NN top-1 as a Markdown table (no PNG "
      + "unless --curves is given too).")
  boolean table;

  @Override
  public Integer call() throws Exception {
    if (table) {
      System.out.print(RunReport.knnTable(runs));
      if (!curves) {
        return 0;
      }
    }
    if (runs.size() == 1 && !curves) {
      if (!baselines.isEmpty()) {
        throw new IllegalArgumentException("--baseline draws on learning curves: add --curves");
      }
      Path written = RunReport.write(runs.get(0));
      if (out != null) {
        java.nio.file.Files.move(written, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        written = out;
      }
      System.out.println("wrote " + written);
      return 0;
    }
    Map<String, Double> lines = new LinkedHashMap<>();
    for (String b : baselines) {
      int eq = b.lastIndexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("--baseline " + b + ": expected LABEL=TOP1, e.g. \"raw pixels=84.59\"");
      }
      try {
        lines.put(b.substring(0, eq).strip(), Double.parseDouble(b.substring(eq + 1).strip()));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--baseline " + b + ": the top-1 after '=' must be a number (%), e.g. 84.59");
      }
    }
    Path written = RunReport.writeCurves(runs, lines, out != null ? out : Path.of("curves.png"));
    System.out.println("wrote " + written);
    return 0;
  }
}
