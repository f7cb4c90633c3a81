package dev.dino4j.cli;

import org.apache.logging.log4j.LogManager;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code dino4j} command line: one subcommand per job. */
@Command(
    name = "dino4j",
    mixinStandardHelpOptions = true,
    version = "dino4j 0.1.0",
    description = "Self-supervised Vision Transformer training with DINO on TensorFlow Java.",
    subcommands = {
      TrainCommand.class, BenchCommand.class, ExportCommand.class, ImportCommand.class, WeightsExportCommand.class,
      KnnCommand.class, LinearCommand.class, AttentionCommand.class, EvalBenchmarkCommand.class, PreviewCommand.class,
      BenchDataCommand.class, ConfigCommand.class, ReportCommand.class, ParityDumpCommand.class
    })
public final class Main implements Runnable {

  /** Exit codes: 0 ok, 1 unexpected error, 2 bad input (config, data), 3 training diverged, 130 interrupted. */
  public static void main(String[] args) {
    CommandLine cli = new CommandLine(new Main());
    cli.setExecutionExceptionHandler(new Errors());
    int code = cli.execute(args);
    LogManager.shutdown(); // log4j's own shutdown hook is off so that Ctrl-C can still log
    System.exit(code);
  }

  @Override
  public void run() {
    new CommandLine(this).usage(System.err);
  }
}
