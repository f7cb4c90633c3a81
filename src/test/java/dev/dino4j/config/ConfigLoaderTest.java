package dev.dino4j.config;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ConfigLoaderTest {
  @TempDir Path dir;

  private static final String SMALL_RUN =
      """
      # a comment
      data:
        source: idx
        path: /data/fmnist
        mean: [0.286, 0.286, 0.286]
      augment:
        global_scale: [0.3, 1.0]
        local_crops: 2
      optim:
        lr: 0.001
        warmup_epochs: 1
        min_lr: 1e-7        # YAML 1.1 would read this as a string; accepted as a number
      train:
        epochs: 3
        seed: -42
      """;

  // ---- loading and layering ----

  @Test
  void yamlFileLoadsOverTheDefaults() throws IOException {
    Path file = write("run.yaml", SMALL_RUN);
    DinoConfig c = ConfigLoader.load(file, List.of());
    assertEquals("idx", c.data().source());
    assertEquals("/data/fmnist", c.data().path());
    assertArrayEquals(new float[] {0.286f, 0.286f, 0.286f}, c.data().mean());
    assertArrayEquals(new double[] {0.3, 1.0}, c.augment().globalScale());
    assertEquals(2, c.augment().localCrops());
    assertEquals(0.001, c.optim().lr());
    assertEquals(1e-7, c.optim().minLr());
    assertEquals(3, c.train().epochs());
    assertEquals(-42L, c.train().seed());
    // untouched keys keep their defaults
    assertEquals(Defaults.head(), c.head());
    assertEquals(Defaults.optim().clipGrad(), c.optim().clipGrad());
  }

  @Test
  void overridesWinOverTheFileAndLaterOverridesWin() {
    DinoConfig c =
        ConfigLoader.fromYaml(
            SMALL_RUN,
            List.of(
                "optim.lr=0.002",
                "augment.global_scale=[0.25, 0.9]",
                "data.path=",
                "train.output_dir=runs/x y",
                "head.norm_last_layer=false",
                "train.epochs=5",
                "train.epochs=7"));
    assertEquals(0.002, c.optim().lr());
    assertArrayEquals(new double[] {0.25, 0.9}, c.augment().globalScale());
    assertEquals("", c.data().path());
    assertEquals("runs/x y", c.train().outputDir());
    assertEquals(false, c.head().normLastLayer());
    assertEquals(7, c.train().epochs());
  }

  @Test
  void integersAreAcceptedForRealKeys() {
    DinoConfig c = ConfigLoader.fromYaml("optim:\n  clip_grad: 1\n", List.of("optim.lr=0"));
    assertEquals(1.0, c.optim().clipGrad());
    assertEquals(0.0, c.optim().lr());
  }

  @Test
  void emptySectionIsAllowed() {
    assertEquals(ConfigLoader.defaults(), ConfigLoader.fromYaml("optim:\ntrain:\n", List.of()));
  }

  // ---- serialisation ----

  @Test
  void roundTripOfDefaultsAndOfUnusualValues() {
    assertRoundTrip(ConfigLoader.defaults());
    DinoConfig odd =
        ConfigLoader.fromYaml(
            SMALL_RUN,
            List.of(
                "data.path=C:\\data\\\"quoted\" dir",
                "data.std=[0.353, 0.1234567, 3]",
                "optim.lr=1.0e-9",
                "optim.eps=1.0e-12",
                "optim.beta2=0.9999999999999999",
                "head.out_dim=1000000",
                "train.seed=9223372036854775807",
                "train.output_dir='#not a comment: {x}'"));
    assertEquals("C:\\data\\\"quoted\" dir", odd.data().path());
    assertEquals("#not a comment: {x}", odd.train().outputDir());
    assertRoundTrip(odd);
  }

  @Test
  void yamlIsReadableAndComplete() {
    String yaml = ConfigLoader.toYaml(ConfigLoader.defaults());
    assertTrue(yaml.startsWith("data:\n  source: \"fashion-mnist\"\n"), yaml);
    assertTrue(yaml.contains("\n  mean: [0.485, 0.456, 0.406]\n"), yaml);
    assertTrue(yaml.contains("\n  global_scale: [0.4, 1.0]\n"), yaml);
    assertTrue(yaml.contains("\n  lr: 0.0005\n"), yaml);
    assertTrue(yaml.contains("\n  min_lr: 1.0E-6\n"), yaml);
    assertTrue(yaml.contains("\n  clip_grad: 3.0\n"), yaml);
    assertTrue(yaml.contains("\n  embed_dim: 384\n"), yaml);
    assertTrue(yaml.contains("\n  blur_sigma_min: 0.1\n  blur_sigma_max: 2.0\n"), yaml);
    // every key of every section is written
    int keys = 0;
    for (ConfigSchema.Section s : ConfigSchema.sections()) {
      keys += s.keys().size();
    }
    assertEquals(keys, yaml.lines().filter(l -> l.startsWith("  ")).count());
  }

  @Test
  void mapAndJsonForms() {
    DinoConfig c = ConfigLoader.defaults();
    Map<String, Map<String, Object>> map = ConfigLoader.toMap(c);
    assertEquals(
        List.of("data", "augment", "model", "head", "loss", "optim", "train", "eval"),
        List.copyOf(map.keySet()));
    assertEquals(3.0, map.get("optim").get("clip_grad"));
    assertEquals(List.of(0.4, 1.0), map.get("augment").get("global_scale"));
    assertEquals(384, map.get("model").get("embed_dim"));
    String json = ConfigLoader.toJson(c);
    assertTrue(json.contains("\"global_scale\":[0.4,1.0]"), json);
    assertTrue(json.contains("\"optim\":{\"lr\":5.0E-4"), json);
  }

  // ---- unknown names ----

  @Test
  void unknownKeyIsNamedWithItsLineAndTheClosestKey() {
    ConfigException e = fails("optim:\n  lr: 0.1\n  clip_gard: 1.0\n");
    assertContains(
        e,
        "YAML text line 3",
        "unknown key 'optim.clip_gard'",
        "did you mean 'optim.clip_grad'?",
        "Keys of optim: lr, min_lr, warmup_epochs");
    assertEquals(List.of("optim.clip_gard"), e.keys());
  }

  @Test
  void keyInTheWrongSectionPointsToTheRightOne() {
    assertContains(
        fails("train:\n  lr: 0.1\n"), "unknown key 'train.lr'", "did you mean 'optim.lr'?");
    assertContains(
        fails("lr: 0.1\n"),
        "YAML text line 1",
        "unknown section 'lr'",
        "'lr' is a key of section 'optim'");
  }

  @Test
  void unknownSectionSuggestsTheClosest() {
    assertContains(
        fails("optimizer:\n  lr: 0.1\n"),
        "unknown section 'optimizer'",
        "did you mean 'optim'?",
        "Sections: data, augment, model, head, loss, optim, train");
    assertContains(
        fails("", "optimiser.lr=0.1"),
        "override 'optimiser.lr=0.1'",
        "unknown section 'optimiser'",
        "did you mean 'optim'?");
  }

  @Test
  void unknownOverrideKeySuggestsTheClosest() {
    assertContains(
        fails("", "optim.clipgrad=1"),
        "override 'optim.clipgrad=1'",
        "unknown key 'optim.clipgrad'",
        "did you mean 'optim.clip_grad'?");
  }

  @Test
  void malformedOverrides() {
    assertContains(fails("", "optim.lr"), "override 'optim.lr'", "expected section.key=value");
    assertContains(fails("", "lr=0.1"), "override 'lr=0.1'", "expected section.key=value");
    assertContains(fails("", "optim.lr.x=1"), "expected section.key=value");
    assertContains(
        fails("", "augment.global_scale=[0.3,"),
        "override 'augment.global_scale=[0.3,'",
        "cannot read '[0.3,' as a YAML value");
  }

  // ---- wrong types ----

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
          train.batch_size=abc             | train.batch_size = "abc"         | expected an integer
          train.batch_size=12.5            | train.batch_size = 12.5          | expected an integer
          train.epochs=10.0                | train.epochs = 10.0              | expected an integer
          train.epochs=3000000000          | train.epochs = 3000000000        | 32-bit
          train.epochs=                    | train.epochs = ""                | expected an integer
          train.seed=1.5                   | train.seed = 1.5                 | an integer (64-bit
          optim.lr=fast                    | optim.lr = "fast"                | expected a finite number
          optim.lr=~                       | optim.lr = (nothing)             | the key has no value
          optim.lr=[0.1]                   | optim.lr = [0.1]                 | expected a finite number
          head.norm_last_layer=1           | head.norm_last_layer = 1         | expected true or false
          head.norm_last_layer=maybe       | head.norm_last_layer = "maybe"   | expected true or false
          data.source=3                    | data.source = 3                  | expected a string
          augment.global_scale=0.4         | augment.global_scale = 0.4       | a list of 2 numbers like [0.4, 1.0]
          augment.global_scale=[0.4]       | augment.global_scale = [0.4]     | a list of 2 numbers like [0.4, 1.0]
          augment.global_scale=[0.4,1,1]   | augment.global_scale = [0.4,1,1] | a list of 2 numbers
          augment.local_scale=[0.1,big]    | augment.local_scale = [0.1,"big"]| a list of 2 numbers like [0.05, 0.4]
          data.mean=[0.5,0.5]              | data.mean = [0.5,0.5]            | a list of 3 numbers like [0.485, 0.456, 0.406]
          """)
  void wrongTypeNamesKeyValueAndExpectedType(String override, String keyAndValue, String expected) {
    assertContains(fails("", override), "override '" + override + "'", keyAndValue, expected);
  }

  @Test
  void wrongTypeInAFileNamesTheLine() {
    assertContains(
        fails("train:\n  epochs: 10\n  batch_size: 64.5\n"),
        "YAML text line 3: train.batch_size = 64.5: expected an integer");
    assertContains(
        fails("optim: 0.1\n"),
        "YAML text line 1",
        "section 'optim' must be a mapping of key: value, found 0.1");
  }

  // ---- malformed YAML ----

  @Test
  void malformedYamlNamesFileAndLine() throws IOException {
    Path file = write("broken.yaml", "optim:\n  lr: 0.1\n clip_grad: 3.0\n");
    ConfigException e =
        assertThrows(ConfigException.class, () -> ConfigLoader.load(file, List.of()));
    assertContains(e, file.toString() + " line 3", "malformed YAML");

    Path flow = write("flow.yaml", "augment:\n  global_scale: [0.4, 1.0\ntrain:\n  epochs: 3\n");
    e = assertThrows(ConfigException.class, () -> ConfigLoader.load(flow, List.of()));
    assertContains(e, "flow.yaml line ", "malformed YAML");
  }

  @Test
  void duplicatesAndExtraDocumentsAreErrors() {
    assertContains(
        fails("optim:\n  lr: 0.1\n  lr: 0.2\n"),
        "YAML text line 3",
        "optim.lr is set twice (also YAML text line 2)");
    assertContains(
        fails("optim:\n  lr: 0.1\ntrain:\n  epochs: 2\noptim:\n  eps: 0.1\n"),
        "YAML text line 5",
        "section 'optim' appears twice");
    assertContains(fails("optim:\n  lr: 0.1\n---\ntrain:\n  epochs: 2\n"), "second YAML document");
    assertContains(fails("- 1\n- 2\n"), "top level must be a mapping of sections");
  }

  @Test
  void missingFileIsNamed() {
    Path missing = dir.resolve("nope.yaml");
    assertContains(
        assertThrows(ConfigException.class, () -> ConfigLoader.load(missing, List.of())),
        "config file not found",
        "nope.yaml");
  }

  // ---- helpers ----

  static void assertRoundTrip(DinoConfig c) {
    String yaml = ConfigLoader.toYaml(c);
    DinoConfig back = ConfigLoader.fromYaml(yaml, List.of());
    assertEquals(c, back, yaml);
    assertEquals(yaml, ConfigLoader.toYaml(back));
  }

  static ConfigException fails(String yaml, String... overrides) {
    return assertThrows(
        ConfigException.class, () -> ConfigLoader.fromYaml(yaml, List.of(overrides)));
  }

  static void assertContains(ConfigException e, String... fragments) {
    for (String fragment : fragments) {
      assertTrue(
          e.getMessage().contains(fragment),
          () -> "message lacks <" + fragment + ">: " + e.getMessage());
    }
  }

  private Path write(String name, String text) throws IOException {
    Path file = dir.resolve(name);
    Files.writeString(file, text);
    return file;
  }
}
