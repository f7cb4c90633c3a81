package dev.dino4j.config;

/**
 * Every hyperparameter's default, declared once, with why. The values are the DINO reference ones
 * (the official code's {@code main_dino.py} defaults, ViT-S/16), except where a comment says
 * otherwise; a recipe in {@code configs/} overrides what its dataset needs. The comment before each
 * value names its YAML key; what each key does and why its default is what it is are in {@link
 * ConfigReference} (docs/config.md, printed by {@code dino4j config --reference}).
 */
public final class Defaults {
  private Defaults() {}

  /** The complete default config: the DINO ViT-S/16 recipe, reading Fashion-MNIST. */
  public static DinoConfig config() {
    return new DinoConfig(data(), augment(), model(), head(), loss(), optim(), train(), eval());
  }

  public static DinoConfig.Data data() {
    return new DinoConfig.Data(
        // source
        "fashion-mnist",
        // path
        "",
        // split
        "train",
        // labels
        "auto",
        // bad_files
        "skip",
        // max_pixels
        dev.dino4j.data.ImageDecoder.DEFAULT_MAX_PIXELS,
        // workers
        2,
        // prefetch
        4,
        // mean
        new float[] {0.485f, 0.456f, 0.406f},
        // std
        new float[] {0.229f, 0.224f, 0.225f});
  }

  public static DinoConfig.Augment augment() {
    return new DinoConfig.Augment(
        // global_size
        224,
        // local_size
        96,
        // local_crops
        8,
        // global_scale
        new double[] {0.4, 1.0},
        // local_scale
        new double[] {0.05, 0.4},
        // flip_p
        0.5,
        // color_jitter_p
        0.8,
        // brightness
        0.4,
        // contrast
        0.4,
        // saturation
        0.2,
        // hue
        0.1,
        // grayscale_p
        0.2,
        // blur_p_global1
        1.0,
        // blur_p_global2
        0.1,
        // blur_p_local
        0.5,
        // blur_sigma_min
        0.1,
        // blur_sigma_max
        2.0,
        // solarize_p
        0.2);
  }

  public static DinoConfig.Model model() {
    ModelArch arch = ModelArch.SMALL; // ViT-S/16: the paper's main model
    return new DinoConfig.Model(
        // arch
        arch.yamlName(),
        // patch_size
        16,
        // embed_dim, depth, heads
        arch.embedDim(),
        arch.depth(),
        arch.heads(),
        // mlp_ratio
        4.0,
        // drop_path_rate
        0.1,
        // interpolate_offset
        0.0,
        // registers
        0,
        // layerscale_init
        0.0,
        // stem
        "patch");
  }

  public static DinoConfig.Head head() {
    return new DinoConfig.Head(
        // out_dim
        65536,
        // hidden_dim
        2048,
        // bottleneck_dim
        256,
        // layers
        3,
        // norm_last_layer
        true);
  }

  public static DinoConfig.Loss loss() {
    return new DinoConfig.Loss(
        // student_temp
        0.1,
        // teacher_temp
        0.04,
        // warmup_teacher_temp
        0.04,
        // warmup_teacher_temp_epochs
        0,
        // center_momentum
        0.9,
        // koleo_weight
        0.0,
        // centering
        "ema",
        // sinkhorn_iterations
        3,
        // ibot_weight
        0.0,
        // ibot_mask_ratio_min
        0.1,
        // ibot_mask_ratio_max
        0.5,
        // ibot_mask_probability
        0.5,
        // ibot_separate_head
        false,
        // ibot_out_dim
        0);
  }

  public static DinoConfig.Optim optim() {
    return new DinoConfig.Optim(
        // lr
        0.0005,
        // min_lr
        1e-6,
        // warmup_epochs
        10,
        // weight_decay
        0.04,
        // weight_decay_end
        0.4,
        // clip_grad
        3.0,
        // freeze_last_layer
        1,
        // momentum_teacher
        0.996,
        // beta1
        0.9,
        // beta2
        0.999,
        // eps
        1e-8);
  }

  public static DinoConfig.Train train() {
    return new DinoConfig.Train(
        // epochs
        100,
        // batch_size
        64,
        // seed
        0,
        // steps_per_epoch
        0,
        // output_dir
        "runs/dino",
        // log_every
        10,
        // save_every
        0,
        // checkpoint_every_steps
        0,
        // checkpoint_every_minutes
        0.0,
        // precision
        "fp32",
        // threads
        0,
        // towers
        0,
        // kernels
        "auto");
  }

  public static DinoConfig.Eval eval() {
    return new DinoConfig.Eval(
        // knn_every
        0,
        // knn_k
        20,
        // knn_temperature
        0.07,
        // knn_train_limit
        10000,
        // knn_test_limit
        2000);
  }
}
