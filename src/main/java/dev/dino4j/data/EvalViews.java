package dev.dino4j.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * The single views evaluation feeds a frozen backbone, with the same PIL-faithful bicubic as the
 * training crops:
 *
 * <pre>
 * centre:  Resize(shorter side = size) -> CenterCrop(size) -> Normalize   (k-NN, linear test;
 *          a square image is simply resized whole, or kept: Fashion-MNIST at 28)
 * train:   RandomResizedCrop(size, scale) -> flip(0.5) -> Normalize        (linear probe training)
 * pixels:  Resize(h x w) -> Normalize                                       (raw-pixel baseline)
 * </pre>
 *
 * The reference's linear/k-NN evaluation resizes to 256/224 of the crop and centre-crops; at
 * dino4j's small sizes the whole image is kept instead (ratio 1), so nothing is cut off a 28 px
 * garment. Thread-safe: scratch memory is per call.
 */
public final class EvalViews {

  private EvalViews() {}

  /** Decodes an image file (JPEG, PNG, BMP, GIF) into RGB floats in [0, 1]. */
  public static Image read(Path file) throws IOException {
    return ImageDecoder.decode(file, ImageDecoder.DEFAULT_MAX_PIXELS);
  }

  /**
   * Shorter side resized to {@code size} (torchvision's {@code Resize(int)}: the longer side
   * becomes {@code int(size * long / short)}), then the centred {@code size x size} window,
   * normalised, into {@code dst[off ..]}.
   *
   * @param dst output // [size, size, 3] from off
   */
  public static void centre(Image img, int size, float[] mean, float[] std, float[] dst, int off) {
    int h = img.height();
    int w = img.width();
    int rh;
    int rw;
    if (h <= w) {
      rh = size;
      rw = (int) ((long) size * w / h);
    } else {
      rw = size;
      rh = (int) ((long) size * h / w);
    }
    float[] resized = new float[rh * rw * 3];
    BicubicResize.resize(img.rgb(), w, 0, 0, h, w, resized, 0, rh, rw, new float[h * rw * 3], null);
    int top = (int) Math.rint((rh - size) / 2.0); // torchvision CenterCrop: int(round(...))
    int left = (int) Math.rint((rw - size) / 2.0);
    for (int y = 0; y < size; y++) {
      int in = ((top + y) * rw + left) * 3;
      int out = off + y * size * 3;
      for (int x = 0; x < size * 3; x += 3) {
        for (int c = 0; c < 3; c++) {
          dst[out + x + c] = (clamp(resized[in + x + c]) - mean[c]) / std[c];
        }
      }
    }
  }

  /**
   * torchvision's {@code RandomResizedCrop(size, scale)} (ratio 3/4..4/3, bicubic) and a
   * horizontal flip with p = 0.5, normalised, into {@code dst[off ..]}. Draws from {@code rng} in
   * a fixed order: crop, then flip.
   */
  public static void randomCropFlip(
      Image img, int size, double scaleMin, double scaleMax, SplittableRandom rng,
      float[] mean, float[] std, float[] dst, int off) {
    RandomResizedCrop.Box box = RandomResizedCrop.sample(img.height(), img.width(), scaleMin, scaleMax, rng);
    boolean flip = rng.nextDouble() < 0.5;
    float[] out = new float[size * size * 3];
    BicubicResize.resize(img.rgb(), img.width(), box.top(), box.left(), box.height(), box.width(),
        out, 0, size, size, new float[box.height() * size * 3], null);
    for (int y = 0; y < size; y++) {
      for (int x = 0; x < size; x++) {
        int src = (y * size + (flip ? size - 1 - x : x)) * 3;
        int o = off + (y * size + x) * 3;
        for (int c = 0; c < 3; c++) {
          dst[o + c] = (clamp(out[src + c]) - mean[c]) / std[c];
        }
      }
    }
  }

  /** The image resized to exactly {@code h x w} (a no-op at its own size), normalised. */
  public static void pixels(Image img, int h, int w, float[] mean, float[] std, float[] dst, int off) {
    float[] src = img.rgb();
    if (img.height() != h || img.width() != w) {
      src = new float[h * w * 3];
      BicubicResize.resize(img.rgb(), img.width(), 0, 0, img.height(), img.width(), src, 0, h, w,
          new float[img.height() * w * 3], null);
    }
    for (int i = 0; i < h * w * 3; i += 3) {
      for (int c = 0; c < 3; c++) {
        dst[off + i + c] = (clamp(src[i + c]) - mean[c]) / std[c];
      }
    }
  }

  /** PIL's 8-bit images clamp after resampling; so do we (without the rounding). */
  private static float clamp(float v) {
    return v < 0f ? 0f : (v > 1f ? 1f : v);
  }
}
