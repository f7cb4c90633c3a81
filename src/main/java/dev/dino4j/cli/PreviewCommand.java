package dev.dino4j.cli;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.AugmentPreview;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.data.MultiCrop;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dino4j preview}: a PNG grid of a recipe's multi-crop views, to check augmentation by eye. */
@Command(
    name = "preview",
    mixinStandardHelpOptions = true,
    description = {
      "Draw a recipe's multi-crop views as one PNG grid, to check the augmentation by eye.",
      "One row per image: the original (longer side resized to the global size, aspect kept, padded), the 2 global"
          + " views, then the local views drawn at their own size centred in a global-size cell (not upscaled, so"
          + " their real resolution shows); white lines separate the cells. Views are un-normalised with"
          + " data.mean/std: the colours are what the network sees before normalisation."
    })
final class PreviewCommand implements Callable<Integer> {

  @Parameters(index = "0", arity = "0..1", paramLabel = "IMAGE_OR_DATASET",
      description = "An image file (every row augments it afresh), a folder of images or class folders, or"
          + " 'fashion-mnist'. Default: the config's dataset.")
  String source;

  @Option(names = {"-c", "--config"}, description = "YAML recipe whose augment and data sections to use (default:"
      + " configs/fmnist-tiny.yaml).", defaultValue = "configs/fmnist-tiny.yaml")
  Path config;

  @Option(names = "--set", description = "Override a config key, e.g. --set augment.local_crops=4 (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--images", defaultValue = "4", description = "Rows: images drawn from the dataset (default"
      + " ${DEFAULT-VALUE}).")
  int images;

  @Option(names = "--seed", defaultValue = "0",
      description = "Picks the images and their crops; the same seed draws the same grid (default ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = {"-o", "--out"}, defaultValue = "preview.png", description = "PNG file to write (default"
      + " ${DEFAULT-VALUE}).")
  Path out;

  @Option(names = "--scale", description = "Draw each view pixel as an N x N block. Default: enough for cells of at"
      + " least 128 px, so the tiny recipe's 28 px views are readable.")
  Integer scale;

  @Override
  public Integer call() throws Exception {
    if (images < 1 || images > 64) {
      throw new IllegalArgumentException("--images must be in [1, 64] (rows of the grid), got " + images);
    }
    String name = out.getFileName() == null ? "" : out.getFileName().toString();
    if (!name.toLowerCase(Locale.ROOT).endsWith(".png")) {
      throw new IllegalArgumentException("--out " + out + ": the preview is a PNG; give a file name ending in .png");
    }
    DinoConfig cfg = ConfigLoader.load(config, overrides);
    MultiCrop augment = new MultiCrop(cfg.augment(), cfg.data().mean(), cfg.data().std());
    int cell = AugmentPreview.cell(augment);
    int show = scale != null ? scale : Math.max(1, (128 + cell - 1) / cell);
    if (show < 1 || show > 32) {
      throw new IllegalArgumentException("--scale must be in [1, 32], got " + show);
    }
    ImageDataset dataset = AugmentPreview.open(source, cfg.data());
    int[] rows = AugmentPreview.pick(dataset.size(), images, seed);
    BufferedImage grid = AugmentPreview.render(dataset, rows, augment, cfg.data().mean(), cfg.data().std(), seed, show);
    AugmentPreview.write(out, grid);
    System.out.printf(Locale.ROOT, "%s: %d x %d px, %d rows x (original, 2 global %d px, %d local %d px views),"
            + " %d px cells, seed %d%n", out, grid.getWidth(), grid.getHeight(), rows.length, augment.globalSize(),
        augment.localCrops(), augment.localSize(), cell * show, seed);
    for (int r = 0; r < rows.length; r++) {
      System.out.printf(Locale.ROOT, "  row %d: %s%n", r + 1, dataset.describe(rows[r]));
    }
    return 0;
  }
}
