package dev.dino4j.config;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.JsonNodeFeature;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.dino4j.config.ConfigSchema.Key;
import dev.dino4j.config.ConfigSchema.Section;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a run config: {@link Defaults}, then a YAML file, then {@code section.key=value} overrides,
 * each layer replacing single keys of the one before; then binds the records and validates them
 * ({@link ConfigValidator}). Loading is strict: an unknown section or key, a value of the wrong
 * type and an impossible value are all {@link ConfigException}s that name the key, the value, what
 * is allowed and where the value was set (file and line, or the override).
 *
 * <p>The schema ({@link DinoConfig}): sections {@code data, augment, model, head, loss, optim,
 * train, eval}; keys are the record components in snake_case. Types are strict: integers for int keys (no
 * {@code 10.0}), numbers for real keys (integers allowed), {@code true}/{@code false} for booleans,
 * strings for strings, and fixed-length flow lists for arrays ({@code [0.4, 1.0]}).
 *
 * <p>Model size: {@code model.arch} picks a row of {@link ModelArch}, which supplies {@code
 * embed_dim}, {@code depth} and {@code heads}; any of the three set in the config replaces the
 * row's value (e.g. {@code arch: small} with {@code depth: 6}). {@code arch: custom} requires all
 * three. An override that changes {@code model.arch} drops the three keys the file set, so {@code
 * --set model.arch=base} re-sizes a saved config (which always lists them); three keys set by
 * overrides stay.
 */
public final class ConfigLoader {
  private ConfigLoader() {}

  // Exact decimals, so a message shows the value as written (10.0 is visibly not an integer) and
  // a float or double reads back exactly what toYaml wrote.
  private static final YAMLMapper YAML =
      YAMLMapper.builder()
          .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
          .disable(JsonNodeFeature.STRIP_TRAILING_BIGDECIMAL_ZEROES)
          .build();

  private static final ObjectMapper JSON = new ObjectMapper();

  /** SnakeYAML's position lines in its messages, " in 'reader', line 3, column 6:". */
  private static final Pattern READER_MARK =
      Pattern.compile("\\s*in 'reader', line (\\d+), column \\d+:?\\s*");

  /** The keys an arch row supplies. */
  private static final List<String> ARCH_KEYS =
      List.of("model.embed_dim", "model.depth", "model.heads");

  /** A value set by the file or an override, and where, for messages. Absent = the default. */
  private record Setting(JsonNode value, String origin, boolean fromOverride) {}

  /** Defaults, then the YAML file, then the overrides ({@code section.key=value}), validated. */
  public static DinoConfig load(Path yaml, List<String> overrides) {
    String text;
    try {
      text = Files.readString(yaml);
    } catch (NoSuchFileException e) {
      throw new ConfigException("config file not found: " + yaml.toAbsolutePath());
    } catch (IOException e) {
      throw new ConfigException(List.of(), "cannot read config file " + yaml + ": " + e, e);
    }
    return resolve(text, yaml.toString(), overrides);
  }

  /** As {@link #load}, from YAML text (messages call it "YAML text"). */
  public static DinoConfig fromYaml(String yamlText, List<String> overrides) {
    return resolve(yamlText, "YAML text", overrides);
  }

  /** The validated {@link Defaults}. */
  public static DinoConfig defaults() {
    return ConfigValidator.validate(Defaults.config());
  }

  /**
   * The fully resolved config in the loader's schema, every key written, so that {@code
   * fromYaml(toYaml(c), List.of())} equals {@code c}. Logged at start and saved with checkpoints.
   */
  public static String toYaml(DinoConfig config) {
    StringBuilder out = new StringBuilder();
    for (Section section : ConfigSchema.sections()) {
      if (out.length() > 0) {
        out.append('\n');
      }
      out.append(section.name()).append(":\n");
      Record values = ConfigSchema.sectionOf(config, section);
      for (Key key : section.keys()) {
        out.append("  ")
            .append(key.name())
            .append(": ")
            .append(ConfigSchema.yaml(ConfigSchema.valueOf(values, key)))
            .append('\n');
      }
    }
    return out.toString();
  }

