package dev.dino4j.config;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The YAML schema, read off the records so that no key is listed twice: a section is a component of
 * {@link DinoConfig}, a key is a component of the section's record, named in snake_case. Also how
 * each value is written in YAML, shared by {@link ConfigLoader#toYaml} and error messages.
 */
final class ConfigSchema {
  private ConfigSchema() {}

  /** One YAML section: its name and the record it fills. */
  record Section(String name, RecordComponent component, List<Key> keys) {
    Class<?> type() {
      return component.getType();
    }

    Optional<Key> key(String keyName) {
      return keys.stream().filter(k -> k.name().equals(keyName)).findFirst();
    }

    List<String> keyNames() {
      return keys.stream().map(Key::name).toList();
    }
  }

  /** One YAML key: its section, its snake_case name and the record component it fills. */
  record Key(String section, String name, RecordComponent component) {
    /** The full name used in overrides and messages, e.g. {@code optim.clip_grad}. */
    String path() {
      return section + "." + name;
    }

    Class<?> type() {
      return component.getType();
    }
  }

  private static final List<Section> SECTIONS = readSections();

  private static List<Section> readSections() {
    List<Section> sections = new ArrayList<>();
    for (RecordComponent sectionComponent : DinoConfig.class.getRecordComponents()) {
      String section = snakeCase(sectionComponent.getName());
      List<Key> keys = new ArrayList<>();
      for (RecordComponent c : sectionComponent.getType().getRecordComponents()) {
        keys.add(new Key(section, snakeCase(c.getName()), c));
      }
      sections.add(new Section(section, sectionComponent, List.copyOf(keys)));
    }
    return List.copyOf(sections);
  }

  /** Sections in {@link DinoConfig} order, which is also the order {@code toYaml} writes. */
  static List<Section> sections() {
    return SECTIONS;
  }

  static Optional<Section> section(String name) {
    return SECTIONS.stream().filter(s -> s.name().equals(name)).findFirst();
  }

  static List<String> sectionNames() {
    return SECTIONS.stream().map(Section::name).toList();
  }

  /** {@code blurPGlobal1} -> {@code blur_p_global1}: an underscore before each capital. */
  static String snakeCase(String camel) {
    StringBuilder out = new StringBuilder();
    for (char ch : camel.toCharArray()) {
      if (Character.isUpperCase(ch)) {
        out.append('_').append(Character.toLowerCase(ch));
      } else {
        out.append(ch);
      }
    }
    return out.toString();
  }

  /** The section record of {@code config} that {@code section} describes. */
  static Record sectionOf(DinoConfig config, Section section) {
    return (Record) read(section.component(), config);
  }

  /** The value of {@code key} in its section record. */
  static Object valueOf(Record sectionRecord, Key key) {
    return read(key.component(), sectionRecord);
  }

  /** Builds a section record from values in key order. */
  static Record newSection(Section section, Object[] values) {
    return (Record) construct(section.type(), values);
  }

  /** Builds the config from section records in section order. */
  static DinoConfig newConfig(Record[] sections) {
    return (DinoConfig) construct(DinoConfig.class, sections);
  }

  private static Object read(RecordComponent component, Object owner) {
    try {
      return component.getAccessor().invoke(owner);
    } catch (IllegalAccessException | InvocationTargetException e) {
      throw new IllegalStateException("cannot read record component " + component, e);
    }
  }

  private static Object construct(Class<?> recordType, Object[] values) {
    Class<?>[] types =
        Arrays.stream(recordType.getRecordComponents())
            .map(RecordComponent::getType)
            .toArray(Class<?>[]::new);
    try {
      Constructor<?> canonical = recordType.getDeclaredConstructor(types);
      return canonical.newInstance(values);
    } catch (InvocationTargetException e) {
      throw new IllegalStateException("cannot build " + recordType.getSimpleName(), e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot build " + recordType.getSimpleName(), e);
    }
  }

  /**
   * A value as YAML text that reads back to exactly the same value: strings double-quoted, numbers
   * in their shortest exact decimal form, arrays as flow lists.
   */
  static String yaml(Object value) {
    if (value instanceof String s) {
      return quote(s);
    }
    if (value instanceof Double d) {
      return number(d, Double.toString(d));
    }
    if (value instanceof Float f) {
      return number(f, Float.toString(f));
    }
    if (value instanceof double[] array) {
      List<String> items = new ArrayList<>();
      for (double d : array) {
        items.add(yaml(d));
      }
      return "[" + String.join(", ", items) + "]";
    }
    if (value instanceof float[] array) {
      List<String> items = new ArrayList<>();
      for (float f : array) {
        items.add(yaml(f));
      }
      return "[" + String.join(", ", items) + "]";
    }
    return String.valueOf(value); // int, long, boolean
  }

  /**
   * {@code shortest} is Java's shortest string that reads back to the value ("5.0E-4"); written as
   * plain decimals in the range people type ("0.0005") and with a ".0" so a reader sees a real.
   */
  private static String number(double value, String shortest) {
    double magnitude = Math.abs(value);
    boolean plainRange = value == 0 || (magnitude >= 1e-4 && magnitude < 1e7);
    if (!Double.isFinite(value) || !plainRange) {
      return shortest;
    }
    String plain = new BigDecimal(shortest).stripTrailingZeros().toPlainString();
    return plain.contains(".") ? plain : plain + ".0";
  }

  private static String quote(String s) {
    StringBuilder out = new StringBuilder("\"");
    for (char ch : s.toCharArray()) {
      switch (ch) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\t' -> out.append("\\t");
        default -> {
          if (ch < 0x20) {
            out.append(String.format("\\u%04x", (int) ch));
          } else {
            out.append(ch);
          }
        }
      }
    }
    return out.append('"').toString();
  }
}
