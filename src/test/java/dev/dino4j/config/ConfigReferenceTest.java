package dev.dino4j.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.dino4j.config.ConfigSchema.Key;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** docs/config.md is the generated reference, and every bound it states is the validator's. */
class ConfigReferenceTest {

  private static final Pattern AT_LEAST = Pattern.compile(">= (-?[0-9.]+)");
  private static final Pattern INTERVAL = Pattern.compile("\\[(-?[0-9.]+), ([0-9.]+)([\\])])");

  @Test
  void everySchemaKeyHasOneEntryAndNoEntryIsStale() {
    // byKey throws naming the undocumented or stale keys
    assertEquals(ConfigSchema.sections().stream().mapToInt(s -> s.keys().size()).sum(), ConfigReference.byKey().size());
  }

  @Test
  void docsConfigMdIsTheGeneratedReference() throws IOException {
    Path doc = Path.of("docs/config.md");
    assertTrue(Files.exists(doc), "docs/config.md is missing: bin/dino4j config --reference > docs/config.md");
    assertEquals(ConfigReference.markdown(), Files.readString(doc),
        "docs/config.md differs from the code's reference: regenerate it with bin/dino4j config --reference > docs/config.md");
  }

  @Test
  void theReferenceShowsTheDefaultsAndEveryKey() {
    String md = ConfigReference.markdown();
    assertTrue(md.contains("| `optim.clip_grad` | number | `3.0` | >= 0 |"), md);
    assertTrue(md.contains("| `train.precision` | string | `\"fp32\"` | one of fp32, bf16, auto |"), md);
    for (var section : ConfigSchema.sections()) {
      for (Key key : section.keys()) {
        assertTrue(md.contains("| `" + key.path() + "` |"), key.path());
      }
    }
  }

  /**
   * Each stated bound, one step outside, must be refused by the loader with an error naming the
   * key; so a bound changed in the validator but not here (or the reverse) fails.
   */
  @Test
  void statedBoundsAreTheValidatorsBounds() {
    List<String> checked = new ArrayList<>();
    for (var section : ConfigSchema.sections()) {
      for (Key key : section.keys()) {
        String allowed = ConfigReference.byKey().get(key.path()).allowed();
        boolean integer = key.type() == int.class || key.type() == long.class;
        Matcher atLeast = AT_LEAST.matcher(allowed);
        Matcher interval = INTERVAL.matcher(allowed);
        if (allowed.startsWith("one of ")) {
          assertRefused(key, "\"not-a-listed-value\"");
          checked.add(key.path());
        } else if (allowed.equals("> 0")) {
          assertRefused(key, "0");
          checked.add(key.path());
        } else if (allowed.equals("[0, train.epochs]")) {
          assertRefused(key, "-1");
          assertRefused(key, String.valueOf(Defaults.config().train().epochs() + 1));
          checked.add(key.path());
        } else if (atLeast.matches()) {
          double min = Double.parseDouble(atLeast.group(1));
          assertRefused(key, integer ? String.valueOf((long) min - 1) : String.valueOf(min - 1e-3));
          checked.add(key.path());
        } else if (interval.matches()) {
          double lo = Double.parseDouble(interval.group(1));
          double hi = Double.parseDouble(interval.group(2));
          assertRefused(key, String.valueOf(lo - 1e-3));
          assertRefused(key, String.valueOf(interval.group(3).equals(")") ? hi : hi + 1e-3));
          checked.add(key.path());
        }
      }
    }
    // the free-text forms (paths, lists, seeds) are few; the rest must be checkable
    assertTrue(checked.size() >= 55, "only " + checked.size() + " bounds checked: " + checked);
  }

  private static void assertRefused(Key key, String value) {
    try {
      ConfigLoader.fromYaml("", List.of(key.path() + "=" + value));
    } catch (ConfigException e) {
      assertTrue(e.keys().contains(key.path()) || e.getMessage().contains(key.path()),
          key.path() + "=" + value + " was refused for another key: " + e.getMessage());
      return;
    }
    fail("the reference says " + key.path() + " is " + ConfigReference.byKey().get(key.path()).allowed()
        + ", but " + key.path() + "=" + value + " was accepted");
  }
}
