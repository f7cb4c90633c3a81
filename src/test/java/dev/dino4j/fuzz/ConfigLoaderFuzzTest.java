package dev.dino4j.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dino4j.config.ConfigException;
import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Tag;

/**
 * ConfigLoader on arbitrary YAML text and arbitrary --set overrides: a validated config that
 * survives its own toYaml, or a ConfigException.
 */
@Tag("fuzz")
class ConfigLoaderFuzzTest {

  /** The first byte picks the input: 'o' an override (on an empty file), else the YAML file. */
  @FuzzTest
  void load(byte[] data) {
    if (data.length == 0) {
      return;
    }
    String text = new String(data, 1, data.length - 1, StandardCharsets.UTF_8);
    if (data[0] == 'o') {
      load("", List.of(text));
    } else {
      load(text, List.of());
    }
  }

  private static void load(String yaml, List<String> overrides) {
    DinoConfig c;
    try {
      c = ConfigLoader.fromYaml(yaml, overrides);
    } catch (ConfigException e) {
      return;
    }
    DinoConfig again = ConfigLoader.fromYaml(ConfigLoader.toYaml(c), List.of());
    if (!ConfigLoader.toYaml(again).equals(ConfigLoader.toYaml(c))) {
      throw new AssertionError("toYaml does not read back:\n" + ConfigLoader.toYaml(c));
    }
  }
}
