package dev.dino4j.config;

/**
 * Every hyperparameter's default, declared once, with why. The values are the DINO reference ones
 * (the official code's {@code main_dino.py} defaults, ViT-S/16), except where a comment says
 * otherwise; a recipe in {@code configs/} overrides what its dataset needs. The comment before each
 * value names its YAML key.
 */
public final class Defaults {
  private Defaults() {}

  /** The complete default config: the DINO ViT-S/16 recipe, reading Fashion-MNIST. */
  public static DinoConfig config() {
    return new DinoConfig(data(), augment(), model(), head(), loss(), optim(), train(), eval());
  }

  public static DinoConfig.Data data() {
    return new DinoConfig.Data(
        // source: the built-in small dataset, so a first run needs no data preparation
        "fashion-mnist",
        // path: "" = the source's default location
        "",
        // split: self-supervised pre-training uses the training images; test is for evaluation
        "train",
        // labels: class subfolders when the folder has subfolders, else one unlabelled set
        "auto",
        // bad_files: a multi-day run must not end on one corrupt file; it is logged and counted
        "skip",
        // max_pixels: Pillow's decompression-bomb threshold (89.5 MP); a larger header is refused
        dev.dino4j.data.ImageDecoder.DEFAULT_MAX_PIXELS,
        // workers: one augmentation thread per core of a 2-core machine
        2,
        // prefetch: enough ready batches to hide augmentation jitter, few enough to bound memory
        4,
        // mean: ImageNet RGB statistics, as DINO normalises; grayscale recipes set their own
        new float[] {0.485f, 0.456f, 0.406f},
        // std: ImageNet RGB statistics, as above
        new float[] {0.229f, 0.224f, 0.225f});
  }

  public static DinoConfig.Augment augment() {
    return new DinoConfig.Augment(
        // global_size: the 2 global views are at the backbone's training resolution
        224,
        // local_size: local views are small so many of them stay cheap (multi-crop)
        96,
        // local_crops: the reference code's 8 (the paper also reports 6 and 10)
        8,
        // global_scale: global views keep most of the image, so the teacher sees the whole object
        new double[] {0.4, 1.0},
        // local_scale: local views are parts; matching parts to the whole is DINO's signal
        new double[] {0.05, 0.4},
        // flip_p: horizontal flips are label-preserving for natural images
        0.5,
        // color_jitter_p: colour distortion stops features keying on colour histograms (BYOL/DINO)
        0.8,
        // brightness: jitter strength, torchvision ColorJitter semantics
        0.4,
        // contrast: as above
        0.4,
        // saturation: as above
        0.2,
        // hue: as above; must stay within [0, 0.5]
        0.1,
        // grayscale_p: sometimes drop colour entirely
        0.2,
        // blur_p_global1: asymmetric views (BYOL/DINO): global view 1 is always blurred ...
        1.0,
        // blur_p_global2: ... global view 2 rarely
        0.1,
        // blur_p_local: local views half the time
        0.5,
        // blur_sigma_min: Gaussian blur sigma range in pixels, drawn uniformly per view
        0.1,
        // blur_sigma_max: as above
        2.0,
        // solarize_p: applied to global view 2 only, the view that is rarely blurred
        0.2);
  }

  public static DinoConfig.Model model() {
    ModelArch arch = ModelArch.SMALL; // ViT-S/16: the paper's main model
    return new DinoConfig.Model(
        // arch: a row of the size table in ModelArch
        arch.yamlName(),
        // patch_size: 16 px patches, the "/16" of ViT-S/16; 224 / 16 = 14 x 14 tokens
        16,
        // embed_dim, depth, heads: from the arch row unless the config sets them
        arch.embedDim(),
        arch.depth(),
        arch.heads(),
        // mlp_ratio: standard ViT block width
        4.0,
        // drop_path_rate: stochastic depth (student only) regularises ViT-S; DINO's default
        0.1);
  }

