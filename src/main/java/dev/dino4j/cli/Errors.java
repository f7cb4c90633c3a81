package dev.dino4j.cli;

import dev.dino4j.config.ConfigException;
import dev.dino4j.train.Checkpoints;
import dev.dino4j.train.Trainer;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import picocli.CommandLine;

/** Turns exceptions into one readable message and an exit code; stack traces go to the log only. */
final class Errors implements CommandLine.IExecutionExceptionHandler {

  private static final Logger LOG = LogManager.getLogger(Errors.class);

  @Override
  public int handleExecutionException(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
    int code;
    String kind;
    if (e instanceof ConfigException) {
      code = 2;
      kind = "config error";
    } else if (e instanceof Checkpoints.WriteException) {
      // 2, not 1: nothing is wrong with dino4j, and the same command fails again until space is
      // freed; then it resumes from the intact previous checkpoint
      code = 2;
      kind = "checkpoint not written";
    } else if (e instanceof IOException || e instanceof UncheckedIOException || e instanceof IllegalArgumentException) {
      code = 2;
      kind = "input error";
    } else if (e instanceof Trainer.DivergedException) {
      code = 3;
      kind = "training diverged";
    } else if (e instanceof IllegalStateException) {
      code = 2;
      kind = "error";
    } else {
      code = 1;
      kind = "unexpected error";
    }
    LOG.debug("{} in {}", kind, cmd.getCommandName(), e);
    cmd.getErr().println("dino4j " + cmd.getCommandName() + ": " + kind + ": " + e.getMessage());
    if (code == 1) {
      e.printStackTrace(cmd.getErr());
    }
    return code;
  }
}
