package dev.dino4j.export;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.ParamSpec;
import dev.dino4j.model.Weights;
import dev.dino4j.train.CheckpointWeights;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Name and layout mapping between dino4j and the official/timm and Hugging Face namings. */
class WeightNamesTest {

  static final int DIM = 8;
  static final int PATCH = 2;

  /** ViT dim 8, depth 2, heads 2, patch 2 on 6-px globals (3x3 grid); head hidden 12, bottleneck 4, K 10. */
  static DinoConfig config() {
    return ConfigLoader.fromYaml("", List.of("model.arch=custom", "model.patch_size=2", "model.embed_dim=8",
        "model.depth=2", "model.heads=2", "augment.global_size=6", "augment.local_size=4", "head.out_dim=10",
        "head.hidden_dim=12", "head.bottleneck_dim=4", "head.layers=3"));
  }

  static Weights random(DinoConfig cfg, long seed) {
    Random r = new Random(seed);
    Weights w = new Weights();
    for (ParamSpec s : CheckpointWeights.specs(cfg)) {
      float[] v = new float[s.size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) r.nextGaussian();
      }
      w.put(s.name(), s.shape(), v);
    }
    return w;
  }

  private static Weights backbone(Weights w) {
    Weights b = new Weights();
    w.all().forEach((n, t) -> {
      if (!n.startsWith("head.")) {
        b.put(n, t.shape(), t.values());
      }
    });
    return b;
  }

  private static void assertSame(Weights want, Weights got) {
    assertEquals(want.all().keySet(), got.all().keySet());
    for (String n : want.all().keySet()) {
      assertArrayEquals(want.get(n).shape(), got.get(n).shape(), n);
      assertArrayEquals(want.get(n).values(), got.get(n).values(), 0f, n);
    }
  }

  private static float at(Weights.Tensor t, int... idx) {
    int flat = 0;
    for (int i = 0; i < idx.length; i++) {
      flat = flat * (int) t.shape()[i] + idx[i];
    }
    return t.values()[flat];
  }

  @Test
  void officialNamingHasPyTorchLayoutsAndMapsBackExactly() {
    Weights w = random(config(), 1);
    Map<String, Weights.Tensor> torch = WeightNames.fromDino(w, WeightNames.Naming.OFFICIAL);
    // with a head: MultiCropWrapper's state_dict (backbone.*, head.*)
    assertTrue(torch.containsKey("backbone.cls_token") && torch.containsKey("head.mlp.4.bias"), torch.keySet().toString());
    Weights.Tensor conv = torch.get("backbone.patch_embed.proj.weight");
    assertArrayEquals(new long[] {DIM, 3, PATCH, PATCH}, conv.shape());
    Weights.Tensor tfConv = w.get("patch_embed.proj.weight"); // [kh, kw, in, out]
    assertEquals(at(tfConv, 1, 0, 2, 5), at(conv, 5, 2, 1, 0), 0f, "torch[o][c][y][x] = tf[y][x][c][o]");
    Weights.Tensor qkv = torch.get("backbone.blocks.1.attn.qkv.weight");
    assertArrayEquals(new long[] {3 * DIM, DIM}, qkv.shape());
    assertEquals(at(w.get("blocks.1.attn.qkv.weight"), 3, 17), at(qkv, 17, 3), 0f, "linear: torch[o][i] = tf[i][o]");
    assertArrayEquals(new long[] {10, 1}, torch.get("head.last_layer.weight_g").shape());
    assertArrayEquals(new long[] {10, 4}, torch.get("head.last_layer.weight_v").shape());
    assertArrayEquals(new long[] {1, 10, DIM}, torch.get("backbone.pos_embed").shape());
    WeightNames.Mapped back = WeightNames.toDino(torch, null);
    assertEquals(List.of(), back.problems());
    assertEquals(WeightNames.Naming.OFFICIAL, back.naming());
    assertSame(w, back.weights());
    // backbone only: bare names, as DINO's *_pretrain.pth and timm
    Map<String, Weights.Tensor> bare = WeightNames.fromDino(backbone(w), WeightNames.Naming.OFFICIAL);
    assertTrue(bare.containsKey("cls_token") && bare.containsKey("blocks.0.attn.qkv.weight"));
    assertSame(backbone(w), WeightNames.toDino(bare, null).weights());
  }

  @Test
  void wrapperPrefixesAndTheNetworkChoiceOfAFullCheckpoint() {
    Weights teacher = random(config(), 2);
    Weights student = random(config(), 3);
    Map<String, Weights.Tensor> file = new LinkedHashMap<>();
    WeightNames.fromDino(teacher, WeightNames.Naming.OFFICIAL).forEach((n, t) -> file.put("teacher." + n, t));
    WeightNames.fromDino(student, WeightNames.Naming.OFFICIAL).forEach((n, t) -> file.put("student.module." + n, t));
    WeightNames.Mapped t = WeightNames.toDino(file, null);
    assertEquals(List.of(), t.problems());
    assertSame(teacher, t.weights());
    assertTrue(t.skipped().get(0).startsWith("student.* ("), t.skipped().toString());
    WeightNames.Mapped s = WeightNames.toDino(file, "student");
    assertEquals(List.of(), s.problems());
    assertSame(student, s.weights());
    // a DDP-wrapped backbone with a separately saved, un-prefixed head, torch.compile's prefix too
    Map<String, Weights.Tensor> mixed = new LinkedHashMap<>();
    WeightNames.fromDino(teacher, WeightNames.Naming.OFFICIAL).forEach((n, x) ->
        mixed.put(n.startsWith("head.") ? n.substring(5) : "module._orig_mod." + n, x));
    WeightNames.Mapped m = WeightNames.toDino(mixed, null);
    assertEquals(List.of(), m.problems());
    assertSame(teacher, m.weights());
    // only a student in the file, but the teacher asked for
    Map<String, Weights.Tensor> onlyStudent = new LinkedHashMap<>();
    file.forEach((n, x) -> {
      if (n.startsWith("student.")) {
        onlyStudent.put(n, x);
      }
    });
    assertTrue(WeightNames.toDino(onlyStudent, "teacher").problems().get(0).contains("no teacher.* tensors"));
  }

  @Test
  void weightNormParametrizationNamesAreAccepted() {
    Weights w = random(config(), 4);
    Map<String, Weights.Tensor> file = new LinkedHashMap<>();
    WeightNames.fromDino(w, WeightNames.Naming.OFFICIAL).forEach((n, t) -> file.put(n
        .replace("last_layer.weight_g", "last_layer.parametrizations.weight.original0")
        .replace("last_layer.weight_v", "last_layer.parametrizations.weight.original1"), t));
    WeightNames.Mapped m = WeightNames.toDino(file, null);
    assertEquals(List.of(), m.problems());
    assertSame(w, m.weights());
  }

  @Test
  void huggingFaceNamingsFuseQkvAndMapBackExactly() {
    Weights w = backbone(random(config(), 5));
    for (WeightNames.Naming naming : List.of(WeightNames.Naming.HF, WeightNames.Naming.HF_LEGACY)) {
      Map<String, Weights.Tensor> hf = WeightNames.fromDino(w, naming);
      String q = naming == WeightNames.Naming.HF ? "layers.1.attention.q_proj" : "encoder.layer.1.attention.attention.query";
      String k = naming == WeightNames.Naming.HF ? "layers.1.attention.k_proj" : "encoder.layer.1.attention.attention.key";
      String v = naming == WeightNames.Naming.HF ? "layers.1.attention.v_proj" : "encoder.layer.1.attention.attention.value";
      assertArrayEquals(new long[] {DIM, DIM}, hf.get(q + ".weight").shape());
      Weights.Tensor qkv = w.get("blocks.1.attn.qkv.weight"); // [in, q|k|v out]
      for (int o = 0; o < DIM; o++) {
        for (int i = 0; i < DIM; i++) {
          assertEquals(at(qkv, i, o), at(hf.get(q + ".weight"), o, i), 0f);
          assertEquals(at(qkv, i, DIM + o), at(hf.get(k + ".weight"), o, i), 0f);
          assertEquals(at(qkv, i, 2 * DIM + o), at(hf.get(v + ".weight"), o, i), 0f);
        }
        assertEquals(w.get("blocks.1.attn.qkv.bias").values()[DIM + o], hf.get(k + ".bias").values()[o], 0f);
      }
      assertTrue(hf.containsKey("embeddings.position_embeddings") && hf.containsKey("layernorm.bias"), hf.keySet().toString());
      // with the prefix and the extras of ViTModel / ViTForImageClassification
      Map<String, Weights.Tensor> file = new LinkedHashMap<>();
      hf.forEach((n, t) -> file.put("vit." + n, t));
      file.put("vit.pooler.dense.weight", new Weights.Tensor(new long[] {DIM, DIM}, new float[DIM * DIM]));
      file.put("classifier.bias", new Weights.Tensor(new long[] {3}, new float[3]));
      file.put("vit.embeddings.mask_token", new Weights.Tensor(new long[] {1, 1, DIM}, new float[DIM]));
      WeightNames.Mapped m = WeightNames.toDino(file, null);
      assertEquals(List.of(), m.problems(), naming.toString());
      assertEquals(WeightNames.Naming.HF, m.naming());
      assertSame(w, m.weights());
      assertEquals(3, m.skipped().size(), m.skipped().toString());
      assertTrue(m.skipped().get(0).contains("vit.pooler.dense.weight (Hugging Face pooler"), m.skipped().toString());
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> WeightNames.fromDino(random(config(), 5), WeightNames.Naming.HF));
    assertTrue(e.getMessage().contains("backbone only"), e.getMessage());
  }

  /** {@link #config()} with DINOv2's options: 2 registers and LayerScale. */
  static DinoConfig dinov2Config() {
    return ConfigLoader.fromYaml("", List.of("model.arch=custom", "model.patch_size=2", "model.embed_dim=8",
        "model.depth=2", "model.heads=2", "augment.global_size=6", "augment.local_size=4", "head.out_dim=10",
        "head.hidden_dim=12", "head.bottleneck_dim=4", "head.layers=3", "model.registers=2",
        "model.layerscale_init=1e-5"));
  }

  @Test
  void dinov2RegistersAndLayerScaleMapBothWays() {
    Weights w = random(dinov2Config(), 11);
    assertTrue(w.has("register_tokens") && w.has("blocks.1.ls2.gamma"), w.all().keySet().toString());
    // official DINOv2 names: as dino4j's, bare for a backbone; the mask token is skipped on import
    Map<String, Weights.Tensor> official = new LinkedHashMap<>(WeightNames.fromDino(backbone(w), WeightNames.Naming.OFFICIAL));
    assertArrayEquals(new long[] {1, 2, DIM}, official.get("register_tokens").shape());
    assertTrue(official.containsKey("blocks.0.ls1.gamma"));
    official.put("mask_token", new Weights.Tensor(new long[] {1, DIM}, new float[DIM]));
    WeightNames.Mapped back = WeightNames.toDino(official, null);
    assertEquals(List.of(), back.problems());
    assertSame(backbone(w), back.weights());
    assertTrue(back.skipped().get(0).startsWith("mask_token"), back.skipped().toString());
    // Hugging Face Dinov2WithRegistersModel (transformers 5.x) names, and 4.x names on import
    Map<String, Weights.Tensor> hf = WeightNames.fromDino(backbone(w), WeightNames.Naming.HF_DINOV2);
    for (String n : List.of("embeddings.register_tokens", "embeddings.mask_token", "encoder.layer.1.norm1.weight",
        "encoder.layer.1.attention.q_proj.weight", "encoder.layer.1.attention.o_proj.bias",
        "encoder.layer.1.layer_scale1.lambda1", "encoder.layer.1.layer_scale2.lambda1", "encoder.layer.0.mlp.fc2.weight")) {
      assertTrue(hf.containsKey(n), n + " not in " + hf.keySet());
    }
    assertArrayEquals(w.get("blocks.1.ls2.gamma").values(), hf.get("encoder.layer.1.layer_scale2.lambda1").values(), 0f);
    WeightNames.Mapped fromHf = WeightNames.toDino(hf, null);
    assertEquals(List.of(), fromHf.problems());
    assertSame(backbone(w), fromHf.weights());
    Map<String, Weights.Tensor> legacy = new LinkedHashMap<>();
    hf.forEach((n, t) -> legacy.put(n.replace("attention.q_proj", "attention.attention.query")
        .replace("attention.k_proj", "attention.attention.key").replace("attention.v_proj", "attention.attention.value")
        .replace("attention.o_proj", "attention.output.dense"), t));
    assertSame(backbone(w), WeightNames.toDino(legacy, null).weights());
    // ViTModel has neither: a clear error instead of a file that silently loses them
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> WeightNames.fromDino(backbone(w), WeightNames.Naming.HF));
    assertTrue(e.getMessage().contains("hf-dinov2"), e.getMessage());
  }

  /** model.stem: conv: the stem's filters go to PyTorch's Conv2d layout and back exactly; HF naming is refused. */
  @Test
  void convStemMapsToConvLayoutsAndItsConfigIsChecked() {
    DinoConfig conv = ConfigLoader.fromYaml("", List.of("model.arch=custom", "model.patch_size=2", "model.embed_dim=8",
        "model.depth=2", "model.heads=2", "augment.global_size=6", "augment.local_size=4", "head.out_dim=10",
        "head.hidden_dim=12", "head.bottleneck_dim=4", "head.layers=3", "model.stem=conv"));
    Weights w = backbone(random(conv, 12));
    assertArrayEquals(new long[] {3, 3, 3, DIM / 2}, w.get("patch_embed.stem.0.weight").shape()); // one stride-2 stage
    Map<String, Weights.Tensor> torch = WeightNames.fromDino(w, WeightNames.Naming.OFFICIAL);
    Weights.Tensor stem = torch.get("patch_embed.stem.0.weight");
    assertArrayEquals(new long[] {DIM / 2, 3, 3, 3}, stem.shape());
    assertEquals(at(w.get("patch_embed.stem.0.weight"), 2, 1, 0, 3), at(stem, 3, 0, 2, 1), 0f,
        "torch[o][c][y][x] = tf[y][x][c][o]");
    assertArrayEquals(new long[] {DIM, DIM / 2, 1, 1}, torch.get("patch_embed.proj.weight").shape());
    WeightNames.Mapped back = WeightNames.toDino(torch, null);
    assertEquals(List.of(), back.problems());
    assertSame(w, back.weights());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> WeightNames.fromDino(w, WeightNames.Naming.HF));
    assertTrue(e.getMessage().contains("no conv stem"), e.getMessage());
    // the weights say which stem they are for
    assertEquals(List.of(), SafetensorsWeights.architectureMismatches(w, conv, true));
    List<String> wrong = SafetensorsWeights.architectureMismatches(w, config(), true);
    assertTrue(wrong.size() == 1 && wrong.get(0).contains("set model.stem=conv"), wrong.toString());
    List<String> patch = SafetensorsWeights.architectureMismatches(backbone(random(config(), 13)), conv, true);
    assertTrue(patch.size() == 1 && patch.get(0).contains("set model.stem=patch"), patch.toString());
  }

  @Test
  void unknownIncompleteAndMisShapedTensorsAreAllListed() {
    Weights w = backbone(random(config(), 6));
    Map<String, Weights.Tensor> hf = new LinkedHashMap<>(WeightNames.fromDino(w, WeightNames.Naming.HF));
    hf.remove("layers.0.attention.v_proj.weight");
    hf.put("layers.0.attention.rotary.weight", new Weights.Tensor(new long[] {2}, new float[2]));
    hf.put("layernorm.weight", new Weights.Tensor(new long[] {2, 4}, new float[8]));
    WeightNames.Mapped m = WeightNames.toDino(hf, null);
    String all = String.join("\n", m.problems());
    assertEquals(3, m.problems().size(), all);
    assertTrue(all.contains("blocks.0.attn.qkv.weight: fusing needs query, key and value; missing value"), all);
    assertTrue(all.contains("unknown tensor layers.0.attention.rotary.weight[2]"), all);
    assertTrue(all.contains("layernorm.weight[2, 4]: shape [2, 4] is not rank 1"), all);

    Map<String, Weights.Tensor> official = new LinkedHashMap<>(WeightNames.fromDino(w, WeightNames.Naming.OFFICIAL));
    official.put("blocks.0.attn.qkv.weight", new Weights.Tensor(new long[] {24, 8, 1}, new float[192]));
    official.put("fc_norm.weight", new Weights.Tensor(new long[] {8}, new float[8]));
    official.put("head.weight", new Weights.Tensor(new long[] {5, 8}, new float[40])); // timm classifier
    WeightNames.Mapped o = WeightNames.toDino(official, null);
    assertEquals(2, o.problems().size(), o.problems().toString());
    assertTrue(o.problems().get(0).contains("blocks.0.attn.qkv.weight[24, 8, 1]: shape [24, 8, 1] is not rank 2"), o.problems().toString());
    assertTrue(o.problems().get(1).contains("unknown tensor fc_norm.weight[8]"), o.problems().toString());
    assertTrue(o.skipped().get(0).startsWith("head.weight (a classifier"), o.skipped().toString());

    Map<String, Weights.Tensor> both = new LinkedHashMap<>(official);
    both.put("embeddings.cls_token", new Weights.Tensor(new long[] {1, 1, 8}, new float[8]));
    assertTrue(WeightNames.toDino(both, null).problems().get(0).contains("mixes official"));
    Map<String, Weights.Tensor> other = Map.of("conv1.weight", new Weights.Tensor(new long[] {1}, new float[1]));
    assertTrue(WeightNames.toDino(other, null).problems().get(0).contains("no ViT weights recognised"));
  }

  @Test
  void qkvFuseAndSplitAreInverse() {
    Random r = new Random(9);
    for (int[] dims : new int[][] {{8, 8}, {6, 10}}) {
      Weights.Tensor[] parts = new Weights.Tensor[3];
      Weights.Tensor[] biases = new Weights.Tensor[3];
      for (int p = 0; p < 3; p++) {
        float[] v = new float[dims[0] * dims[1]];
        float[] b = new float[dims[0]];
        for (int i = 0; i < v.length; i++) {
          v[i] = r.nextFloat();
        }
        for (int i = 0; i < b.length; i++) {
          b[i] = r.nextFloat();
        }
        parts[p] = new Weights.Tensor(new long[] {dims[0], dims[1]}, v);
        biases[p] = new Weights.Tensor(new long[] {dims[0]}, b);
      }
      Weights.Tensor fused = WeightLayouts.fuseQkvWeight(parts[0], parts[1], parts[2]);
      assertArrayEquals(new long[] {dims[1], 3L * dims[0]}, fused.shape());
      // the same as the official fused [3D, D] (rows q | k | v) transposed
      float[] rows = new float[3 * dims[0] * dims[1]];
      for (int p = 0; p < 3; p++) {
        System.arraycopy(parts[p].values(), 0, rows, p * dims[0] * dims[1], dims[0] * dims[1]);
      }
      Weights.Tensor official = WeightLayouts.transpose(new Weights.Tensor(new long[] {3L * dims[0], dims[1]}, rows));
      assertArrayEquals(official.values(), fused.values(), 0f);
      List<Weights.Tensor> split = WeightLayouts.splitQkvWeight(fused);
      List<Weights.Tensor> splitB = WeightLayouts.splitQkvBias(WeightLayouts.fuseQkvBias(biases[0], biases[1], biases[2]));
      for (int p = 0; p < 3; p++) {
        assertArrayEquals(parts[p].values(), split.get(p).values(), 0f);
        assertArrayEquals(parts[p].shape(), split.get(p).shape());
        assertArrayEquals(biases[p].values(), splitB.get(p).values(), 0f);
      }
    }
    Weights.Tensor conv = new Weights.Tensor(new long[] {5, 3, 2, 4}, new float[120]);
    for (int i = 0; i < 120; i++) {
      conv.values()[i] = i;
    }
    Weights.Tensor back = WeightLayouts.convToTorch(WeightLayouts.convFromTorch(conv));
    assertArrayEquals(conv.shape(), back.shape());
    assertArrayEquals(conv.values(), back.values(), 0f);
    assertTrue(Arrays.equals(new long[] {2, 4, 3, 5}, WeightLayouts.convFromTorch(conv).shape()));
  }
}
