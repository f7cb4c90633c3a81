package dev.dino4j.cli;

import dev.dino4j.export.SavedModelExport;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code dino4j export}: a run's backbone as a SavedModel for TF Serving and Python TensorFlow. */
@Command(
    name = "export",
    // no standard mixin: its -V/--version would clash with --version (the SavedModel version), which
    // silently dropped --help as well

    description = {
      "Export the teacher (or student) backbone of a run as a SavedModel in TF Serving's layout:"
          + " BASE/NAME/VERSION/ with signatures serving_default (images -> embedding), image_bytes"
          + " (encoded JPEG/PNG -> embedding), patch_tokens and attention; any batch and image size.",
      "A version is written to a temporary folder and renamed into place; existing versions are never overwritten."
    })
final class ExportCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

  @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help message and exit.")
  boolean help;

  @Parameters(index = "0", paramLabel = "RUN_DIR_OR_CHECKPOINT",
      description = "A run directory (its latest checkpoint is exported) or one checkpoint folder (…/checkpoints/ckpt-N).")
  Path source;

  @Option(names = "--name", description = "Model name, the folder under --base (default: the run directory's name).")
  String name;

  @Option(names = "--base", defaultValue = "savedmodels",
      description = "Folder TF Serving's --model_base_path points into (default: ${DEFAULT-VALUE}).")
  Path base;

  @Option(names = "--version", description = "Version number; refused if it exists (default: the next free one, so a server picks it up).")
  Long version;

  @Option(names = "--network", defaultValue = "teacher",
      description = "teacher (the EMA network DINO evaluates, default) or student.")
  String network;

  @Override
  public Integer call() {
    SavedModelExport.Written w =
        SavedModelExport.export(new SavedModelExport.Request(source, base, name, version, network));
    spec.commandLine().getOut().printf(
        "exported %s (step %d) to %s: %.1f KiB in %.1f s%n",
        network, w.globalStep(), w.dir(), w.bytes() / 1024.0, w.seconds());
    return 0;
  }
}
