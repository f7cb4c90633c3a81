package dev.dino4j.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigSchemaTest {

  @Test
  void keysAreTheRecordComponentsInSnakeCase() {
    assertEquals("blur_p_global1", ConfigSchema.snakeCase("blurPGlobal1"));
    assertEquals(
        List.of("data", "augment", "model", "head", "loss", "optim", "train", "eval"),
        ConfigSchema.sectionNames());
    assertEquals(
        List.of("arch", "patch_size", "embed_dim", "depth", "heads", "mlp_ratio", "drop_path_rate", "interpolate_offset",
            "registers", "layerscale_init", "stem"),
        ConfigSchema.section("model").orElseThrow().keyNames());
  }

  @Test
  void numbersAreWrittenAsPeopleTypeThem() {
    assertEquals("0.0005", ConfigSchema.yaml(0.0005));
    assertEquals("3.0", ConfigSchema.yaml(3.0));
    assertEquals("0.0", ConfigSchema.yaml(0.0));
    assertEquals("1.0E-6", ConfigSchema.yaml(1e-6));
    assertEquals("1.0E10", ConfigSchema.yaml(1e10));
    assertEquals("0.286", ConfigSchema.yaml(0.2860f));
    assertEquals("[0.4, 1.0]", ConfigSchema.yaml(new double[] {0.4, 1.0}));
    assertEquals("\"a\\\"b\\\\c\"", ConfigSchema.yaml("a\"b\\c"));
  }

  @Test
  void spellingSuggestions() {
    List<String> keys = List.of("lr", "min_lr", "clip_grad", "weight_decay");
    assertEquals("clip_grad", Spelling.closest("clipgrad", keys).orElseThrow());
    assertEquals("weight_decay", Spelling.closest("weight_decay_start", keys).orElseThrow());
    assertEquals("lr", Spelling.closest("LR", keys).orElseThrow());
    assertEquals(true, Spelling.closest("momentum", keys).isEmpty());
    assertEquals(3, Spelling.distance("kitten", "sitting"));
  }
}
