package dev.dino4j.config;

import java.util.List;

/**
 * A config that cannot be used as written. The message is meant for the person who wrote the YAML
 * or the override: it names the key, the value and what is allowed, and where the value came from.
 */
public final class ConfigException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The {@code section.key} names the problem is about; empty for file-level problems. */
  private final List<String> keys;

  public ConfigException(String message) {
    this(List.of(), message, null);
  }

  public ConfigException(List<String> keys, String message) {
    this(keys, message, null);
  }

  public ConfigException(List<String> keys, String message, Throwable cause) {
    super(message, cause);
    this.keys = List.copyOf(keys);
  }

  /** The {@code section.key} names this problem is about (empty for file-level problems). */
  public List<String> keys() {
    return keys;
  }
}
