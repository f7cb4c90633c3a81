package dev.dino4j.config;

import java.util.List;

/**
 * The values a run can actually use. {@link ConfigLoader} calls this after binding; code that
 * builds a {@link DinoConfig} by hand can call it too. Each failure is a {@link ConfigException}
 * whose message reads {@code key = value: what is allowed}.
 */
public final class ConfigValidator {
  private ConfigValidator() {}

  /**
   * {@code data.source}: the built-in dataset, IDX files in a folder, a folder of images, a list
   * file of image paths, or CIFAR-10's binary batches.
   */
  public static final List<String> SOURCES =
      List.of("fashion-mnist", "idx", "folder", "list", "cifar10");

  /** {@code data.labels}: where an image folder's labels come from. */
  public static final List<String> LABELS = List.of("auto", "folders", "none");

  /** {@code data.bad_files}: what a corrupt or unreadable image does to training. */
  public static final List<String> BAD_FILES = List.of("skip", "fail");

  /** {@code data.split}. */
  public static final List<String> SPLITS = List.of("train", "test");
  public static final List<String> STEMS = List.of("patch", "conv");

  /**
   * {@code train.precision}: float32, or bfloat16 compute with float32 master weights (Grappler's
   * oneDNN rewrite; whether the CPU has bf16 instructions is checked when the session is made), or
   * auto: bf16 where the CPU has it, else fp32 (made concrete when the config is loaded).
   */
  public static final List<String> PRECISIONS = List.of("fp32", "bf16", "auto");

  /** {@code loss.centering}: DINO's EMA center, or DINOv2's Sinkhorn-Knopp normalisation of the teacher. */
  public static final List<String> CENTERINGS = List.of("ema", "sinkhorn");

  /** {@code train.kernels}: dino4j's fused ops where they pay (auto), always, or never. */
  public static final List<String> KERNELS = List.of("auto", "fused", "stock");

  /** Returns {@code config} if every value is usable; throws on the first one that is not. */
  public static DinoConfig validate(DinoConfig config) {
    train(config.train()); // first: the epoch-count checks below are relative to train.epochs
    data(config.data());
    augment(config.augment());
    model(config.model(), config.augment());
    head(config.head());
    loss(config.loss(), config.train());
    optim(config.optim(), config.train());
    eval(config.eval());
    return config;
  }

  private static void data(DinoConfig.Data d) {
    oneOf("data.source", d.source(), SOURCES);
    if (d.path().isEmpty() && !List.of("fashion-mnist", "idx").contains(d.source())) {
      throw fail(
          List.of("data.path", "data.source"),
          "data.path = \"\": data.source = \"" + d.source() + "\" needs data.path ("
              + switch (d.source()) {
                case "folder" -> "the image folder";
                case "list" -> "the list file of image paths";
                default -> "the folder holding CIFAR-10's data_batch_*.bin files";
              }
              + ")");
    }
    oneOf("data.split", d.split(), SPLITS);
    oneOf("data.labels", d.labels(), LABELS);
    oneOf("data.bad_files", d.badFiles(), BAD_FILES);
    if (d.maxPixels() < 1) {
      throw fail("data.max_pixels", d.maxPixels(), "must be >= 1 (pixels per image, width x height)");
    }
    atLeast("data.workers", d.workers(), 1);
    atLeast("data.prefetch", d.prefetch(), 1);
    float[] mean = d.mean();
    if (mean.length != 3) {
      throw fail(
          "data.mean", mean, "must have 3 entries (R, G, B); repeat a grayscale mean 3 times");
    }
    for (float m : mean) {
      if (!Float.isFinite(m)) {
        throw fail("data.mean", mean, "entries must be finite numbers");
      }
    }
    float[] std = d.std();
    if (std.length != 3) {
      throw fail("data.std", std, "must have 3 entries (R, G, B); repeat a grayscale std 3 times");
    }
    for (float s : std) {
      if (!(s > 0) || !Float.isFinite(s)) {
        throw fail("data.std", std, "entries must be finite and > 0 (images are divided by them)");
      }
    }
  }

  private static void augment(DinoConfig.Augment a) {
    atLeast("augment.global_size", a.globalSize(), 1);
    atLeast("augment.local_size", a.localSize(), 1);
    if (a.localSize() > a.globalSize()) {
      throw fail(
          List.of("augment.local_size", "augment.global_size"),
          "augment.local_size = %d: must be <= augment.global_size = %d (local views are parts)"
              .formatted(a.localSize(), a.globalSize()));
    }
    atLeast("augment.local_crops", a.localCrops(), 0);
    scale("augment.global_scale", a.globalScale());
    scale("augment.local_scale", a.localScale());
    probability("augment.flip_p", a.flipP());
    probability("augment.color_jitter_p", a.colorJitterP());
    atLeast("augment.brightness", a.brightness(), 0);
    atLeast("augment.contrast", a.contrast(), 0);
    atLeast("augment.saturation", a.saturation(), 0);
    within("augment.hue", a.hue(), 0, 0.5);
    probability("augment.grayscale_p", a.grayscaleP());
    probability("augment.blur_p_global1", a.blurPGlobal1());
    probability("augment.blur_p_global2", a.blurPGlobal2());
    probability("augment.blur_p_local", a.blurPLocal());
    positive("augment.blur_sigma_min", a.blurSigmaMin());
    if (!(a.blurSigmaMax() >= a.blurSigmaMin()) || !Double.isFinite(a.blurSigmaMax())) {
      throw fail(
          List.of("augment.blur_sigma_max", "augment.blur_sigma_min"),
          "augment.blur_sigma_max = %s: must be finite and >= augment.blur_sigma_min = %s"
              .formatted(show(a.blurSigmaMax()), show(a.blurSigmaMin())));
    }
    probability("augment.solarize_p", a.solarizeP());
  }

