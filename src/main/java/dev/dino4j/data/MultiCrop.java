package dev.dino4j.data;

import dev.dino4j.config.DinoConfig;
import java.util.SplittableRandom;

/**
 * DINO's multi-crop augmentation ({@code DataAugmentationDINO} in the official main_dino.py), step
 * for step, on float RGB instead of PIL images:
 *
 * <pre>
 * every view:   RandomResizedCrop(size, scale, bicubic) -> flip(p) -> ColorJitter(p)
 *               -> Grayscale(p) -> GaussianBlur(p of the view)
 * global view 1 (the second): then Solarize(p)
 * all:          Normalize(mean, std)
 * </pre>
 *
 * Values stay unquantised floats where PIL would round to 8 bits between steps; everything else
 * (crop sampling, PIL's antialiased bicubic, torchvision's jitter formulas and random order, PIL's
 * box-approximated Gaussian blur) follows the reference. Thread-safe: the state is the recipe,
 * scratch memory is per thread and all randomness comes from the caller's generator, so a view
 * depends only on the image and that generator.
 */
public final class MultiCrop {

  private final int globalSize;
  private final int localSize;
  private final int localCrops;
  private final double[] globalScale;
  private final double[] localScale;
  private final double flipP;
  private final double jitterP;
  private final double brightness;
  private final double contrast;
  private final double saturation;
  private final double hue;
  private final double grayscaleP;
  private final double[] blurP; // per view kind: global 0, global 1, local
  private final double blurSigmaMin;
  private final double blurSigmaMax;
  private final double solarizeP;
  private final float[] mean; // [3]
  private final float[] invStd; // [3]

  /** Scratch buffers grow to the largest image a thread has seen and are then reused. */
  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  private static final class Scratch {
    float[] resize = new float[0];
    float[] blur;
    final BicubicResize.WeightsCache weights = new BicubicResize.WeightsCache();
    final int[] order = new int[4];
  }

  /**
   * @param aug the {@code augment} config section
   * @param mean per-channel RGB mean subtracted last // [3]
   * @param std per-channel RGB std divided by last // [3]
   */
  public MultiCrop(DinoConfig.Augment aug, float[] mean, float[] std) {
    this.globalSize = positive("augment.globalSize", aug.globalSize());
    this.localSize = positive("augment.localSize", aug.localSize());
    if (aug.localCrops() < 0) {
      throw new IllegalArgumentException(
          "augment.localCrops must be >= 0 (0 = global views only), got " + aug.localCrops());
    }
    this.localCrops = aug.localCrops();
    this.globalScale = scaleRange("augment.globalScale", aug.globalScale());
    this.localScale = scaleRange("augment.localScale", aug.localScale());
    this.flipP = probability("augment.flipP", aug.flipP());
    this.jitterP = probability("augment.colorJitterP", aug.colorJitterP());
    this.brightness = nonNegative("augment.brightness", aug.brightness());
    this.contrast = nonNegative("augment.contrast", aug.contrast());
    this.saturation = nonNegative("augment.saturation", aug.saturation());
    if (!(aug.hue() >= 0 && aug.hue() <= 0.5)) {
      throw new IllegalArgumentException(
          "augment.hue must be in [0, 0.5] (a share of the colour wheel), got " + aug.hue());
    }
    this.hue = aug.hue();
    this.grayscaleP = probability("augment.grayscaleP", aug.grayscaleP());
    this.blurP =
        new double[] {
          probability("augment.blurPGlobal1", aug.blurPGlobal1()),
          probability("augment.blurPGlobal2", aug.blurPGlobal2()),
          probability("augment.blurPLocal", aug.blurPLocal())
        };
    if (!(aug.blurSigmaMin() > 0 && aug.blurSigmaMin() <= aug.blurSigmaMax())) {
      throw new IllegalArgumentException(
          "augment.blurSigmaMin/blurSigmaMax must satisfy 0 < min <= max, got "
              + aug.blurSigmaMin()
              + ", "
              + aug.blurSigmaMax());
    }
    this.blurSigmaMin = aug.blurSigmaMin();
    this.blurSigmaMax = aug.blurSigmaMax();
    this.solarizeP = probability("augment.solarizeP", aug.solarizeP());
    if (mean == null || mean.length != 3 || std == null || std.length != 3) {
      throw new IllegalArgumentException("data.mean and data.std need 3 values (R, G, B) each");
    }
    this.mean = mean.clone();
    this.invStd = new float[3];
    for (int c = 0; c < 3; c++) {
      if (!(std[c] > 0)) {
        throw new IllegalArgumentException("data.std[" + c + "] must be > 0, got " + std[c]);
      }
      invStd[c] = 1f / std[c];
    }
  }

  public int globalSize() {
    return globalSize;
  }

  public int localSize() {
    return localSize;
  }

  public int localCrops() {
    return localCrops;
  }

  /** An empty batch shaped for this recipe. */
  public MultiCropBatch newBatch(int batchSize) {
    return new MultiCropBatch(batchSize, globalSize, localSize, localCrops);
  }

