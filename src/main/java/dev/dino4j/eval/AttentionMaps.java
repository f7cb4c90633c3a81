package dev.dino4j.eval;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.commons.imaging.ImageFormats;
import org.apache.commons.imaging.Imaging;

/**
 * The DINO paper's attention figure (visualize_attention.py): the last block's self-attention of
 * the CLS token to every patch, one map per head, upsampled (nearest) to the image; and the
 * thresholded map that keeps the smallest set of patches holding a given share of the attention
 * mass.
 */
public final class AttentionMaps {

  /**
   * Maps of one image: {@code maps} [heads, grid * grid], each head's CLS-to-patch attention
   * renormalised over the patches so that it sums to 1 (the CLS token's attention to itself is
   * left out, as in the reference; the threshold works on this normalised mass).
   */
  public record Maps(int heads, int grid, float[] maps) {
    public float[] head(int h) {
      return Arrays.copyOfRange(maps, h * grid * grid, (h + 1) * grid * grid);
    }
  }

  private AttentionMaps() {}

  /** The maps of one normalised image // [S, S, 3]. */
  public static Maps compute(FeatureExtractor fx, float[] image) {
    int grid = fx.size() / fx.dims().patch();
    int n = grid * grid;
    int heads = fx.dims().heads();
    float[] raw = fx.lastAttention(image, 1); // [1, H, N]
    float[] maps = new float[heads * n];
    for (int h = 0; h < heads; h++) {
      double sum = 0;
      for (int i = 0; i < n; i++) {
        sum += raw[h * n + i];
      }
      for (int i = 0; i < n; i++) {
        maps[h * n + i] = (float) (raw[h * n + i] / sum);
      }
    }
    return new Maps(heads, grid, maps);
  }

  /**
   * The reference's mask: patches sorted by attention ascending, cumulative sum of the normalised
   * mass, keep those where it exceeds {@code 1 - keep}: the largest patches holding a {@code keep}
   * share of the mass.
   */
  public static boolean[] mask(float[] map, double keep) {
    if (!(keep > 0 && keep <= 1)) {
      throw new IllegalArgumentException("--threshold must be in (0, 1] (share of attention mass kept), got " + keep);
    }
    int n = map.length;
    Integer[] order = new Integer[n];
    double total = 0;
    for (int i = 0; i < n; i++) {
      order[i] = i;
      total += map[i];
    }
    Arrays.sort(order, (a, b) -> Float.compare(map[a], map[b]));
    boolean[] m = new boolean[n];
    double cum = 0;
    for (int i : order) {
      cum += map[i] / total;
      m[i] = cum > 1 - keep;
    }
    return m;
  }

