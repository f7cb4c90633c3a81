package dev.dino4j.cli;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.ConfigReference;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dino4j config}: the config reference (docs/config.md is its output), or a recipe resolved
 * with its defaults and overrides, as the trainer would log it.
 */
@Command(
    name = "config",
    mixinStandardHelpOptions = true,
    description = {
      "Print the config reference (--reference: every key's type, default, allowed values and why, as Markdown;",
      "docs/config.md is this output), or a recipe fully resolved: defaults, then the file, then --set overrides."
    })
final class ConfigCommand implements Callable<Integer> {

  @Option(names = "--reference", description = "Print the config reference as Markdown.")
  boolean reference;

  @Option(names = {"-c", "--config"}, description = "Recipe to resolve (default: configs/fmnist-tiny.yaml).",
      defaultValue = "configs/fmnist-tiny.yaml")
  Path config;

  @Option(names = "--set", description = "Override a config key, e.g. --set train.epochs=5 (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Override
  public Integer call() {
    System.out.print(reference ? ConfigReference.markdown() : ConfigLoader.toYaml(ConfigLoader.load(config, overrides)));
    System.out.flush();
    return 0;
  }
}