  /**
   * The config as nested maps, section -> key -> value, in schema order; arrays become lists. For
   * JSON logs and metrics files.
   */
  public static Map<String, Map<String, Object>> toMap(DinoConfig config) {
    Map<String, Map<String, Object>> out = new LinkedHashMap<>();
    for (Section section : ConfigSchema.sections()) {
      Map<String, Object> keys = new LinkedHashMap<>();
      Record values = ConfigSchema.sectionOf(config, section);
      for (Key key : section.keys()) {
        Object value = ConfigSchema.valueOf(values, key);
        if (value instanceof double[] array) {
          List<Double> list = new ArrayList<>();
          for (double d : array) {
            list.add(d);
          }
          value = List.copyOf(list);
        } else if (value instanceof float[] array) {
          List<Float> list = new ArrayList<>();
          for (float f : array) {
            list.add(f);
          }
          value = List.copyOf(list);
        }
        keys.put(key.name(), value);
      }
      out.put(section.name(), keys);
    }
    return out;
  }

  /** {@link #toMap} as one line of JSON. */
  public static String toJson(DinoConfig config) {
    try {
      return JSON.writeValueAsString(toMap(config));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write the config as JSON", e);
    }
  }

  // ---- layers: file, then overrides ----

  private static DinoConfig resolve(String text, String source, List<String> overrides) {
    Map<String, Setting> settings = readYaml(text, source);
    for (String override : overrides) {
      applyOverride(settings, override);
    }
    DinoConfig config = bind(settings);
    try {
      ConfigValidator.validate(config);
    } catch (ConfigException e) {
      throw withOrigins(e, settings);
    }
    return resolvePrecision(config);
  }

  /**
   * train.precision "auto" made concrete for this machine when the config is loaded, so that the
   * logged and saved config says what ran (and a resume elsewhere is checked against it).
   */
  private static DinoConfig resolvePrecision(DinoConfig c) {
    DinoConfig.Train t = c.train();
    String precision = CpuFeatures.resolvePrecision(t.precision(), CpuFeatures.flags());
    if (precision.equals(t.precision())) {
      return c;
    }
    return new DinoConfig(c.data(), c.augment(), c.model(), c.head(), c.loss(), c.optim(),
        new DinoConfig.Train(t.epochs(), t.batchSize(), t.seed(), t.stepsPerEpoch(), t.outputDir(), t.logEvery(),
            t.saveEvery(), t.checkpointEverySteps(), t.checkpointEveryMinutes(), precision, t.threads(), t.towers(),
            t.kernels()),
        c.eval());
  }

