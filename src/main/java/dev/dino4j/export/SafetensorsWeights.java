package dev.dino4j.export;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.DinoHead;
import dev.dino4j.model.ParamSpec;
import dev.dino4j.model.Weights;
import dev.dino4j.train.CheckpointWeights;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Weight files in and out of dino4j: a safetensors file in any accepted naming checked against a
 * config and turned into dino4j weights, and dino4j weights written in a PyTorch naming.
 */
public final class SafetensorsWeights {

  /**
   * Weights read for a config.
   *
   * @param skipped tensors in the file that were deliberately not imported, one line each
   */
  public record Loaded(Weights weights, WeightNames.Naming naming, List<String> skipped) {}

  private SafetensorsWeights() {}

  /**
   * Reads {@code file}, maps it to dino4j names and layouts, and checks it against {@code cfg}:
   * architecture first (embed dim, depth, patch, MLP width, position grid, head sizes - a line per
   * mismatch, saying which key to set), then every tensor (unknown, missing, mis-shaped), all in
   * one error. With {@code backboneOnly} a head in the file is skipped and none is required.
   *
   * @param network "teacher" or "student" for files holding both (DINO's full checkpoint); null =
   *     teacher
   */
  public static Loaded load(Path file, DinoConfig cfg, String network, boolean backboneOnly) throws IOException {
    Map<String, Weights.Tensor> raw;
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      raw = r.readAll();
    }
    WeightNames.Mapped mapped = WeightNames.toDino(raw, network);
    List<String> skipped = new ArrayList<>(mapped.skipped());
    Weights all = mapped.weights();
    Weights w = new Weights();
    int headTensors = 0;
    for (Map.Entry<String, Weights.Tensor> e : all.all().entrySet()) {
      if (backboneOnly && e.getKey().startsWith(DinoHead.PREFIX)) {
        headTensors++;
        continue;
      }
      w.put(e.getKey(), e.getValue().shape(), e.getValue().values());
    }
    if (headTensors > 0) {
      skipped.add("head.* (" + headTensors + " tensors; --backbone-only starts the head fresh)");
    }
    List<String> problems = new ArrayList<>(architectureMismatches(w, cfg, backboneOnly));
    boolean archFits = problems.isEmpty();
    problems.addAll(mapped.problems());
    if (archFits) { // per-tensor shapes only mean something once the sizes agree
      problems.addAll(tensorProblems(w, cfg, backboneOnly));
    }
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException(file + " (" + mapped.naming().cliName + " naming) does not fit the config:\n  "
          + String.join("\n  ", problems));
    }
    return new Loaded(w, mapped.naming(), skipped);
  }

  /** The config's sizes against the sizes the weights imply; one line per difference. */
  static List<String> architectureMismatches(Weights w, DinoConfig cfg, boolean backboneOnly) {
    List<String> out = new ArrayList<>();
    DinoConfig.Model m = cfg.model();
    Integer dim = dimOf(w, "cls_token", 2);
    if (dim != null && dim != m.embedDim()) {
      out.add("model.embed_dim " + m.embedDim() + " but the weights have " + dim + " (cls_token)");
    }
    boolean stem = w.all().keySet().stream().anyMatch(n -> n.startsWith("patch_embed.stem."));
    if (w.has("patch_embed.proj.weight") && stem != m.convStem()) {
      out.add(stem ? "the weights have a conv stem (patch_embed.stem.N) but model.stem is " + m.stem() + ": set model.stem=conv"
          : "model.stem is conv but the weights have a patch projection (no patch_embed.stem.N): set model.stem=patch");
    } else if (w.has("patch_embed.stem.0.weight")) {
      long[] s = w.get("patch_embed.stem.0.weight").shape(); // [3, 3, 3, D/p]
      int stages = 0;
      while (w.has("patch_embed.stem." + stages + ".weight")) {
        stages++;
      }
      if (1 << stages != m.patchSize()) {
        out.add("model.patch_size " + m.patchSize() + " but the weights' conv stem has " + stages
            + " stride-2 convolutions (patch " + (1 << stages) + ")");
      }
      if (s[2] != 3) {
        out.add("patch_embed.stem.0.weight takes " + s[2] + " input channels; dino4j's ViT takes RGB (3)");
      }
    } else if (w.has("patch_embed.proj.weight")) {
      long[] s = w.get("patch_embed.proj.weight").shape(); // [p, p, 3, D]
      if (s[0] != s[1]) {
        out.add("patch_embed.proj.weight has a non-square kernel " + s[0] + "x" + s[1]);
      } else if (s[0] != m.patchSize()) {
        out.add("model.patch_size " + m.patchSize() + " but the weights have " + s[0] + " (patch_embed.proj.weight)");
      }
      if (s[2] != 3) {
        out.add("patch_embed.proj.weight takes " + s[2] + " input channels; dino4j's ViT takes RGB (3)");
      }
    }
    int depth = 0;
    for (String n : w.all().keySet()) {
      if (n.startsWith("blocks.")) {
        depth = Math.max(depth, Integer.parseInt(n.split("\\.")[1]) + 1);
      }
    }
    if (depth > 0 && depth != m.depth()) {
      out.add("model.depth " + m.depth() + " but the weights have " + depth + " blocks");
    }
    Integer hidden = dimOf(w, "blocks.0.mlp.fc1.weight", 1);
    long cfgHidden = Math.round(m.embedDim() * m.mlpRatio());
    if (hidden != null && dim != null && hidden != cfgHidden) {
      out.add("model.mlp_ratio " + m.mlpRatio() + " gives an MLP width of " + cfgHidden + " but the weights have "
          + hidden + " (mlp_ratio " + (double) hidden / dim + ")");
    }
    long registers = w.has("register_tokens") ? w.get("register_tokens").shape()[1] : 0;
    if (registers != m.registers()) {
      out.add("model.registers " + m.registers() + " but the weights have " + registers + " register tokens"
          + (registers > 0 ? " (register_tokens): set model.registers=" + registers : ": set model.registers=0"));
    }
    boolean layerScale = w.all().keySet().stream().anyMatch(n -> n.endsWith(".ls1.gamma"));
    if (layerScale != (m.layerscaleInit() > 0)) {
      out.add(layerScale
          ? "the weights have LayerScale (blocks.N.ls1.gamma) but model.layerscale_init is 0: set it > 0 (DINOv2: 1e-5; "
              + "the imported gammas replace it)"
          : "model.layerscale_init " + m.layerscaleInit() + " but the weights have no LayerScale: set model.layerscale_init=0");
    }
    if (w.has("pos_embed")) {
      long tokens = w.get("pos_embed").shape()[1] - 1;
      long grid = Math.round(Math.sqrt(tokens));
      int cfgGrid = cfg.augment().globalSize() / m.patchSize();
      if (grid * grid != tokens) {
        out.add("pos_embed holds " + tokens + " patch positions, not a square grid");
      } else if (grid != cfgGrid) {
        long patch = w.has("patch_embed.proj.weight") && !stem ? w.get("patch_embed.proj.weight").shape()[0] : m.patchSize();
        out.add("augment.global_size " + cfg.augment().globalSize() + " gives a " + cfgGrid + "x" + cfgGrid
            + " patch grid but pos_embed holds " + grid + "x" + grid + " (set augment.global_size=" + grid * patch
            + "; other sizes are resampled at run time)");
      }
    }
    if (!backboneOnly) {
      DinoConfig.Head h = cfg.head();
      int layers = 0;
      for (String n : w.all().keySet()) {
        if (n.startsWith("head.mlp") && n.endsWith(".weight")) {
          layers++;
        }
      }
      if (layers > 0 && layers != Math.max(h.layers(), 1)) {
        out.add("head.layers " + h.layers() + " but the weights have " + layers + " head MLP layers");
      } else if (layers > 1) {
        Integer hid = dimOf(w, "head.mlp.0.weight", 1);
        if (hid != null && hid != h.hiddenDim()) {
          out.add("head.hidden_dim " + h.hiddenDim() + " but the weights have " + hid);
        }
      }
      Integer bottleneck = dimOf(w, "head.last_layer.weight_v", 0);
      if (bottleneck != null && bottleneck != h.bottleneckDim()) {
        out.add("head.bottleneck_dim " + h.bottleneckDim() + " but the weights have " + bottleneck);
      }
      Integer k = dimOf(w, "head.last_layer.weight_v", 1);
      if (k != null && k != h.outDim()) {
        out.add("head.out_dim " + h.outDim() + " but the weights have " + k);
      }
    }
    return out;
  }

  private static Integer dimOf(Weights w, String name, int axis) {
    if (!w.has(name) || w.get(name).shape().length <= axis) {
      return null;
    }
    return (int) w.get(name).shape()[axis];
  }

  /** Every parameter the config needs against the weights: missing, mis-shaped, unexpected. */
  static List<String> tensorProblems(Weights w, DinoConfig cfg, boolean backboneOnly) {
    List<String> out = new ArrayList<>();
    Map<String, ParamSpec> specs = new LinkedHashMap<>();
    for (ParamSpec s : CheckpointWeights.specs(cfg)) {
      specs.put(s.name(), s);
    }
    boolean headMissing = false;
    for (ParamSpec s : specs.values()) {
      boolean head = s.name().startsWith(DinoHead.PREFIX);
      if (head && backboneOnly) {
        continue;
      }
      if (!w.has(s.name())) {
        out.add("missing " + s.name() + Arrays.toString(s.shape()));
        headMissing |= head;
      } else if (!Arrays.equals(w.get(s.name()).shape(), s.shape())) {
        out.add(s.name() + ": shape " + Arrays.toString(w.get(s.name()).shape()) + " (dino4j layout), the config needs "
            + Arrays.toString(s.shape()));
      }
    }
    for (String n : w.all().keySet()) {
      if (!specs.containsKey(n)) {
        out.add("unexpected tensor " + n + Arrays.toString(w.get(n).shape()) + " (not in the config's model)");
      }
    }
    if (headMissing && w.all().keySet().stream().noneMatch(n -> n.startsWith(DinoHead.PREFIX))) {
      out.add("(the file holds no DINO head: pass --backbone-only to start the head from a fresh initialisation)");
    }
    return out;
  }

  /**
   * Writes {@code weights} (dino4j names and layouts) to {@code file} in {@code naming}, with
   * {@code metadata} plus {@code format: pt} (what Hugging Face's loaders look for) - atomically.
   */
  public static void save(Path file, Weights weights, WeightNames.Naming naming, Map<String, String> metadata)
      throws IOException {
    Map<String, Weights.Tensor> tensors = WeightNames.fromDino(weights, naming);
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("format", "pt");
    meta.putAll(metadata);
    SafetensorsWriter.write(file, tensors, meta);
  }
}