  /**
   * Writes the 2 global and {@code localCrops} local views of {@code img} into slot {@code slot} of
   * {@code out}. Draws from {@code rng} in a fixed order, so the same generator state gives the
   * same views bit for bit.
   */
  public void apply(Image img, SplittableRandom rng, MultiCropBatch out, int slot) {
    if (out.globalSize() != globalSize
        || out.localSize() != localSize
        || out.localCrops() != localCrops) {
      throw new IllegalArgumentException(
          "batch shaped for "
              + out.globalSize()
              + "px globals and "
              + out.localCrops()
              + "x"
              + out.localSize()
              + "px locals, augmentation makes "
              + globalSize
              + "px and "
              + localCrops
              + "x"
              + localSize
              + "px");
    }
    if (slot < 0 || slot >= out.batchSize()) {
      throw new IndexOutOfBoundsException("slot " + slot + " outside [0, " + out.batchSize() + ")");
    }
    Scratch scratch = SCRATCH.get();
    for (int v = 0; v < 2; v++) {
      view(
          img,
          globalSize,
          globalScale,
          blurP[v],
          v == 1,
          rng,
          out.globals(),
          out.globalOffset(v, slot),
          scratch);
    }
    for (int v = 0; v < localCrops; v++) {
      view(
          img,
          localSize,
          localScale,
          blurP[2],
          false,
          rng,
          out.locals(),
          out.localOffset(v, slot),
          scratch);
    }
  }

  /** One view into {@code dst} at {@code off}: [size, size, 3], normalised. */
  private void view(
      Image img,
      int size,
      double[] scale,
      double blurProbability,
      boolean solarizable,
      SplittableRandom rng,
      float[] dst,
      int off,
      Scratch scratch) {
    int n = size * size;
    RandomResizedCrop.Box box =
        RandomResizedCrop.sample(img.height(), img.width(), scale[0], scale[1], rng);
    int tmpLen = box.height() * size * 3;
    if (scratch.resize.length < tmpLen) {
      scratch.resize = new float[tmpLen];
    }
    BicubicResize.resize(
        img.rgb(),
        img.width(),
        box.top(),
        box.left(),
        box.height(),
        box.width(),
        dst,
        off,
        size,
        size,
        scratch.resize,
        scratch.weights);
    ColorTransforms.clamp(dst, off, n); // PIL's 8-bit resize clips its overshoot

    if (rng.nextDouble() < flipP) {
      ColorTransforms.flipHorizontal(dst, off, size, size);
    }
    if (rng.nextDouble() < jitterP) {
      jitter(dst, off, n, rng, scratch.order);
    }
    if (rng.nextDouble() < grayscaleP) {
      ColorTransforms.grayscale(dst, off, n);
    }
    if (rng.nextDouble() < blurProbability) {
      double sigma = RandomResizedCrop.uniform(rng, blurSigmaMin, blurSigmaMax);
      scratch.blur = GaussianBlur.blur(dst, off, size, size, sigma, scratch.blur);
    }
    if (solarizable && rng.nextDouble() < solarizeP) {
      ColorTransforms.solarize(dst, off, n);
    }
    // Normalize: (x - mean) / std per channel.
    for (int p = off, end = off + 3 * n; p < end; p += 3) {
      dst[p] = (dst[p] - mean[0]) * invStd[0];
      dst[p + 1] = (dst[p + 1] - mean[1]) * invStd[1];
      dst[p + 2] = (dst[p + 2] - mean[2]) * invStd[2];
    }
  }

  /**
   * torchvision's ColorJitter: the four adjustments in a random order, factors uniform in [max(0, 1
   * - b), 1 + b] (brightness, contrast, saturation) and [-hue, hue]; a zero range skips the step.
   */
  private void jitter(float[] a, int off, int n, SplittableRandom rng, int[] order) {
    for (int i = 0; i < 4; i++) {
      order[i] = i;
    }
    for (int i = 3; i > 0; i--) { // Fisher-Yates, as torch.randperm(4)
      int j = rng.nextInt(i + 1);
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    float b = (float) RandomResizedCrop.uniform(rng, Math.max(0, 1 - brightness), 1 + brightness);
    float c = (float) RandomResizedCrop.uniform(rng, Math.max(0, 1 - contrast), 1 + contrast);
    float s = (float) RandomResizedCrop.uniform(rng, Math.max(0, 1 - saturation), 1 + saturation);
    float h = (float) RandomResizedCrop.uniform(rng, -hue, hue);
    for (int step : order) {
      switch (step) {
        case 0 -> {
          if (brightness > 0) {
            ColorTransforms.brightness(a, off, n, b);
          }
        }
        case 1 -> {
          if (contrast > 0) {
            ColorTransforms.contrast(a, off, n, c);
          }
        }
        case 2 -> {
          if (saturation > 0) {
            ColorTransforms.saturation(a, off, n, s);
          }
        }
        default -> {
          if (hue > 0) {
            ColorTransforms.hue(a, off, n, h);
          }
        }
      }
    }
  }

  private static int positive(String key, int v) {
    if (v <= 0) {
      throw new IllegalArgumentException(key + " must be > 0 px, got " + v);
    }
    return v;
  }

  private static double probability(String key, double p) {
    if (!(p >= 0 && p <= 1)) {
      throw new IllegalArgumentException(key + " must be a probability in [0, 1], got " + p);
    }
    return p;
  }

  private static double nonNegative(String key, double v) {
    if (!(v >= 0)) {
      throw new IllegalArgumentException(key + " must be >= 0, got " + v);
    }
    return v;
  }

  private static double[] scaleRange(String key, double[] range) {
    if (range == null
        || range.length != 2
        || !(range[0] > 0 && range[0] <= range[1] && range[1] <= 1)) {
      throw new IllegalArgumentException(
          key
              + " must be [min, max] area shares with 0 < min <= max <= 1, got "
              + java.util.Arrays.toString(range));
    }
    return range.clone();
  }
}
