package dev.dino4j.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The ViT size table, as in the DINO code and big_vision's "S/16" names: {@code model.arch} picks a
 * row, which fills {@code model.embed_dim}, {@code model.depth} and {@code model.heads} unless the
 * config sets them. {@code model.arch: custom} has no row and needs all three keys.
 */
public enum ModelArch {
  TINY(192, 12, 3), // vit_tiny, 5.5M params
  SMALL(384, 12, 6), // vit_small, 21M params: DINO's main model and the default here
  BASE(768, 12, 12); // vit_base, 85M params

  /** The {@code model.arch} value for a size given entirely by embed_dim, depth and heads. */
  public static final String CUSTOM = "custom";

  private final int embedDim;
  private final int depth;
  private final int heads;

  ModelArch(int embedDim, int depth, int heads) {
    this.embedDim = embedDim;
    this.depth = depth;
    this.heads = heads;
  }

  public int embedDim() {
    return embedDim;
  }

  public int depth() {
    return depth;
  }

  public int heads() {
    return heads;
  }

  /** The name used in YAML: {@code tiny}, {@code small}, {@code base}. */
  public String yamlName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The table row for a YAML name; empty for {@code custom} and for unknown names. */
  public static Optional<ModelArch> byName(String yamlName) {
    for (ModelArch arch : values()) {
      if (arch.yamlName().equals(yamlName)) {
        return Optional.of(arch);
      }
    }
    return Optional.empty();
  }

  /** Every value {@code model.arch} accepts, table rows first, then {@code custom}. */
  public static List<String> allowedNames() {
    List<String> names = new ArrayList<>();
    for (ModelArch arch : values()) {
      names.add(arch.yamlName());
    }
    names.add(CUSTOM);
    return List.copyOf(names);
  }
}