  public static DinoConfig.Head head() {
    return new DinoConfig.Head(
        // out_dim: K prototypes; the paper's ablation favours a large K on ImageNet
        65536,
        // hidden_dim: width of the head's MLP
        2048,
        // bottleneck_dim: the L2-normalised feature fed to the prototype layer
        256,
        // layers: 3-layer MLP before the bottleneck, as in the paper
        3,
        // norm_last_layer: fixing the prototypes' weight-norm gain to 1 keeps training stable
        true);
  }

  public static DinoConfig.Loss loss() {
    return new DinoConfig.Loss(
        // student_temp: softmax temperature of the student
        0.1,
        // teacher_temp: lower than the student's: sharpening, which with centering avoids collapse
        0.04,
        // warmup_teacher_temp: teacher temperature at epoch 0; the code default does not warm up
        0.04,
        // warmup_teacher_temp_epochs: linear warm-up length; 0 = teacher_temp from the start
        0,
        // center_momentum: EMA of the teacher's batch mean, subtracted before the teacher softmax
        0.9);
  }

  public static DinoConfig.Optim optim() {
    return new DinoConfig.Optim(
        // lr: peak AdamW lr for batch 256, scaled linearly by batch/256 (the paper's rule)
        0.0005,
        // min_lr: the cosine schedule's floor
        1e-6,
        // warmup_epochs: linear lr warm-up; ViTs are unstable at full lr from random init
        10,
        // weight_decay: cosine-scheduled from this ...
        0.04,
        // weight_decay_end: ... up to this: decay rises as training settles (DINO)
        0.4,
        // clip_grad: per-parameter-tensor gradient norm clip, as the reference code; 0 = off
        3.0,
        // freeze_last_layer: the prototypes stay fixed for the first epoch, which avoids collapse
        1,
        // momentum_teacher: teacher EMA momentum at step 0, cosine-scheduled to 1
        0.996,
        // beta1: PyTorch AdamW defaults, which the reference uses
        0.9,
        // beta2: as above
        0.999,
        // eps: as above
        1e-8);
  }

  public static DinoConfig.Train train() {
    return new DinoConfig.Train(
        // epochs: the paper's shortest reported schedule
        100,
        // batch_size: per process, as the reference's 64 per GPU
        64,
        // seed: fixed, so two runs of one config see the same crops and initial weights
        0,
        // steps_per_epoch: 0 = the whole dataset (drop_last); >0 caps an epoch for smoke runs
        0,
        // output_dir: checkpoints, logs, metrics and TensorBoard events of a run
        "runs/dino",
        // log_every: steps between log lines and TensorBoard points
        10,
        // save_every: 0 = keep only the latest checkpoint
        0,
        // checkpoint_every_steps: off; epoch ends (and Ctrl-C) checkpoint. Turn on where an epoch is
        // long enough that a crash or kill would lose more than one wants to redo
        0,
        // checkpoint_every_minutes: off; a time cadence bounds the work a SIGKILL, OOM kill or power
        // loss can cost whatever the step time (a mid-epoch write costs one checkpoint's size in I/O)
        0.0,
        // precision: fp32 runs everywhere; bf16 (bfloat16 compute, float32 master weights) needs
        // AVX512-BF16 or AMX; measured 1.4-1.6x faster steps here, its loss within 2% of fp32
        "fp32",
        // threads: TF threads in all; 0 = all cores
        0,
        // towers: 0 = auto, one tower of >= 16 samples per core (2 here): measured faster than
        // every op split over the cores (README, "Performance levers")
        0,
        // kernels: auto = dino4j's fused LayerNorm and bias+GELU ops (target/native) where they
        // are built and each op runs on one thread (they are single-threaded), else TF's own ops
        "auto");
  }

  public static DinoConfig.Eval eval() {
    return new DinoConfig.Eval(
        // knn_every: off by default, since it needs a labelled test split; recipes on labelled data turn it on
        0,
        // knn_k: the DINO protocol reports 20-NN
        20,
        // knn_temperature: the DINO protocol's T
        0.07,
        // knn_train_limit: a 10k memory bank keeps the check to seconds; the final eval uses all
        10000,
        // knn_test_limit: 2k queries: +-1% resolution, enough to watch the trend
        2000);
  }
}
