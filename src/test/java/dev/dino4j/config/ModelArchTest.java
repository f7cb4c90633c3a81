package dev.dino4j.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ModelArchTest {

  @Test
  void tableMatchesTheReference() {
    assertEquals(List.of(192, 12, 3), dims(ModelArch.TINY));
    assertEquals(List.of(384, 12, 6), dims(ModelArch.SMALL));
    assertEquals(List.of(768, 12, 12), dims(ModelArch.BASE));
    assertEquals(List.of("tiny", "small", "base", "custom"), ModelArch.allowedNames());
    assertEquals(ModelArch.BASE, ModelArch.byName("base").orElseThrow());
    assertTrue(ModelArch.byName("custom").isEmpty());
  }

  @Test
  void namedArchFillsTheSizeKeys() {
    assertEquals(List.of(192, 12, 3), dims(load("model:\n  arch: tiny\n")));
    assertEquals(List.of(768, 12, 12), dims(load("model:\n  arch: base\n")));
  }

  @Test
  void sizeKeysOverrideTheNamedRow() {
    DinoConfig.Model m = load("model:\n  arch: small\n  depth: 6\n");
    assertEquals("small", m.arch());
    assertEquals(List.of(384, 6, 6), dims(m));
  }

  @Test
  void customNeedsAllThreeSizeKeys() {
    DinoConfig.Model m = load("model:\n  arch: custom\n  embed_dim: 128\n  depth: 4\n  heads: 4\n");
    assertEquals(List.of(128, 4, 4), dims(m));

    ConfigException e =
        assertThrows(
            ConfigException.class, () -> load("model:\n  arch: custom\n  embed_dim: 128\n"));
    assertTrue(e.getMessage().contains("YAML text line 2"), e.getMessage());
    assertTrue(e.getMessage().contains("missing: model.depth, model.heads"), e.getMessage());
    assertEquals(List.of("model.depth", "model.heads"), e.keys());
  }

  @Test
  void unknownArchNamesTheAllowedOnesAndSuggests() {
    ConfigException e = assertThrows(ConfigException.class, () -> load("model:\n  arch: smal\n"));
    assertTrue(e.getMessage().contains("model.arch = \"smal\""), e.getMessage());
    assertTrue(e.getMessage().contains("tiny, small, base, custom"), e.getMessage());
    assertTrue(e.getMessage().contains("did you mean \"small\""), e.getMessage());
  }

  @Test
  void overridingTheArchDropsTheFilesSizeKeys() {
    // a saved config lists embed_dim/depth/heads; re-sizing it must not keep the old ones
    String saved = ConfigLoader.toYaml(ConfigLoader.defaults());
    DinoConfig base = ConfigLoader.fromYaml(saved, List.of("model.arch=base"));
    assertEquals(List.of(768, 12, 12), dims(base.model()));

    // size keys given as overrides stay, whatever their order
    DinoConfig deep = ConfigLoader.fromYaml(saved, List.of("model.depth=3", "model.arch=tiny"));
    assertEquals(List.of(192, 3, 3), dims(deep.model()));

    // the same arch again changes nothing
    String custom = "model:\n  arch: custom\n  embed_dim: 64\n  depth: 2\n  heads: 2\n";
    DinoConfig same = ConfigLoader.fromYaml(custom, List.of("model.arch=custom"));
    assertEquals(List.of(64, 2, 2), dims(same.model()));
  }

  private static DinoConfig.Model load(String yaml) {
    return ConfigLoader.fromYaml(yaml, List.of()).model();
  }

  private static List<Integer> dims(ModelArch a) {
    return List.of(a.embedDim(), a.depth(), a.heads());
  }

  private static List<Integer> dims(DinoConfig.Model m) {
    return List.of(m.embedDim(), m.depth(), m.heads());
  }
}
