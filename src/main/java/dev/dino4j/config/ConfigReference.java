package dev.dino4j.config;

import dev.dino4j.config.ConfigSchema.Key;
import dev.dino4j.config.ConfigSchema.Section;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The config reference: for every key of the schema its type, default (from {@link Defaults}),
 * allowed values and one line of what it does and why. {@code dino4j config --reference} prints it
 * as Markdown, which is docs/config.md; {@code ConfigReferenceTest} fails when a schema key has no
 * entry here, an entry names no key, docs/config.md differs from {@link #markdown()}, or a stated
 * bound is not what {@link ConfigValidator} enforces. So the reference cannot drift from the code.
 *
 * <p>Allowed values use a few fixed forms that the test checks against the validator: {@code >= n},
 * {@code > 0}, {@code [a, b]}, {@code [a, b)}, {@code [0, train.epochs]} and {@code one of ...}
 * (generated from the validator's own lists).
 */
public final class ConfigReference {
  private ConfigReference() {}

  /** One key's documentation. {@code allowed} is one of the class comment's forms, or free text. */
  public record Entry(String key, String allowed, String why) {}

  private static final List<Entry> ENTRIES = List.of(
      // ---- data ----
      e("data.source", oneOf(ConfigValidator.SOURCES),
          "where the images come from; the built-in Fashion-MNIST default means a first run needs no data preparation"),
      e("data.path", "a path, or \"\"",
          "dataset location; \"\" = the source's default (/usr/share/datasets/fashion-mnist, then data/fashion-mnist)"),
      e("data.split", oneOf(ConfigValidator.SPLITS),
          "IDX and CIFAR sources: pre-training uses the training images; test is for evaluation"),
      e("data.labels", oneOf(ConfigValidator.LABELS),
          "image folders: class subfolders (folders), none, or auto = class subfolders when there are any"),
      e("data.bad_files", oneOf(ConfigValidator.BAD_FILES),
          "a multi-day run must not end on one corrupt file: skip logs, counts and skips it; fail stops at the first"),
      e("data.max_pixels", ">= 1",
          "larger images are refused from their header, before decoding: Pillow's decompression-bomb threshold (89.5 MP)"),
      e("data.workers", ">= 1", "augmentation threads; one per core of a 2-core machine"),
      e("data.prefetch", ">= 1",
          "batches built ahead: enough to hide augmentation jitter, few enough to bound memory"),
      e("data.mean", "3 finite numbers [r, g, b]",
          "per-channel normalisation; ImageNet statistics as DINO; grayscale recipes set their own"),
      e("data.std", "3 finite numbers > 0", "per-channel normalisation, as data.mean"),
      // ---- augment ----
      e("augment.global_size", ">= 1",
          "side of the 2 global views in px: the backbone's training resolution; a multiple of model.patch_size"),
      e("augment.local_size", ">= 1",
          "side of the local views in px (<= global_size): small, so many of them stay cheap (multi-crop)"),
      e("augment.local_crops", ">= 0",
          "number of local views (0 = global views only); the reference code's 8 (the paper also reports 6 and 10)"),
      e("augment.global_scale", "[min, max], 0 < min <= max <= 1",
          "area share of the global crops: they keep most of the image, so the teacher sees the whole object"),
      e("augment.local_scale", "[min, max], 0 < min <= max <= 1",
          "area share of the local crops: parts of the image; matching parts to the whole is DINO's signal"),
      e("augment.flip_p", "[0, 1]", "horizontal flip probability; flips are label-preserving for natural images"),
      e("augment.color_jitter_p", "[0, 1]",
          "probability of colour jitter, which stops features keying on colour histograms (BYOL/DINO)"),
      e("augment.brightness", ">= 0", "colour-jitter strength, torchvision ColorJitter semantics"),
      e("augment.contrast", ">= 0", "colour-jitter strength, as brightness"),
      e("augment.saturation", ">= 0", "colour-jitter strength, as brightness (a no-op on gray images)"),
      e("augment.hue", "[0, 0.5]", "colour-jitter hue shift, as brightness (a no-op on gray images)"),
      e("augment.grayscale_p", "[0, 1]", "random grayscale: sometimes drop colour entirely"),
      e("augment.blur_p_global1", "[0, 1]",
          "Gaussian blur probability of global view 1; asymmetric views (BYOL/DINO): view 1 is always blurred ..."),
      e("augment.blur_p_global2", "[0, 1]", "... and global view 2 rarely"),
      e("augment.blur_p_local", "[0, 1]", "blur probability of the local views: half the time"),
      e("augment.blur_sigma_min", "> 0", "blur sigma range in px, drawn uniformly per view"),
      e("augment.blur_sigma_max", ">= blur_sigma_min", "upper end of the blur sigma range"),
      e("augment.solarize_p", "[0, 1]",
          "solarization probability of global view 2 only, the view that is rarely blurred"),
      // ---- model ----
      e("model.arch", oneOf(ModelArch.allowedNames()),
          "a row of the ViT size table (tiny 192/12/3, small 384/12/6, base 768/12/12), or custom; small = DINO's ViT-S"),
      e("model.patch_size", ">= 1",
          "patch side in px; divides both crop sizes; 16 is the \"/16\" of ViT-S/16 (224 / 16 = 14 x 14 tokens)"),
      e("model.embed_dim", ">= 1",
          "token width; from the arch row unless set (required for custom); a multiple of model.heads"),
      e("model.depth", ">= 1", "transformer blocks; from the arch row unless set (required for custom)"),
      e("model.heads", ">= 1", "attention heads; from the arch row unless set (required for custom)"),
      e("model.mlp_ratio", "> 0", "MLP width / embed_dim; 4 is the standard ViT block"),
      e("model.drop_path_rate", "[0, 1)",
          "stochastic depth at the last block, rising linearly from 0, student only: regularises ViT-S (DINO's default)"),
      e("model.interpolate_offset", "[0, 1)",
          "pos-embed resampling for other grids: 0 resamples to the size (timm, Hugging Face ViT); 0.1 is the official "
              + "DINO and DINOv2 code's scale_factor (out + 0.1) / in: use it for their checkpoints (docs/serving.md)"),
      e("model.registers", ">= 0",
          "DINOv2's register tokens (\"ViTs need registers\"): extra learned tokens after CLS, without position "
              + "embedding, dropped at the output; they absorb the high-norm artefact tokens of the attention maps; 0 = none, DINOv2 uses 4"),
      e("model.layerscale_init", ">= 0",
          "DINOv2's LayerScale: a learned per-channel gain on both residual branches, starting at this value "
              + "(DINOv2: 1e-5); folded into attn.proj and fc2, so it costs nothing per step; 0 = off (DINO)"),
      e("model.stem", "patch | conv",
          "how images become tokens: patch = DINO's stride-p projection of each p x p patch; conv = log2(p) stride-2 "
              + "3x3 convolutions with GELU (widths D/2^k .. D/2), then a 1x1 projection to D (\"Early convolutions help "
              + "transformers see better\", Xiao et al. 2021): a locality prior for small data at ~3% more FLOPs "
              + "(tiny recipe); p must be a power of two and divide embed_dim"),
      // ---- head ----
      e("head.out_dim", ">= 1",
          "K prototypes; the paper's ablation favours a large K on ImageNet; collapse shows as loss ln K"),
      e("head.hidden_dim", ">= 1", "width of the head's MLP"),
      e("head.bottleneck_dim", ">= 1", "the L2-normalised feature fed to the prototype layer"),
      e("head.layers", ">= 1", "MLP layers before the bottleneck: 3, as in the paper"),
      e("head.norm_last_layer", "true or false",
          "fixes the prototypes' weight-norm gain at 1, which keeps training stable"),
      // ---- loss ----
      e("loss.student_temp", "> 0", "softmax temperature of the student"),
      e("loss.teacher_temp", "> 0",
          "teacher temperature after its warm-up: lower than the student's (sharpening, which with centering avoids collapse)"),
      e("loss.warmup_teacher_temp", "> 0",
          "teacher temperature at epoch 0, rising linearly to teacher_temp; the code default does not warm up"),
      e("loss.warmup_teacher_temp_epochs", "[0, train.epochs]",
          "length of the teacher-temperature warm-up; 0 = teacher_temp from the start"),
      e("loss.center_momentum", "[0, 1]",
          "EMA momentum of the center, the teacher's batch mean subtracted before the teacher softmax (centering: ema)"),
      e("loss.koleo_weight", ">= 0",
          "DINOv2's KoLeo regulariser: -mean log(distance to the nearest other sample) of the student's L2-normalised "
              + "CLS features, per global view, summed over both; spreads features over the sphere (DINOv2: 0.1); 0 = off"),
      e("loss.centering", oneOf(ConfigValidator.CENTERINGS),
          "ema = DINO's center (teacher - c, c an EMA of batch means); sinkhorn = DINOv2's Sinkhorn-Knopp: teacher "
              + "probabilities with equal prototype use over the batch, no center"),
      e("loss.sinkhorn_iterations", ">= 1", "Sinkhorn-Knopp iterations (centering: sinkhorn); DINOv2 uses 3"),
      e("loss.ibot_weight", ">= 0",
          "iBOT's masked-patch loss (DINOv2: 1.0): the student sees block-masked global views (a learned mask token in "
              + "place of the masked patches) and predicts, through the DINO head, the teacher's centred patch "
              + "distributions of the unmasked views at the masked patches; 0 = off"),
      e("loss.ibot_mask_ratio_min", "[0, 1]", "a masked view's share of masked patches is drawn from [min, max] "
          + "(DINOv2: 0.1)"),
      e("loss.ibot_mask_ratio_max", "[ibot_mask_ratio_min, 1]", "upper end of that range (DINOv2: 0.5)"),
      e("loss.ibot_mask_probability", "(0, 1]", "share of the batch's global views that are masked at all; the others "
          + "count with 0 in the loss's mean (DINOv2: 0.5)"),
      e("loss.ibot_separate_head", "true | false", "false = the masked patches go through the DINO head, as the CLS "
          + "tokens (DINOv2's default); true = through a head of their own (head.* sizes, ibot_head.* weights)"),
      e("loss.ibot_out_dim", ">= 0", "prototypes of the separate iBOT head; 0 = head.out_dim (DINOv2: 65536, as its "
          + "DINO head)"),
      // ---- optim ----
      e("optim.lr", ">= 0", "peak AdamW lr at batch 256, scaled linearly by batch/256 (the paper's rule)"),
      e("optim.min_lr", ">= 0", "the cosine lr schedule's floor"),
      e("optim.warmup_epochs", "[0, train.epochs]",
          "linear lr warm-up; ViTs are unstable at full lr from random init"),
      e("optim.weight_decay", ">= 0", "weight decay at step 0, cosine-scheduled ..."),
      e("optim.weight_decay_end", ">= 0", "... up to this: decay rises as training settles (DINO)"),
      e("optim.clip_grad", ">= 0", "per-parameter-tensor gradient norm clip, as the reference code; 0 = off"),
      e("optim.freeze_last_layer", ">= 0",
          "epochs with the prototype layer frozen (no update, no decay); fixed prototypes avoid early collapse"),
      e("optim.momentum_teacher", "[0, 1]", "teacher EMA momentum at step 0, cosine-scheduled to 1"),
      e("optim.beta1", "[0, 1)", "AdamW beta1; PyTorch's default, which the reference uses"),
      e("optim.beta2", "[0, 1)", "AdamW beta2; PyTorch's default"),
      e("optim.eps", "> 0", "AdamW epsilon; PyTorch's default"),
      // ---- train ----
      e("train.epochs", ">= 1", "epochs; all schedules are per step, computed from epoch counts; 100 is the paper's shortest"),
      e("train.batch_size", ">= 1",
          "images per step over all workers (the lr scales with it); 64 as the reference's per GPU"),
      e("train.seed", "any integer",
          "initial weights, shuffling, crops and drop-path masks: two runs of one config see the same"),
      e("train.steps_per_epoch", ">= 0", "0 = the whole dataset (drop last); > 0 caps an epoch (short epochs, smoke runs)"),
      e("train.output_dir", "a directory",
          "the run directory: checkpoints, logs, metrics, TensorBoard events, report.png; an existing one resumes"),
      e("train.log_every", ">= 1", "steps between log lines, metrics.jsonl lines and TensorBoard points"),
      e("train.save_every", ">= 0", "also keep every N-th epoch's checkpoint; 0 = keep only the latest"),
      e("train.checkpoint_every_steps", ">= 0",
          "also checkpoint every N global steps inside an epoch (same atomic write, exact resume), so a crash or kill "
              + "costs at most N steps of a long epoch; 0 = off"),
      e("train.checkpoint_every_minutes", ">= 0",
          "also checkpoint when M minutes have passed since the last one, so a SIGKILL, OOM kill or power loss costs at "
              + "most M minutes whatever the step time; 0 = off"),
      e("train.precision", oneOf(ConfigValidator.PRECISIONS),
          "fp32 runs everywhere; bf16 (bfloat16 compute, float32 master weights) needs AVX512-BF16 or AMX; "
              + "auto = bf16 with AMX (1.5x faster there), and with AVX512-BF16 alone where a matmul probe at load "
              + "measures bf16 >= 1.3x fp32 (1.9x on one AMD EPYC, 0.5-0.9x on another); else fp32"),
      e("train.threads", ">= 0", "TF threads in all; 0 = all cores"),
      e("train.towers", ">= 0",
          "the batch as this many equal chains, one thread per op; 0 = auto: one tower of >= 16 samples per core, "
              + "measured faster than every op split over the cores"),
      e("train.kernels", oneOf(ConfigValidator.KERNELS),
          "dino4j's fused CPU ops (LayerNorm, GELU, residual, attention, AdamW, EMA): auto = where built and ops "
              + "run on one thread; fused = always (an error when not built); stock = TF's ops only"),
      // ---- eval ----
      e("eval.knn_every", ">= 0",
          "epochs between 20-NN checks of the teacher on the test split (0 = off: it needs a labelled test split)"),
      e("eval.knn_k", ">= 1", "neighbours; the DINO protocol reports 20-NN"),
      e("eval.knn_temperature", "> 0", "vote weights exp(sim / T); the DINO protocol's T = 0.07"),
      e("eval.knn_train_limit", ">= 0",
          "memory bank of the check: the first N training images (0 = all); 10k keeps it to seconds"),
      e("eval.knn_test_limit", ">= 0",
          "queries of the check: the first N test images (0 = all); 2k gives +-1% resolution, enough for the trend"));

  private static Entry e(String key, String allowed, String why) {
    return new Entry(key, allowed, why);
  }

  private static String oneOf(List<String> values) {
    return "one of " + String.join(", ", values);
  }

  /** Every entry, in the schema's order. */
  public static List<Entry> entries() {
    return ENTRIES;
  }

  /** The entries by key; a schema key without one, or an entry without a key, is an error. */
  static Map<String, Entry> byKey() {
    Map<String, Entry> byKey = new LinkedHashMap<>();
    for (Entry entry : ENTRIES) {
      if (byKey.put(entry.key(), entry) != null) {
        throw new IllegalStateException("config reference: " + entry.key() + " is documented twice");
      }
    }
    List<String> missing = new ArrayList<>();
    List<String> schemaKeys = new ArrayList<>();
    for (Section section : ConfigSchema.sections()) {
      for (Key key : section.keys()) {
        schemaKeys.add(key.path());
        if (!byKey.containsKey(key.path())) {
          missing.add(key.path());
        }
      }
    }
    List<String> extra = byKey.keySet().stream().filter(k -> !schemaKeys.contains(k)).toList();
    if (!missing.isEmpty() || !extra.isEmpty()) {
      throw new IllegalStateException("config reference out of date: undocumented keys " + missing
          + ", documented keys not in the schema " + extra + " (src/main/java/dev/dino4j/config/ConfigReference.java)");
    }
    return byKey;
  }

  /** The YAML type of a key, as a reader writes it. */
  static String typeOf(Key key) {
    Class<?> type = key.type();
    if (type == int.class || type == long.class) {
      return "integer";
    }
    if (type == double.class || type == float.class) {
      return "number";
    }
    if (type == boolean.class) {
      return "boolean";
    }
    if (type == double[].class || type == float[].class) {
      return "list of numbers";
    }
    return "string";
  }

  /** The reference as Markdown: docs/config.md. */
  public static String markdown() {
    Map<String, Entry> byKey = byKey();
    DinoConfig defaults = Defaults.config();
    StringBuilder out = new StringBuilder();
    out.append("# Config reference\n\n")
        .append("<!-- generated by `bin/dino4j config --reference > docs/config.md`; ConfigReferenceTest fails when")
        .append(" this file and the code disagree. Edit src/main/java/dev/dino4j/config/ConfigReference.java. -->\n\n")
        .append("A recipe is YAML with the sections below; a key left out takes its default (the DINO reference")
        .append(" value, `src/main/java/dev/dino4j/config/Defaults.java`). Loading is strict: an unknown key (with a")
        .append(" did-you-mean), a wrong type or an impossible value is an error naming the key, the value, what is")
        .append(" allowed and the file line. Override any key with `--set section.key=value`. The resolved config is")
        .append(" logged at start and written to the run directory (`config.yaml`) and every checkpoint.\n");
    for (Section section : ConfigSchema.sections()) {
      out.append("\n## ").append(section.name()).append("\n\n")
          .append("| key | type | default | allowed | what it does, and why |\n")
          .append("|---|---|---|---|---|\n");
      Record values = ConfigSchema.sectionOf(defaults, section);
      for (Key key : section.keys()) {
        Entry entry = byKey.get(key.path());
        out.append("| `").append(key.path()).append("` | ").append(typeOf(key)).append(" | `")
            .append(ConfigSchema.yaml(ConfigSchema.valueOf(values, key))).append("` | ")
            .append(entry.allowed().replace("|", "\\|")).append(" | ")
            .append(entry.why().replace("|", "\\|")).append(" |\n");
      }
    }
    return out.toString();
  }
}
