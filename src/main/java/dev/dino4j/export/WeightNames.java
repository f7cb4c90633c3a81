package dev.dino4j.export;

import dev.dino4j.model.Weights;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Maps weight names and layouts between dino4j and the PyTorch world, in both directions. The
 * naming of a file is detected from its names; the user never writes a mapping.
 *
 * <p>Namings:
 *
 * <ul>
 *   <li>{@link Naming#OFFICIAL}: the official DINO / timm state_dict ({@code cls_token}, {@code
 *       pos_embed}, {@code patch_embed.proj.*}, {@code blocks.N.{norm1, attn.qkv, attn.proj,
 *       norm2, mlp.fc1, mlp.fc2}.*}, {@code norm.*}; head {@code [head.]mlp.N.*}, {@code
 *       [head.]last_layer.weight_g/_v}) with PyTorch layouts. Accepted wrappers: {@code
 *       student.}/{@code teacher.} (DINO's full checkpoint, one network chosen), then any of
 *       {@code module.} (DistributedDataParallel), {@code backbone.} (MultiCropWrapper), {@code
 *       _orig_mod.} (torch.compile). The head's weight norm may also be the parametrization form
 *       ({@code last_layer.parametrizations.weight.original0/1}).
 *   <li>{@link Naming#HF}: Hugging Face transformers 5.x {@code ViTModel} ({@code
 *       embeddings.*}, {@code layers.N.attention.{q,k,v,o}_proj}, {@code layers.N.mlp.fc1/fc2},
 *       {@code layers.N.layernorm_before/after}, {@code layernorm}); {@link Naming#HF_LEGACY}:
 *       transformers 4.x and the files on model hubs ({@code encoder.layer.N.attention.attention
 *       .query/key/value}, {@code .attention.output.dense}, {@code .intermediate.dense}, {@code
 *       .output.dense}). Both import (a {@code vit.} prefix too); separate q/k/v are fused.
 *   <li>DINOv2: the official names add {@code register_tokens} and {@code blocks.N.ls1/ls2.gamma}
 *       (LayerScale); Hugging Face {@code Dinov2Model} / {@code Dinov2WithRegistersModel} add
 *       {@code embeddings.register_tokens}, {@code encoder.layer.N.layer_scale1/2.lambda1} and
 *       name the block norms {@code norm1/norm2}: all import. {@link Naming#HF_DINOV2} exports them.
 * </ul>
 *
 * <p>Known extras that do not belong to a DINO backbone or head are skipped and reported: the HF
 * pooler ({@code pooler.dense.*}), classifiers ({@code classifier.*}, timm's {@code head.weight}
 * / {@code head.bias}) and the masked-image-modelling token ({@code mask_token}, HF's {@code
 * embeddings.mask_token}).
 */
public final class WeightNames {

  /** A family of parameter names and layouts. */
  public enum Naming {
    OFFICIAL("official"),
    HF("hf"),
    HF_LEGACY("hf-legacy"),
    HF_DINOV2("hf-dinov2");

    public final String cliName;

    Naming(String cliName) {
      this.cliName = cliName;
    }

    public static Naming parse(String s) {
      for (Naming n : values()) {
        if (n.cliName.equals(s.toLowerCase(Locale.ROOT))) {
          return n;
        }
      }
      throw new IllegalArgumentException("unknown naming '" + s + "'; use official, hf, hf-legacy or hf-dinov2");
    }
  }

  /**
   * A file's tensors in dino4j names and layouts.
   *
   * @param problems unknown, duplicate or mis-shaped tensors, one line each
   * @param skipped names deliberately left out (other network, known extras), one line each
   */
  public record Mapped(Weights weights, Naming naming, List<String> problems, List<String> skipped) {}

  private static final List<String> WRAPPERS = List.of("module.", "backbone.", "_orig_mod.", "vit.");

  private static final Pattern OFFICIAL_BACKBONE = Pattern.compile(
      "cls_token|pos_embed|register_tokens|patch_embed\\.(proj|stem\\.\\d+)\\.(weight|bias)|norm\\.(weight|bias)"
          + "|blocks\\.\\d+\\.(norm1|norm2|attn\\.qkv|attn\\.proj|mlp\\.fc1|mlp\\.fc2)\\.(weight|bias)"
          + "|blocks\\.\\d+\\.ls[12]\\.gamma");
  private static final Pattern HEAD = Pattern.compile(
      "(?:head\\.)?(mlp(?:\\.\\d+)?\\.(?:weight|bias)|last_layer\\.weight_[gv]"
          + "|last_layer\\.parametrizations\\.weight\\.original[01])");
  private static final Pattern HF_BLOCK = Pattern.compile("(?:encoder\\.)?layers?\\.(\\d+)\\.(.+)\\.(weight|bias)");
  private static final Pattern HF_ANY = Pattern.compile("embeddings\\..*|(?:encoder\\.)?layers?\\.\\d+\\..*|layernorm\\..*");
  private static final Pattern OFFICIAL_ANY =
      Pattern.compile("cls_token|pos_embed|register_tokens|mask_token|patch_embed\\..*|blocks\\.\\d+\\..*");
  private static final Pattern HF_LAYER_SCALE = Pattern.compile("(?:encoder\\.)?layers?\\.(\\d+)\\.layer_scale([12])\\.lambda1");

  /** HF block sub-module (4.x and 5.x names) -> official block sub-module; "q", "k", "v" are fused. */
  private static final Map<String, String> HF_BLOCK_PARTS = Map.ofEntries(
      Map.entry("attention.attention.query", "q"),
      Map.entry("attention.attention.key", "k"),
      Map.entry("attention.attention.value", "v"),
      Map.entry("attention.q_proj", "q"),
      Map.entry("attention.k_proj", "k"),
      Map.entry("attention.v_proj", "v"),
      Map.entry("attention.output.dense", "attn.proj"),
      Map.entry("attention.o_proj", "attn.proj"),
      Map.entry("intermediate.dense", "mlp.fc1"),
      Map.entry("mlp.fc1", "mlp.fc1"),
      Map.entry("output.dense", "mlp.fc2"),
      Map.entry("mlp.fc2", "mlp.fc2"),
      Map.entry("layernorm_before", "norm1"),
      Map.entry("layernorm_after", "norm2"),
      Map.entry("norm1", "norm1"), // Dinov2Model
      Map.entry("norm2", "norm2"));

  private WeightNames() {}

  // ---------------------------------------------------------------- import

  /**
   * Maps a file's tensors (PyTorch names and layouts) to dino4j's. {@code network} ("teacher" or
   * "student") picks one network from a file holding both ({@code teacher.*} and {@code
   * student.*}); null takes the teacher, DINO's evaluated network.
   */
  public static Mapped toDino(Map<String, Weights.Tensor> file, String network) {
    List<String> problems = new ArrayList<>();
    List<String> skipped = new ArrayList<>();
    Map<String, String> stripped = unwrap(file.keySet(), network, problems, skipped); // short -> original

    int hf = 0;
    int official = 0;
    for (String n : stripped.keySet()) {
      hf += HF_ANY.matcher(n).matches() ? 1 : 0;
      official += OFFICIAL_ANY.matcher(n).matches() ? 1 : 0;
    }
    if (hf > 0 && official > 0) {
      problems.add("the file mixes official (cls_token, blocks.N...) and Hugging Face (embeddings.*, "
          + "layers.N...) names; it must use one naming");
      return new Mapped(new Weights(), Naming.OFFICIAL, problems, skipped);
    }
    if (hf == 0 && official == 0 && stripped.keySet().stream().noneMatch(n -> HEAD.matcher(n).matches())) {
      List<String> first = new ArrayList<>(file.keySet()).subList(0, Math.min(8, file.size()));
      problems.add("no ViT weights recognised: expected the official DINO/timm names (cls_token, pos_embed, "
          + "blocks.N.attn.qkv.weight, ...) or Hugging Face ViT names (embeddings.cls_token, "
          + "encoder.layer.N.* or layers.N.*); the file starts with " + first);
      return new Mapped(new Weights(), Naming.OFFICIAL, problems, skipped);
    }
    Naming naming = hf > 0 ? Naming.HF : Naming.OFFICIAL;
    Map<String, Weights.Tensor> out = new LinkedHashMap<>(); // dino4j name -> tensor (dino4j layout)
    Map<String, String> origin = new LinkedHashMap<>(); // dino4j name -> file name, for duplicate messages
    Map<String, Weights.Tensor[]> qkv = new TreeMap<>(); // "blocks.N.attn.qkv.weight|bias" -> q, k, v
    Map<String, String[]> qkvOrigin = new TreeMap<>();
    for (Map.Entry<String, String> e : stripped.entrySet()) {
      String n = e.getKey();
      String orig = e.getValue();
      Weights.Tensor t = file.get(orig);
      Matcher head = HEAD.matcher(n);
      String target = null;
      if (head.matches() && !OFFICIAL_BACKBONE.matcher(n).matches()) {
        target = "head." + head.group(1)
            .replace("last_layer.parametrizations.weight.original0", "last_layer.weight_g")
            .replace("last_layer.parametrizations.weight.original1", "last_layer.weight_v");
      } else if (naming == Naming.OFFICIAL) {
        if (OFFICIAL_BACKBONE.matcher(n).matches()) {
          target = n;
        } else if (n.equals("head.weight") || n.equals("head.bias")) {
          skipped.add(orig + " (a classifier, not part of a DINO backbone or head)");
          continue;
        } else if (n.equals("mask_token")) {
          skipped.add(orig + " (masked-image-modelling token, unused by DINO)");
          continue;
        }
      } else {
        String hfTarget = hfToOfficial(n);
        if (hfTarget != null && hfTarget.startsWith("skip:")) {
          skipped.add(orig + " (" + hfTarget.substring(5) + ")");
          continue;
        }
        Matcher m = HF_BLOCK.matcher(n);
        if (hfTarget != null && hfTarget.length() == 1 && m.matches()) { // q, k or v of block N
          String key = "blocks." + m.group(1) + ".attn.qkv." + m.group(3);
          int part = "qkv".indexOf(hfTarget);
          Weights.Tensor[] parts = qkv.computeIfAbsent(key, k -> new Weights.Tensor[3]);
          String[] names = qkvOrigin.computeIfAbsent(key, k -> new String[3]);
          if (parts[part] != null) {
            problems.add(orig + " and " + names[part] + " both give " + key + " part " + hfTarget);
          }
          parts[part] = t;
          names[part] = orig;
          continue;
        }
        target = hfTarget;
      }
      if (target == null) {
        problems.add("unknown tensor " + orig + Arrays.toString(t.shape()));
        continue;
      }
      if (out.containsKey(target)) {
        problems.add(orig + " and " + origin.get(target) + " both give " + target);
        continue;
      }
      try {
        out.put(target, fromTorchLayout(target, t));
        origin.put(target, orig);
      } catch (IllegalArgumentException ex) {
        problems.add(orig + Arrays.toString(t.shape()) + ": " + ex.getMessage());
      }
    }
    for (Map.Entry<String, Weights.Tensor[]> e : qkv.entrySet()) {
      Weights.Tensor[] p = e.getValue();
      List<String> missing = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        if (p[i] == null) {
          missing.add(List.of("query", "key", "value").get(i));
        }
      }
      if (!missing.isEmpty()) {
        problems.add(e.getKey() + ": fusing needs query, key and value; missing " + String.join(", ", missing));
        continue;
      }
      try {
        out.put(e.getKey(), e.getKey().endsWith(".weight")
            ? WeightLayouts.fuseQkvWeight(p[0], p[1], p[2])
            : WeightLayouts.fuseQkvBias(p[0], p[1], p[2]));
      } catch (IllegalArgumentException ex) {
        problems.add(e.getKey() + " from " + String.join(", ", qkvOrigin.get(e.getKey())) + ": " + ex.getMessage());
      }
    }
    Weights w = new Weights();
    out.forEach((name, t) -> w.put(name, t.shape(), t.values()));
    return new Mapped(w, naming, problems, skipped);
  }

  /**
   * Strips the wrappers (student/teacher choice first, then module./backbone./_orig_mod./vit.);
   * returns stripped name -> original name.
   */
  private static Map<String, String> unwrap(
      Iterable<String> names, String network, List<String> problems, List<String> skipped) {
    boolean hasTeacher = false;
    boolean hasStudent = false;
    for (String n : names) {
      hasTeacher |= n.startsWith("teacher.");
      hasStudent |= n.startsWith("student.");
    }
    String keep = null;
    if (hasTeacher || hasStudent) {
      keep = network != null ? network : hasTeacher ? "teacher" : "student";
      if (keep.equals("teacher") && !hasTeacher || keep.equals("student") && !hasStudent) {
        problems.add("--network " + keep + ": the file has no " + keep + ".* tensors (it has "
            + (hasTeacher ? "teacher.*" : "student.*") + ")");
      }
    }
    Map<String, String> out = new LinkedHashMap<>();
    int other = 0;
    for (String n : names) {
      String s = n;
      if (keep != null) {
        if (s.startsWith(keep + ".")) {
          s = s.substring(keep.length() + 1);
        } else if (s.startsWith("teacher.") || s.startsWith("student.")) {
          other++;
          continue;
        }
      }
      boolean again = true;
      while (again) {
        again = false;
        for (String w : WRAPPERS) {
          if (s.startsWith(w)) {
            s = s.substring(w.length());
            again = true;
          }
        }
      }
      if (out.containsKey(s)) {
        problems.add(n + " and " + out.get(s) + " are the same tensor " + s + " once the prefixes are removed");
        continue;
      }
      out.put(s, n);
    }
    if (other > 0) {
      skipped.add((keep.equals("teacher") ? "student" : "teacher") + ".* (" + other + " tensors; --network "
          + keep + " imports the " + keep + ")");
    }
    return out;
  }

  /** An HF name (prefixes stripped) -> official name, "q"/"k"/"v", "skip:why", or null if unknown. */
  private static String hfToOfficial(String n) {
    switch (n) {
      case "embeddings.cls_token":
        return "cls_token";
      case "embeddings.position_embeddings":
        return "pos_embed";
      case "embeddings.register_tokens":
        return "register_tokens";
      case "embeddings.patch_embeddings.projection.weight":
        return "patch_embed.proj.weight";
      case "embeddings.patch_embeddings.projection.bias":
        return "patch_embed.proj.bias";
      case "layernorm.weight":
        return "norm.weight";
      case "layernorm.bias":
        return "norm.bias";
      case "embeddings.mask_token":
        return "skip:masked-image-modelling token, unused by DINO";
      case "pooler.dense.weight", "pooler.dense.bias":
        return "skip:Hugging Face pooler, not part of a DINO backbone";
      case "classifier.weight", "classifier.bias":
        return "skip:a classifier, not part of a DINO backbone or head";
      default:
        break;
    }
    Matcher ls = HF_LAYER_SCALE.matcher(n);
    if (ls.matches()) {
      return "blocks." + ls.group(1) + ".ls" + ls.group(2) + ".gamma";
    }
    Matcher m = HF_BLOCK.matcher(n);
    if (!m.matches()) {
      return null;
    }
    String part = HF_BLOCK_PARTS.get(m.group(2));
    if (part == null) {
      return null;
    }
    return part.length() == 1 ? part : "blocks." + m.group(1) + "." + part + "." + m.group(3);
  }

  /** PyTorch layout -> dino4j layout for one dino4j-named tensor; rank checked. */
  static Weights.Tensor fromTorchLayout(String name, Weights.Tensor t) {
    Layout l = layoutOf(name);
    requireRank(name, t, l);
    return switch (l) {
      case CONV -> WeightLayouts.convFromTorch(t);
      case LINEAR -> WeightLayouts.transpose(t);
      default -> t;
    };
  }

  /** dino4j layout -> PyTorch layout. */
  static Weights.Tensor toTorchLayout(String name, Weights.Tensor t) {
    Layout l = layoutOf(name);
    requireRank(name, t, l);
    return switch (l) {
      case CONV -> WeightLayouts.convToTorch(t);
      case LINEAR -> WeightLayouts.transpose(t);
      default -> t;
    };
  }

  private enum Layout {
    CONV(4, "a conv kernel [out, in, kh, kw]"),
    LINEAR(2, "a linear weight [out, in]"),
    VECTOR(1, "a vector"),
    TOKENS(3, "[1, tokens, dim]");

    final int rank;
    final String what;

    Layout(int rank, String what) {
      this.rank = rank;
      this.what = what;
    }
  }

  private static Layout layoutOf(String name) {
    if (name.equals("patch_embed.proj.weight") || name.startsWith("patch_embed.stem.") && name.endsWith(".weight")) {
      return Layout.CONV; // the conv stem's filters too: [3, 3, C, C'] here, [C', C, 3, 3] in PyTorch
    }
    if (name.equals("cls_token") || name.equals("pos_embed") || name.equals("register_tokens")) {
      return Layout.TOKENS;
    }
    if (name.endsWith(".weight") && !name.contains("norm") || name.endsWith(".weight_v") || name.endsWith(".weight_g")) {
      return Layout.LINEAR; // the weight-norm gain [K, 1] transposes to [1, K] like a linear weight
    }
    return Layout.VECTOR;
  }

  private static void requireRank(String name, Weights.Tensor t, Layout l) {
    if (t.shape().length != l.rank) {
      throw new IllegalArgumentException("shape " + Arrays.toString(t.shape()) + " is not rank " + l.rank + " ("
          + name + " is " + l.what + ")");
    }
  }

  // ---------------------------------------------------------------- export

  /**
   * dino4j weights -> PyTorch names and layouts. {@link Naming#OFFICIAL}: the head's tensors keep
   * {@code head.*} and, when there is a head, the backbone's get {@code backbone.}, so the file is
   * the state_dict of the reference's {@code MultiCropWrapper(VisionTransformer, DINOHead)}; with
   * the backbone only, the names are bare, as the reference's {@code VisionTransformer} and timm's
   * have them (and as in DINO's published {@code *_pretrain.pth}). The HF namings hold the
   * backbone only ({@code ViTModel} has no DINO head). {@link Naming#HF_DINOV2} is transformers
   * 5.x {@code Dinov2Model}'s ({@code encoder.layer.N.attention.q_proj}, ..., {@code norm1}, {@code
   * layer_scale1.lambda1}; with registers: {@code Dinov2WithRegistersModel}'s); its {@code
   * embeddings.mask_token}, which DINO does not train, is written as zeros, Dinov2's own init, so
   * that {@code load_state_dict(strict=True)} takes the file.
   */
  public static Map<String, Weights.Tensor> fromDino(Weights w, Naming naming) {
    boolean withHead = w.all().keySet().stream().anyMatch(n -> n.startsWith("head."));
    if (withHead && naming != Naming.OFFICIAL) {
      throw new IllegalArgumentException("the " + naming.cliName + " naming holds a backbone only (a Hugging Face "
          + "ViTModel has no DINO head); export the backbone only or use the official naming");
    }
    boolean dinov2 = w.all().keySet().stream().anyMatch(n -> n.equals("register_tokens") || n.endsWith(".gamma"));
    if (dinov2 && (naming == Naming.HF || naming == Naming.HF_LEGACY)) {
      throw new IllegalArgumentException("the " + naming.cliName + " naming is Hugging Face's ViTModel, which has no "
          + "registers or LayerScale (this model has " + (w.all().containsKey("register_tokens") ? "registers" : "LayerScale")
          + "): use --naming hf-dinov2 (Dinov2Model) or official");
    }
    Map<String, Weights.Tensor> out = new LinkedHashMap<>();
    if (naming == Naming.HF_DINOV2) {
      long dim = w.get("cls_token").shape()[2];
      out.put("embeddings.mask_token", new Weights.Tensor(new long[] {1, dim}, new float[(int) dim]));
    }
    for (Map.Entry<String, Weights.Tensor> e : w.all().entrySet()) {
      String n = e.getKey();
      Weights.Tensor t = e.getValue();
      if (naming == Naming.OFFICIAL) {
        // iBOT's separate head (parity dumps) sits beside the DINO head in the wrapper, as DINOv2's ibot_head
        String name = n.startsWith("head.") || n.startsWith("ibot_head.") || !withHead ? n : "backbone." + n;
        out.put(name, toTorchLayout(n, t));
        continue;
      }
      Matcher g = Pattern.compile("blocks\\.(\\d+)\\.ls([12])\\.gamma").matcher(n);
      if (g.matches()) { // only a DINOv2 model has these, and only hf-dinov2 gets here with them
        out.put("encoder.layer." + g.group(1) + ".layer_scale" + g.group(2) + ".lambda1", t);
        continue;
      }
      Matcher m = Pattern.compile("blocks\\.(\\d+)\\.(.+)\\.(weight|bias)").matcher(n);
      if (!m.matches()) {
        out.put(hfName(naming, n), toTorchLayout(n, t));
        continue;
      }
      boolean v2 = naming == Naming.HF_DINOV2;
      String block = (naming == Naming.HF ? "layers." : "encoder.layer.") + m.group(1) + ".";
      String kind = m.group(3);
      if (m.group(2).equals("attn.qkv")) {
        List<Weights.Tensor> parts = kind.equals("weight")
            ? WeightLayouts.splitQkvWeight(t)
            : WeightLayouts.splitQkvBias(t);
        String[] names = naming == Naming.HF || v2
            ? new String[] {"attention.q_proj", "attention.k_proj", "attention.v_proj"}
            : new String[] {"attention.attention.query", "attention.attention.key", "attention.attention.value"};
        for (int p = 0; p < 3; p++) {
          out.put(block + names[p] + "." + kind, parts.get(p));
        }
        continue;
      }
      String sub = switch (m.group(2)) {
        case "norm1" -> v2 ? "norm1" : "layernorm_before";
        case "norm2" -> v2 ? "norm2" : "layernorm_after";
        case "attn.proj" -> naming == Naming.HF || v2 ? "attention.o_proj" : "attention.output.dense";
        case "mlp.fc1" -> naming == Naming.HF || v2 ? "mlp.fc1" : "intermediate.dense";
        case "mlp.fc2" -> naming == Naming.HF || v2 ? "mlp.fc2" : "output.dense";
        default -> throw new IllegalArgumentException("no Hugging Face name for " + n);
      };
      out.put(block + sub + "." + kind, toTorchLayout(n, t));
    }
    return out;
  }

  private static String hfName(Naming naming, String n) {
    return switch (n) {
      case "cls_token" -> "embeddings.cls_token";
      case "pos_embed" -> "embeddings.position_embeddings";
      case "register_tokens" -> "embeddings.register_tokens";
      case "patch_embed.proj.weight" -> "embeddings.patch_embeddings.projection.weight";
      case "patch_embed.proj.bias" -> "embeddings.patch_embeddings.projection.bias";
      case "norm.weight" -> "layernorm.weight";
      case "norm.bias" -> "layernorm.bias";
      default -> throw new IllegalArgumentException("no " + naming.cliName + " name for " + n
          + (n.startsWith("patch_embed.stem.") ? ": Hugging Face's ViTs have no conv stem (model.stem: conv); use the"
              + " official naming" : ""));
    };
  }
}
