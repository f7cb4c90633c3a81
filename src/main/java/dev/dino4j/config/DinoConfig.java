package dev.dino4j.config;

import java.util.Arrays;
import java.util.Objects;

/**
 * The whole run recipe: one immutable record per YAML section. Every field is declared once, with
 * its default and why, in {@link Defaults}; {@link ConfigLoader} fills these records strictly from
 * YAML plus {@code --set section.key=value} overrides and validates them ({@link ConfigValidator}).
 *
 * <p>The YAML schema is these records: section = component of this record, key = component of the
 * section record in snake_case ({@code Optim.clipGrad} is {@code optim.clip_grad}).
 *
 * <p>The records that hold arrays copy them in and out, so a config cannot be changed after it was
 * validated, and compare them by content, so two configs with the same values are {@code equals}.
 */
public record DinoConfig(
    Data data, Augment augment, Model model, Head head, Loss loss, Optim optim, Train train, Eval eval) {

  /** Where the images come from and how they are normalised. YAML section {@code data}. */
  public record Data(
      String source, // "fashion-mnist" | "idx" | "folder" | "list" | "cifar10"
      String path, // image folder, IDX or CIFAR folder, or list file; "" = the source's default
      String split, // "train" | "test"
      String labels, // image folders: "auto" | "folders" (class subfolders) | "none"
      String badFiles, // "skip" (warn, count, carry on) | "fail" (stop at the first bad file)
      long maxPixels, // images with more pixels are refused before decoding (decompression bombs)
      int workers, // augmentation threads
      int prefetch, // batches kept ready ahead of the graph (bounds memory)
      float[] mean, // per-channel RGB normalisation mean
      float[] std) { // per-channel RGB normalisation std

    public Data {
      mean = Objects.requireNonNull(mean, "data.mean").clone();
      std = Objects.requireNonNull(std, "data.std").clone();
    }

    /** A copy: the config stays as validated. */
    @Override
    public float[] mean() {
      return mean.clone();
    }

    /** A copy: the config stays as validated. */
    @Override
    public float[] std() {
      return std.clone();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Data d
          && Objects.equals(source, d.source)
          && Objects.equals(path, d.path)
          && Objects.equals(split, d.split)
          && Objects.equals(labels, d.labels)
          && Objects.equals(badFiles, d.badFiles)
          && maxPixels == d.maxPixels
          && workers == d.workers
          && prefetch == d.prefetch
          && Arrays.equals(mean, d.mean)
          && Arrays.equals(std, d.std);
    }

    @Override
    public int hashCode() {
      return Objects.hash(
          source, path, split, labels, badFiles, maxPixels, workers, prefetch,
          Arrays.hashCode(mean), Arrays.hashCode(std));
    }

    @Override
    public String toString() {
      return ("Data[source=%s, path=%s, split=%s, labels=%s, bad_files=%s, max_pixels=%d,"
              + " workers=%d, prefetch=%d, mean=%s, std=%s]")
          .formatted(source, path, split, labels, badFiles, maxPixels, workers, prefetch,
              Arrays.toString(mean), Arrays.toString(std));
    }
  }

  /** DINO multi-crop augmentation. YAML section {@code augment}. */
  public record Augment(
      int globalSize, // side of the 2 global crops, px
      int localSize, // side of the local crops, px
      int localCrops, // number of local crops (0 = global views only)
      double[] globalScale, // [min, max] area share of a global crop
      double[] localScale, // [min, max] area share of a local crop
      double flipP,
      double colorJitterP,
      double brightness,
      double contrast,
      double saturation,
      double hue,
      double grayscaleP,
      double blurPGlobal1,
      double blurPGlobal2,
      double blurPLocal,
      double blurSigmaMin, // YAML: two keys, blur_sigma_min and blur_sigma_max, like the record
      double blurSigmaMax,
      double solarizeP) {

    public Augment {
      globalScale = Objects.requireNonNull(globalScale, "augment.global_scale").clone();
      localScale = Objects.requireNonNull(localScale, "augment.local_scale").clone();
    }

    /** A copy: the config stays as validated. */
    @Override
    public double[] globalScale() {
      return globalScale.clone();
    }

    /** A copy: the config stays as validated. */
    @Override
    public double[] localScale() {
      return localScale.clone();
    }

    /** Views per image: the 2 global ones plus the local ones. */
    public int crops() {
      return 2 + localCrops;
    }

    @Override
    public boolean equals(Object o) {
      // Double.compare, as the record's generated equals does for double components
      return o instanceof Augment a
          && globalSize == a.globalSize
          && localSize == a.localSize
          && localCrops == a.localCrops
          && Arrays.equals(globalScale, a.globalScale)
          && Arrays.equals(localScale, a.localScale)
          && Double.compare(flipP, a.flipP) == 0
          && Double.compare(colorJitterP, a.colorJitterP) == 0
          && Double.compare(brightness, a.brightness) == 0
          && Double.compare(contrast, a.contrast) == 0
          && Double.compare(saturation, a.saturation) == 0
          && Double.compare(hue, a.hue) == 0
          && Double.compare(grayscaleP, a.grayscaleP) == 0
          && Double.compare(blurPGlobal1, a.blurPGlobal1) == 0
          && Double.compare(blurPGlobal2, a.blurPGlobal2) == 0
          && Double.compare(blurPLocal, a.blurPLocal) == 0
          && Double.compare(blurSigmaMin, a.blurSigmaMin) == 0
          && Double.compare(blurSigmaMax, a.blurSigmaMax) == 0
          && Double.compare(solarizeP, a.solarizeP) == 0;
    }

    @Override
    public int hashCode() {
      return Objects.hash(
          globalSize,
          localSize,
          localCrops,
          Arrays.hashCode(globalScale),
          Arrays.hashCode(localScale),
          flipP,
          colorJitterP,
          brightness,
          contrast,
          saturation,
          hue,
          grayscaleP,
          blurPGlobal1,
          blurPGlobal2,
          blurPLocal,
          blurSigmaMin,
          blurSigmaMax,
          solarizeP);
    }

    @Override
    public String toString() {
      return ("Augment[globalSize=%d, localSize=%d, localCrops=%d, globalScale=%s, localScale=%s,"
              + " flipP=%s, colorJitterP=%s, brightness=%s, contrast=%s, saturation=%s, hue=%s,"
              + " grayscaleP=%s, blurPGlobal1=%s, blurPGlobal2=%s, blurPLocal=%s,"
              + " blurSigmaMin=%s, blurSigmaMax=%s, solarizeP=%s]")
          .formatted(
              globalSize,
              localSize,
              localCrops,
              Arrays.toString(globalScale),
              Arrays.toString(localScale),
              flipP,
              colorJitterP,
              brightness,
              contrast,
              saturation,
              hue,
              grayscaleP,
              blurPGlobal1,
              blurPGlobal2,
              blurPLocal,
              blurSigmaMin,
              blurSigmaMax,
              solarizeP);
    }
  }

  /** Backbone. YAML section {@code model}. */
  public record Model(
      String arch, // "tiny" | "small" | "base" | "custom" (see ModelArch)
      int patchSize,
      int embedDim, // resolved from the arch table unless the config sets it (required for custom)
      int depth,
      int heads,
      double mlpRatio,
      double dropPathRate,
      double interpolateOffset, // pos-embed resampling: 0 timm / Hugging Face, 0.1 the official DINO / DINOv2 code
      int registers, // DINOv2's register tokens after CLS; 0 = none
      double layerscaleInit, // DINOv2's LayerScale on both residual branches, its initial value; 0 = off
      String stem) { // "patch": the stride-p patch projection (DINO); "conv": stride-2 3x3 convolutions, then a 1x1

    /** The DINO v1 ViT: size-based pos-embed resampling, no registers, no LayerScale. */
    public Model(String arch, int patchSize, int embedDim, int depth, int heads, double mlpRatio, double dropPathRate) {
      this(arch, patchSize, embedDim, depth, heads, mlpRatio, dropPathRate, 0.0, 0, 0.0);
    }

    /** With DINOv2's options, DINO's patch projection. */
    public Model(String arch, int patchSize, int embedDim, int depth, int heads, double mlpRatio, double dropPathRate,
        double interpolateOffset, int registers, double layerscaleInit) {
      this(arch, patchSize, embedDim, depth, heads, mlpRatio, dropPathRate, interpolateOffset, registers, layerscaleInit,
          "patch");
    }

    public boolean convStem() {
      return "conv".equals(stem);
    }
  }

  /** DINO projection head. YAML section {@code head}. */
  public record Head(
      int outDim, // K, prototypes
      int hiddenDim,
      int bottleneckDim,
      int layers,
      boolean normLastLayer) {}

  /** Loss, sharpening and centering. YAML section {@code loss}. */
  public record Loss(
      double studentTemp,
      double teacherTemp,
      double warmupTeacherTemp,
      int warmupTeacherTempEpochs,
      double centerMomentum,
      double koleoWeight, // DINOv2's KoLeo regulariser on the student's global CLS features; 0 = off
      String centering, // "ema" (DINO's center) | "sinkhorn" (DINOv2's Sinkhorn-Knopp teacher)
      int sinkhornIterations,
      double ibotWeight, // iBOT's masked-patch loss (DINOv2); 0 = off
      double ibotMaskRatioMin, // share of a masked view's patches masked: drawn from [min, max]
      double ibotMaskRatioMax,
      double ibotMaskProbability, // share of the global views that are masked at all
      boolean ibotSeparateHead, // iBOT's patches through a head of their own (DINOv2's separate_head)
      int ibotOutDim) { // that head's prototypes; 0 = head.out_dim

    /** The DINO v1 loss: EMA centering, no KoLeo, no iBOT. */
    public Loss(double studentTemp, double teacherTemp, double warmupTeacherTemp, int warmupTeacherTempEpochs,
        double centerMomentum) {
      this(studentTemp, teacherTemp, warmupTeacherTemp, warmupTeacherTempEpochs, centerMomentum, 0.0, "ema", 3);
    }

    /** DINO v1 with DINOv2's KoLeo and centering options, no iBOT. */
    public Loss(double studentTemp, double teacherTemp, double warmupTeacherTemp, int warmupTeacherTempEpochs,
        double centerMomentum, double koleoWeight, String centering, int sinkhornIterations) {
      this(studentTemp, teacherTemp, warmupTeacherTemp, warmupTeacherTempEpochs, centerMomentum, koleoWeight, centering,
          sinkhornIterations, 0.0, 0.1, 0.5, 0.5, false, 0);
    }

    public boolean ibot() {
      return ibotWeight > 0;
    }

    /** The prototypes of iBOT's patch targets: the separate head's, else the DINO head's. */
    public int ibotPrototypes(Head head) {
      return ibotSeparateHead && ibotOutDim > 0 ? ibotOutDim : head.outDim();
    }
  }

  /** AdamW and its schedules. YAML section {@code optim}. */
  public record Optim(
      double lr, // peak lr at batch 256; scaled linearly by batch/256
      double minLr,
      int warmupEpochs,
      double weightDecay,
      double weightDecayEnd,
      double clipGrad, // per-parameter gradient norm clip; 0 disables
      int freezeLastLayer, // epochs during which the head's last layer is not updated
      double momentumTeacher, // EMA momentum at step 0, cosine-scheduled to 1
      double beta1,
      double beta2,
      double eps) {}

  /** The loop. YAML section {@code train}. */
  public record Train(
      int epochs,
      int batchSize,
      long seed,
      int stepsPerEpoch, // 0 = the whole dataset (drop_last); >0 caps an epoch (smoke runs)
      String outputDir, // run directory: checkpoints, logs, metrics, TensorBoard events
      int logEvery, // steps between log lines / TensorBoard points
      int saveEvery, // keep every N-th epoch's checkpoint besides the last; 0 = last only
      int checkpointEverySteps, // also checkpoint every N global steps inside an epoch; 0 = off
      double checkpointEveryMinutes, // also checkpoint when this many minutes passed since the last one; 0 = off
      String precision, // "fp32" | "bf16" (bfloat16 compute, float32 variables; CPUs with bf16 only) | "auto" (resolved at load)
      int threads, // TF threads in all; 0 = all cores
      int towers, // equal parts of the batch built as separate chains, one thread each; 0 = auto
      String kernels) { // "auto" | "fused" (dino4j's LayerNorm and bias+GELU ops) | "stock" (TF's ops only)

    /** Checkpoints at epoch ends only (no step or time cadence), as before those keys existed. */
    public Train(int epochs, int batchSize, long seed, int stepsPerEpoch, String outputDir, int logEvery, int saveEvery,
        String precision, int threads, int towers, String kernels) {
      this(epochs, batchSize, seed, stepsPerEpoch, outputDir, logEvery, saveEvery, 0, 0, precision, threads, towers,
          kernels);
    }
  }

  /** k-NN evaluation during training. YAML section {@code eval}. */
  public record Eval(
      int knnEvery, // epochs between k-NN evaluations of the teacher on the data's test split; 0 = off
      int knnK, // neighbours
      double knnTemperature, // vote weights exp(sim / T)
      int knnTrainLimit, // first N train images as the memory bank; 0 = all
      int knnTestLimit) {} // first N test images as queries; 0 = all
}