  /** The file's keys, each checked against the schema, with the line it is on. */
  private static Map<String, Setting> readYaml(String text, String source) {
    Map<String, Setting> settings = new LinkedHashMap<>();
    try (JsonParser p = YAML.createParser(text)) {
      if (p.nextToken() == null) {
        return settings; // an empty file (or only comments): all defaults
      }
      if (p.currentToken() != JsonToken.START_OBJECT) {
        throw new ConfigException(
            at(source, p)
                + ": the top level must be a mapping of sections ("
                + String.join(", ", ConfigSchema.sectionNames())
                + ")");
      }
      Set<String> seenSections = new HashSet<>();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String sectionName = p.currentName();
        String where = at(source, p);
        Section section = lookupSection(sectionName, where);
        if (!seenSections.add(sectionName)) {
          throw new ConfigException(
              List.of(sectionName),
              where + ": section '" + sectionName + "' appears twice; merge the two");
        }
        JsonToken body = p.nextToken();
        if (body == JsonToken.VALUE_NULL) {
          continue; // "optim:" with every key commented out
        }
        if (body != JsonToken.START_OBJECT) {
          throw new ConfigException(
              List.of(sectionName),
              where
                  + ": section '"
                  + sectionName
                  + "' must be a mapping of key: value, found "
                  + render(p.readValueAsTree()));
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
          String keyWhere = at(source, p);
          Key key = lookupKey(section, p.currentName(), keyWhere);
          p.nextToken();
          JsonNode value = p.readValueAsTree();
          Setting previous =
              settings.putIfAbsent(
                  key.path(),
                  new Setting(value == null ? NullNode.getInstance() : value, keyWhere, false));
          if (previous != null) {
            throw new ConfigException(
                List.of(key.path()),
                keyWhere + ": " + key.path() + " is set twice (also " + previous.origin() + ")");
          }
        }
      }
      if (p.nextToken() != null) {
        throw new ConfigException(
            at(source, p) + ": a second YAML document; put the whole config in one document");
      }
    } catch (JsonProcessingException e) {
      throw malformed(source, e);
    } catch (IOException e) {
      throw new ConfigException(List.of(), "cannot read " + source + ": " + e, e);
    }
    return settings;
  }

  private static void applyOverride(Map<String, Setting> settings, String override) {
    String where = "override '" + override + "'";
    int eq = override.indexOf('=');
    String path = (eq < 0 ? override : override.substring(0, eq)).trim();
    String[] parts = path.split("\\.", -1);
    if (eq < 0 || parts.length != 2) {
      throw new ConfigException(
          List.of(path),
          where
              + ": expected section.key=value, e.g. optim.lr=0.001 or"
              + " augment.global_scale=[0.3,1.0]");
    }
    Key key = lookupKey(lookupSection(parts[0], where), parts[1], where);
    String raw = override.substring(eq + 1).trim();
    JsonNode value;
    try {
      // "" is an empty string (data.path=); anything else is read as a YAML scalar or flow list
      value = raw.isEmpty() ? TextNode.valueOf("") : YAML.readTree(raw);
    } catch (JsonProcessingException e) {
      throw new ConfigException(
          List.of(key.path()),
          where + ": cannot read '" + raw + "' as a YAML value: " + problem(e),
          e);
    }
    if (value == null || value.isMissingNode()) {
      value = NullNode.getInstance(); // e.g. a value that is only a comment
    }
    if (key.path().equals("model.arch") && !value.equals(currentArch(settings))) {
      // the file's embed_dim/depth/heads belonged to the file's arch
      settings
          .entrySet()
          .removeIf(e -> ARCH_KEYS.contains(e.getKey()) && !e.getValue().fromOverride());
    }
    settings.put(key.path(), new Setting(value, where, true));
  }

  private static JsonNode currentArch(Map<String, Setting> settings) {
    Setting arch = settings.get("model.arch");
    return arch != null ? arch.value() : TextNode.valueOf(Defaults.model().arch());
  }

  // ---- binding: settings over defaults -> records ----

  private static DinoConfig bind(Map<String, Setting> settings) {
    DinoConfig defaults = Defaults.config();
    Optional<ModelArch> row = archRow(settings);
    List<Section> sections = ConfigSchema.sections();
    Record[] records = new Record[sections.size()];
    for (int s = 0; s < sections.size(); s++) {
      Section section = sections.get(s);
      Record defaultValues = ConfigSchema.sectionOf(defaults, section);
      Object[] values = new Object[section.keys().size()];
      for (int k = 0; k < values.length; k++) {
        Key key = section.keys().get(k);
        Object fallback = fromRow(key, row).orElse(ConfigSchema.valueOf(defaultValues, key));
        Setting setting = settings.get(key.path());
        values[k] = setting == null ? fallback : convert(key, setting, fallback);
      }
      records[s] = ConfigSchema.newSection(section, values);
    }
    return ConfigSchema.newConfig(records);
  }

  /** The arch table row, or empty for custom (which then must set all of ARCH_KEYS). */
  private static Optional<ModelArch> archRow(Map<String, Setting> settings) {
    Setting setting = settings.get("model.arch");
    if (setting == null) {
      return ModelArch.byName(Defaults.model().arch());
    }
    Key archKey = ConfigSchema.section("model").flatMap(s -> s.key("arch")).orElseThrow();
    String arch = (String) convert(archKey, setting, "");
    if (arch.equals(ModelArch.CUSTOM)) {
      List<String> missing = ARCH_KEYS.stream().filter(k -> !settings.containsKey(k)).toList();
      if (!missing.isEmpty()) {
        throw new ConfigException(
            missing,
            setting.origin()
                + ": model.arch = \"custom\" needs model.embed_dim, model.depth and model.heads;"
                + " missing: "
                + String.join(", ", missing)
                + " (or pick a row: "
                + String.join(", ", ModelArch.allowedNames().subList(0, 3))
                + ")");
      }
      return Optional.empty();
    }
    try {
      ConfigValidator.oneOf("model.arch", arch, ModelArch.allowedNames());
    } catch (ConfigException e) {
      throw new ConfigException(e.keys(), setting.origin() + ": " + e.getMessage(), e);
    }
    return ModelArch.byName(arch);
  }

  private static Optional<Object> fromRow(Key key, Optional<ModelArch> row) {
    return row.map(
        arch ->
            switch (key.path()) {
              case "model.embed_dim" -> arch.embedDim();
              case "model.depth" -> arch.depth();
              case "model.heads" -> arch.heads();
              default -> null;
            });
  }

  /** The setting's value as the key's Java type; {@code fallback} gives an array's length. */
  private static Object convert(Key key, Setting setting, Object fallback) {
    JsonNode n = setting.value();
    Class<?> type = key.type();
    if (n.isNull()) {
      throw typeError(key, setting, describe(type, fallback) + " (the key has no value)");
    }
    if (type == int.class && n.isIntegralNumber() && n.canConvertToInt()) {
      return n.intValue();
    }
    if (type == long.class && n.isIntegralNumber() && n.canConvertToLong()) {
      return n.longValue();
    }
    if (type == double.class && isFiniteNumber(n)) {
      return n.doubleValue();
    }
    if (type == boolean.class && n.isBoolean()) {
      return n.booleanValue();
    }
    if (type == String.class && n.isTextual()) {
      return n.textValue();
    }
    if (type == double[].class && isNumberList(n, ((double[]) fallback).length)) {
      double[] out = new double[n.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] = n.get(i).doubleValue();
      }
      return out;
    }
    if (type == float[].class && isNumberList(n, ((float[]) fallback).length)) {
      float[] out = new float[n.size()];
      for (int i = 0; i < out.length; i++) {
        out[i] = n.get(i).floatValue();
        if (!Float.isFinite(out[i])) {
          throw typeError(key, setting, describe(type, fallback));
        }
      }
      return out;
    }
    throw typeError(key, setting, describe(type, fallback));
  }

  private static boolean isFiniteNumber(JsonNode n) {
    return n.isNumber() && Double.isFinite(n.doubleValue());
  }

  private static boolean isNumberList(JsonNode n, int length) {
    if (!n.isArray() || n.size() != length) {
      return false;
    }
    for (JsonNode item : n) {
      if (!isFiniteNumber(item)) {
        return false;
      }
    }
    return true;
  }

  /** What a key of this type accepts, in words, e.g. "a list of 2 numbers like [0.4, 1.0]". */
  private static String describe(Class<?> type, Object fallback) {
    if (type == int.class) {
      return "an integer (32-bit, no decimal point)";
    }
    if (type == long.class) {
      return "an integer (64-bit, no decimal point)";
    }
    if (type == double.class) {
      return "a finite number";
    }
    if (type == boolean.class) {
      return "true or false";
    }
    if (type == String.class) {
      return "a string";
    }
    int length =
        type == double[].class ? ((double[]) fallback).length : ((float[]) fallback).length;
    return "a list of " + length + " numbers like " + ConfigSchema.yaml(fallback);
  }

  private static ConfigException typeError(Key key, Setting setting, String expected) {
    return new ConfigException(
        List.of(key.path()),
        setting.origin()
            + ": "
            + key.path()
            + " = "
            + render(setting.value())
            + ": expected "
            + expected);
  }

  // ---- messages ----

  private static Section lookupSection(String name, String where) {
    return ConfigSchema.section(name)
        .orElseThrow(
            () -> {
              String hint =
                  ConfigSchema.sections().stream()
                      .filter(s -> s.key(name).isPresent())
                      .findFirst()
                      .map(s -> "; '" + name + "' is a key of section '" + s.name() + "'.")
                      .or(
                          () ->
                              Spelling.closest(name, ConfigSchema.sectionNames())
                                  .map(s -> "; did you mean '" + s + "'?"))
                      .orElse(".");
              return new ConfigException(
                  List.of(name),
                  where
                      + ": unknown section '"
                      + name
                      + "'"
                      + hint
                      + " Sections: "
                      + String.join(", ", ConfigSchema.sectionNames()));
            });
  }

  private static Key lookupKey(Section section, String name, String where) {
    return section
        .key(name)
        .orElseThrow(
            () -> {
              // the right key in the wrong section (train.lr) first, then a typo (optim.lrr)
              Optional<String> suggestion =
                  ConfigSchema.sections().stream()
                      .filter(s -> s.key(name).isPresent())
                      .map(s -> s.name() + "." + name)
                      .findFirst()
                      .or(
                          () ->
                              Spelling.closest(name, section.keyNames())
                                  .map(k -> section.name() + "." + k));
              return new ConfigException(
                  List.of(section.name() + "." + name),
                  where
                      + ": unknown key '"
                      + section.name()
                      + "."
                      + name
                      + "'"
                      + suggestion.map(s -> "; did you mean '" + s + "'?").orElse(".")
                      + " Keys of "
                      + section.name()
                      + ": "
                      + String.join(", ", section.keyNames()));
            });
  }

  /** Prefixes a validation message with where its keys were set (defaults say nothing). */
  private static ConfigException withOrigins(ConfigException e, Map<String, Setting> settings) {
    Set<String> origins = new LinkedHashSet<>();
    for (String key : e.keys()) {
      Setting setting = settings.get(key);
      if (setting != null) {
        origins.add(setting.origin());
      }
    }
    if (origins.isEmpty()) {
      return e;
    }
    return new ConfigException(e.keys(), String.join(", ", origins) + ": " + e.getMessage(), e);
  }

  private static String at(String source, JsonParser p) {
    return source + " line " + p.currentTokenLocation().getLineNr();
  }

  private static ConfigException malformed(String source, JsonProcessingException e) {
    String where =
        e.getLocation() == null
            ? source
            : source
                + " line "
                + e.getLocation().getLineNr()
                + ", column "
                + e.getLocation().getColumnNr();
    return new ConfigException(List.of(), where + ": malformed YAML: " + problem(e), e);
  }

  /**
   * The parser's own words without its source excerpts: SnakeYAML follows each statement with an
   * indented "in 'reader', line N, column M:", the line and a caret. Kept: the statements, each
   * with its line, so an unclosed bracket names the line it was opened on.
   */
  private static String problem(JsonProcessingException e) {
    List<String> statements = new ArrayList<>();
    for (String line : e.getOriginalMessage().split("\n")) {
      Matcher mark = READER_MARK.matcher(line);
      if (mark.matches() && !statements.isEmpty()) {
        int last = statements.size() - 1;
        statements.set(last, statements.get(last) + " (line " + mark.group(1) + ")");
      } else if (!line.isBlank() && !Character.isWhitespace(line.charAt(0))) {
        statements.add(line.trim());
      }
    }
    return String.join(": ", statements);
  }

  /** A YAML value as the user wrote it, more or less: strings quoted, lists in brackets. */
  private static String render(JsonNode n) {
    if (n == null || n.isNull() || n.isMissingNode()) {
      return "(nothing)";
    }
    return n.toString();
  }
}