  private static void model(DinoConfig.Model m, DinoConfig.Augment a) {
    oneOf("model.arch", m.arch(), ModelArch.allowedNames());
    atLeast("model.patch_size", m.patchSize(), 1);
    divides("augment.global_size", a.globalSize(), "model.patch_size", m.patchSize());
    divides("augment.local_size", a.localSize(), "model.patch_size", m.patchSize());
    atLeast("model.embed_dim", m.embedDim(), 1);
    atLeast("model.depth", m.depth(), 1);
    atLeast("model.heads", m.heads(), 1);
    divides("model.embed_dim", m.embedDim(), "model.heads", m.heads());
    positive("model.mlp_ratio", m.mlpRatio());
    if (!(m.dropPathRate() >= 0 && m.dropPathRate() < 1)) {
      throw fail("model.drop_path_rate", m.dropPathRate(), "must be in [0, 1)");
    }
    if (!(m.interpolateOffset() >= 0 && m.interpolateOffset() < 1)) {
      throw fail("model.interpolate_offset", m.interpolateOffset(),
          "must be in [0, 1): 0 (timm / Hugging Face weights) or 0.1 (the official DINO and DINOv2 code)");
    }
    atLeast("model.registers", m.registers(), 0);
    atLeast("model.layerscale_init", m.layerscaleInit(), 0);
    oneOf("model.stem", m.stem(), STEMS);
    if (m.convStem()) {
      int p = m.patchSize();
      if (p < 2 || Integer.bitCount(p) != 1) {
        throw fail("model.patch_size", p, "must be a power of two >= 2 with model.stem: conv (one stride-2 convolution per halving)");
      }
      divides("model.embed_dim", m.embedDim(), "model.patch_size", p); // the first convolution is D / p wide
    }
  }

  private static void head(DinoConfig.Head h) {
    atLeast("head.out_dim", h.outDim(), 1);
    atLeast("head.hidden_dim", h.hiddenDim(), 1);
    atLeast("head.bottleneck_dim", h.bottleneckDim(), 1);
    atLeast("head.layers", h.layers(), 1);
  }

  private static void loss(DinoConfig.Loss l, DinoConfig.Train t) {
    positive("loss.student_temp", l.studentTemp());
    positive("loss.teacher_temp", l.teacherTemp());
    positive("loss.warmup_teacher_temp", l.warmupTeacherTemp());
    epochCount("loss.warmup_teacher_temp_epochs", l.warmupTeacherTempEpochs(), t.epochs());
    within("loss.center_momentum", l.centerMomentum(), 0, 1);
    atLeast("loss.koleo_weight", l.koleoWeight(), 0);
    oneOf("loss.centering", l.centering(), CENTERINGS);
    atLeast("loss.sinkhorn_iterations", l.sinkhornIterations(), 1);
    atLeast("loss.ibot_weight", l.ibotWeight(), 0);
    within("loss.ibot_mask_ratio_min", l.ibotMaskRatioMin(), 0, 1);
    within("loss.ibot_mask_ratio_max", l.ibotMaskRatioMax(), l.ibotMaskRatioMin(), 1);
    within("loss.ibot_mask_probability", l.ibotMaskProbability(), 0, 1);
    if (l.ibot() && l.ibotMaskProbability() <= 0) {
      throw fail("loss.ibot_mask_probability", l.ibotMaskProbability(),
          "must be > 0 when loss.ibot_weight > 0 (no view would be masked)");
    }
    atLeast("loss.ibot_out_dim", l.ibotOutDim(), 0);
    if (l.ibotOutDim() > 0 && !l.ibotSeparateHead()) {
      throw fail("loss.ibot_out_dim", l.ibotOutDim(),
          "must be 0 unless loss.ibot_separate_head is true (the shared head has head.out_dim prototypes)");
    }
    if (l.ibot() && l.centering().equals("sinkhorn")) {
      throw fail("loss.centering", l.centering(),
          "must be ema when loss.ibot_weight > 0 (iBOT's patch targets get an EMA center; Sinkhorn-Knopp for them is not built)");
    }
  }

