package dev.dino4j.train;

import dev.dino4j.config.DinoConfig;
import java.util.SplittableRandom;

/**
 * iBOT's block-wise patch masks for one step's global views, as DINOv2 draws them: of the 2B
 * global views, {@code (int) (2B * probability)} are masked, view i of those with a target of
 * {@code (int) (N * U(r_i, r_i+1))} patches, the r_i evenly spaced over [ratio min, ratio max]
 * (so the batch spans the whole range); the rest stay unmasked; then the list is shuffled. A
 * view's mask is a union of rectangles of 4 to N/2 patches and aspect ratio in [0.3, 1/0.3],
 * added until the target is met or a rectangle adds nothing new.
 *
 * <p>The masks are a function of (run seed, step) alone, drawn for the whole global batch (view-major
 * rows v * B + i), so a resumed run and every worker of a cluster see exactly the masks of one
 * uninterrupted single-process run; {@link #workerRows} takes a worker's share.
 */
public final class IbotMasks {

  private static final int MIN_PATCHES = 4; // DINOv2's MaskingGenerator defaults
  private static final double MIN_ASPECT = 0.3;
  private static final int ATTEMPTS = 10;

  private IbotMasks() {}

  /**
   * The masks of one step, [2B][g * g] row-major over the patch grid (true = masked).
   *
   * @param views the global batch's global views, 2B
   * @param grid patches per side of a global view
   */
  public static boolean[][] forStep(DinoConfig.Loss loss, long seed, long step, int views, int grid) {
    SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + step * 0xBF58476D1CE4E5B9L + 0x1B0B);
    int n = grid * grid;
    int masked = (int) (views * loss.ibotMaskProbability());
    double lo = loss.ibotMaskRatioMin();
    double hi = loss.ibotMaskRatioMax();
    boolean[][] out = new boolean[views][];
    for (int i = 0; i < views; i++) {
      if (i < masked) {
        double a = lo + (hi - lo) * i / masked; // linspace(lo, hi, masked + 1)[i], [i + 1]
        double b = lo + (hi - lo) * (i + 1) / masked;
        out[i] = block(rng, grid, (int) (n * (a + (b - a) * rng.nextDouble())));
      } else {
        out[i] = new boolean[n];
      }
    }
    for (int i = views - 1; i > 0; i--) { // Fisher-Yates: which views are masked, and how much
      int j = rng.nextInt(i + 1);
      boolean[] t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out;
  }

  /**
   * One view's mask of about {@code target} patches (at most N/2 per rectangle; fewer when no
   * rectangle fits, as DINOv2's generator).
   */
  static boolean[] block(SplittableRandom rng, int grid, int target) {
    boolean[] mask = new boolean[grid * grid];
    int maxPerBlock = grid * grid / 2;
    int count = 0;
    while (count < target) {
      int delta = rectangle(rng, mask, grid, Math.min(target - count, maxPerBlock));
      if (delta == 0) {
        break;
      }
      count += delta;
    }
    return mask;
  }

  /** Adds one rectangle of new patches (1..max of them); returns how many it added (0: none fit). */
  private static int rectangle(SplittableRandom rng, boolean[] mask, int grid, int max) {
    double logLo = Math.log(MIN_ASPECT);
    double logHi = Math.log(1 / MIN_ASPECT);
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
      double area = MIN_PATCHES + (max - MIN_PATCHES) * rng.nextDouble();
      double aspect = Math.exp(logLo + (logHi - logLo) * rng.nextDouble());
      int h = (int) Math.rint(Math.sqrt(area * aspect)); // Python's round: half to even
      int w = (int) Math.rint(Math.sqrt(area / aspect));
      if (w >= grid || h >= grid) {
        continue;
      }
      int top = rng.nextInt(grid - h + 1);
      int left = rng.nextInt(grid - w + 1);
      int already = 0;
      for (int r = top; r < top + h; r++) {
        for (int c = left; c < left + w; c++) {
          already += mask[r * grid + c] ? 1 : 0;
        }
      }
      int fresh = h * w - already;
      if (fresh > 0 && fresh <= max) {
        for (int r = top; r < top + h; r++) {
          for (int c = left; c < left + w; c++) {
            mask[r * grid + c] = true;
          }
        }
        return fresh;
      }
    }
    return 0;
  }

  /**
   * Worker {@code task} of {@code workers}'s rows of the global batch's view-major masks [2B][N]:
   * samples [task * b, (task + 1) * b) of each view, again view-major, flattened to [2b * N] floats
   * (1 = masked), the layout the graph is fed.
   */
  public static float[] workerRows(boolean[][] masks, int task, int workers) {
    int views = masks.length;
    int perView = views / 2;
    int b = perView / workers;
    int n = masks[0].length;
    float[] out = new float[2 * b * n];
    int o = 0;
    for (int v = 0; v < 2; v++) {
      for (int i = 0; i < b; i++) {
        boolean[] m = masks[v * perView + task * b + i];
        for (int j = 0; j < n; j++) {
          out[o++] = m[j] ? 1f : 0f;
        }
      }
    }
    return out;
  }
}