  /**
   * Writes the figure's PNGs into {@code dir}: {@code image.png} (the network's input view),
   * per head {@code attn-head<h>.png} (viridis, scaled to the head's min..max), {@code
   * overlay-head<h>.png} (half image, half map), {@code mask-head<h>.png} (the image, tinted
   * orange inside the mask and dimmed outside), {@code summary.png} (image, overlays and masks side by side) and {@code
   * attention.npy} (the maps, float32 [heads, grid, grid]). {@code view} is the un-normalised input
   * [S, S, 3] in [0, 1]; every pixel is shown as a {@code scale x scale} block.
   */
  public static List<Path> write(Path dir, Maps m, float[] view, int size, double keep, int scale) throws IOException {
    Files.createDirectories(dir);
    List<Path> written = new ArrayList<>();
    int side = size * scale;
    int cell = size / m.grid(); // patch side, px
    BufferedImage img = rgb(view, size, scale);
    written.add(png(dir.resolve("image.png"), img));
    // a header row names the columns; the empty cell under the input says what the rows are
    int header = 22;
    BufferedImage summary = new BufferedImage(side * (1 + m.heads()), header + side * 2, BufferedImage.TYPE_INT_RGB);
    java.awt.Graphics2D g = summary.createGraphics();
    g.setRenderingHint(java.awt.RenderingHints.KEY_TEXT_ANTIALIASING, java.awt.RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.PLAIN, 13));
    g.setColor(java.awt.Color.WHITE);
    g.drawString("input", 6, 16);
    for (int h = 0; h < m.heads(); h++) {
      g.drawString("head " + (h + 1), side * (1 + h) + 6, 16);
    }
    g.drawImage(img, 0, header, null);
    int textY = header + side + 18;
    String[] legend = {"top: CLS attention", "over the image;", "bottom: the patches",
        String.format(Locale.ROOT, "with %.0f%% of it", 100 * keep)};
    for (String line : legend) {
      g.drawString(line, 6, textY);
      textY += 17;
    }
    for (int h = 0; h < m.heads(); h++) {
      float[] map = m.head(h);
      float lo = Float.MAX_VALUE;
      float hi = -Float.MAX_VALUE;
      for (float v : map) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      boolean[] mask = mask(map, keep);
      BufferedImage heat = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
      BufferedImage overlay = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
      BufferedImage masked = new BufferedImage(side, side, BufferedImage.TYPE_INT_RGB);
      for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++) {
          int py = y / scale;
          int px = x / scale;
          int patch = (py / cell) * m.grid() + px / cell;
          float t = hi > lo ? (map[patch] - lo) / (hi - lo) : 0f;
          int c = viridis(t);
          int p = img.getRGB(x, y);
          heat.setRGB(x, y, c);
          overlay.setRGB(x, y, blend(p, c, 0.5f));
          masked.setRGB(x, y, mask[patch] ? blend(p, MASK_COLOUR, 0.45f) : blend(p, 0, 0.6f));
        }
      }
      String tag = String.format(Locale.ROOT, "head%d", h);
      written.add(png(dir.resolve("attn-" + tag + ".png"), heat));
      written.add(png(dir.resolve("overlay-" + tag + ".png"), overlay));
      written.add(png(dir.resolve("mask-" + tag + ".png"), masked));
      g.drawImage(overlay, side * (1 + h), header, null);
      g.drawImage(masked, side * (1 + h), header + side, null);
    }
    g.dispose();
    written.add(png(dir.resolve("summary.png"), summary));
    Path npy = dir.resolve("attention.npy");
    Npy.write(npy, m.maps(), m.heads(), m.grid(), m.grid());
    written.add(npy);
    return written;
  }

  private static BufferedImage rgb(float[] view, int size, int scale) {
    BufferedImage img = new BufferedImage(size * scale, size * scale, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < size * scale; y++) {
      for (int x = 0; x < size * scale; x++) {
        int o = ((y / scale) * size + x / scale) * 3;
        img.setRGB(x, y, (byte8(view[o]) << 16) | (byte8(view[o + 1]) << 8) | byte8(view[o + 2]));
      }
    }
    return img;
  }

  private static int byte8(float v) {
    return Math.max(0, Math.min(255, Math.round(v * 255f)));
  }

  /** a * (1 - t) + b * t per channel. */
  private static int blend(int a, int b, float t) {
    int out = 0;
    for (int shift = 16; shift >= 0; shift -= 8) {
      int ca = (a >> shift) & 0xFF;
      int cb = (b >> shift) & 0xFF;
      out |= Math.round(ca * (1 - t) + cb * t) << shift;
    }
    return out;
  }

  /** Tint of the kept patches in the mask images. */
  private static final int MASK_COLOUR = 0xFF8C00;

  private static final int[][] VIRIDIS = {
    {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}
  };

  /** Matplotlib's viridis, piecewise linear through five of its colours; t in [0, 1]. */
  static int viridis(float t) {
    float x = Math.max(0f, Math.min(1f, t)) * (VIRIDIS.length - 1);
    int i = Math.min((int) x, VIRIDIS.length - 2);
    float f = x - i;
    int rgb = 0;
    for (int c = 0; c < 3; c++) {
      int v = Math.round(VIRIDIS[i][c] * (1 - f) + VIRIDIS[i + 1][c] * f);
      rgb |= v << (16 - 8 * c);
    }
    return rgb;
  }

  private static Path png(Path file, BufferedImage img) throws IOException {
    Imaging.writeImage(img, file.toFile(), ImageFormats.PNG);
    return file;
  }
}