  private static void optim(DinoConfig.Optim o, DinoConfig.Train t) {
    atLeast("optim.lr", o.lr(), 0);
    atLeast("optim.min_lr", o.minLr(), 0);
    epochCount("optim.warmup_epochs", o.warmupEpochs(), t.epochs());
    atLeast("optim.weight_decay", o.weightDecay(), 0);
    atLeast("optim.weight_decay_end", o.weightDecayEnd(), 0);
    atLeast("optim.clip_grad", o.clipGrad(), 0);
    atLeast("optim.freeze_last_layer", o.freezeLastLayer(), 0);
    within("optim.momentum_teacher", o.momentumTeacher(), 0, 1);
    // beta = 1 would divide by zero in Adam's bias correction (1 - beta^t)
    if (!(o.beta1() >= 0 && o.beta1() < 1)) {
      throw fail("optim.beta1", o.beta1(), "must be in [0, 1)");
    }
    if (!(o.beta2() >= 0 && o.beta2() < 1)) {
      throw fail("optim.beta2", o.beta2(), "must be in [0, 1)");
    }
    positive("optim.eps", o.eps());
  }

  private static void train(DinoConfig.Train t) {
    atLeast("train.epochs", t.epochs(), 1);
    atLeast("train.batch_size", t.batchSize(), 1);
    atLeast("train.steps_per_epoch", t.stepsPerEpoch(), 0);
    if (t.outputDir().isEmpty()) {
      throw fail("train.output_dir", t.outputDir(), "must name a directory, e.g. runs/my-run");
    }
    atLeast("train.log_every", t.logEvery(), 1);
    atLeast("train.save_every", t.saveEvery(), 0);
    atLeast("train.checkpoint_every_steps", t.checkpointEverySteps(), 0);
    if (!(t.checkpointEveryMinutes() >= 0) || !Double.isFinite(t.checkpointEveryMinutes())) {
      throw fail("train.checkpoint_every_minutes", t.checkpointEveryMinutes(), "must be a finite number >= 0 (0 = off)");
    }
    oneOf("train.precision", t.precision(), PRECISIONS);
    atLeast("train.threads", t.threads(), 0);
    atLeast("train.towers", t.towers(), 0);
    oneOf("train.kernels", t.kernels(), KERNELS);
    if (t.towers() > 0 && t.batchSize() % t.towers() != 0) {
      throw fail("train.towers", t.towers(), "must divide train.batch_size (" + t.batchSize() + ") into equal parts");
    }
  }

  private static void eval(DinoConfig.Eval e) {
    atLeast("eval.knn_every", e.knnEvery(), 0);
    atLeast("eval.knn_k", e.knnK(), 1);
    positive("eval.knn_temperature", e.knnTemperature());
    atLeast("eval.knn_train_limit", e.knnTrainLimit(), 0);
    atLeast("eval.knn_test_limit", e.knnTestLimit(), 0);
  }

  /** {@code value} must be one of {@code allowed}; suggests the closest on a typo. */
  static void oneOf(String key, String value, List<String> allowed) {
    if (!allowed.contains(value)) {
      String hint =
          Spelling.closest(value, allowed).map(s -> " (did you mean \"" + s + "\"?)").orElse("");
      throw fail(key, value, "must be one of " + String.join(", ", allowed) + hint);
    }
  }

  private static void atLeast(String key, long value, long min) {
    if (value < min) {
      throw fail(key, value, "must be >= " + min);
    }
  }

  private static void atLeast(String key, double value, double min) {
    if (!(value >= min) || !Double.isFinite(value)) {
      throw fail(key, value, "must be a finite number >= " + show(min));
    }
  }

  private static void positive(String key, double value) {
    if (!(value > 0) || !Double.isFinite(value)) {
      throw fail(key, value, "must be a finite number > 0");
    }
  }

  private static void within(String key, double value, double lo, double hi) {
    if (!(value >= lo && value <= hi)) {
      throw fail(key, value, "must be in [" + show(lo) + ", " + show(hi) + "]");
    }
  }

  private static void probability(String key, double value) {
    if (!(value >= 0 && value <= 1)) {
      throw fail(key, value, "must be a probability in [0, 1]");
    }
  }

  /** An epoch count inside the run: in [0, train.epochs]. */
  private static void epochCount(String key, int value, int epochs) {
    if (value < 0 || value > epochs) {
      throw fail(
          List.of(key, "train.epochs"),
          "%s = %d: must be in [0, train.epochs = %d]".formatted(key, value, epochs));
    }
  }

  /** A [min, max] share of the image area: 0 < min <= max <= 1. */
  private static void scale(String key, double[] scale) {
    if (scale.length != 2 || !(scale[0] > 0) || !(scale[0] <= scale[1]) || !(scale[1] <= 1)) {
      throw fail(key, scale, "must be [min, max] with 0 < min <= max <= 1");
    }
  }

  private static void divides(String key, int value, String divisorKey, int divisor) {
    if (divisor >= 1 && value % divisor != 0) {
      throw fail(
          List.of(key, divisorKey),
          "%s = %d: must be a multiple of %s = %d".formatted(key, value, divisorKey, divisor));
    }
  }

  private static ConfigException fail(String key, Object value, String allowed) {
    return fail(List.of(key), key + " = " + ConfigSchema.yaml(value) + ": " + allowed);
  }

  private static ConfigException fail(List<String> keys, String message) {
    return new ConfigException(keys, message);
  }

  private static String show(double value) {
    return ConfigSchema.yaml(value);
  }
}
