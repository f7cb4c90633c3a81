package dev.dino4j.cli;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.EvalViews;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.eval.EvalData;
import dev.dino4j.data.Image;
import dev.dino4j.eval.AttentionMaps;
import dev.dino4j.eval.Backbones;
import dev.dino4j.eval.FeatureExtractor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dino4j attention}: the paper's figure of the last block's CLS self-attention per head. */
@Command(
    name = "attention",
    mixinStandardHelpOptions = true,
    description = {
      "Self-attention maps of the CLS token in the last block, one per head, as in the DINO paper:",
      "PNG heat map, overlay on the image, and the mask keeping the given share of attention mass."
    })
final class AttentionCommand implements Callable<Integer> {

  @Parameters(index = "0", paramLabel = "IMAGE", description = "Image file (PNG, JPEG, BMP, GIF). With --test-images:"
      + " the run directory or checkpoint instead.")
  Path image;

  @Parameters(index = "1", arity = "0..1", paramLabel = "RUN_OR_CKPT",
      description = "Run directory or checkpoint folder. Default: runs/fmnist-tiny.")
  Path run = Path.of("runs/fmnist-tiny");

  @Option(names = "--test-images", paramLabel = "N", description = "Instead of an IMAGE file: the first N images of"
      + " the run's own test split (labelled datasets such as Fashion-MNIST), each into OUTPUT/<index>-<class>/.")
  Integer testImages;

  @Option(names = {"-o", "--output"}, required = true, description = "Folder for the PNGs.")
  Path output;

  @Option(names = "--threshold", defaultValue = "0.6",
      description = "Share of the attention mass the mask keeps (the paper's figure: 0.6). Default: ${DEFAULT-VALUE}.")
  double threshold;

  @Option(names = "--network", defaultValue = "teacher", description = "teacher or student. Default: ${DEFAULT-VALUE}.")
  String network;

  @Option(names = "--image-size", description = "Side the image is resized to (shorter side, then centre crop);"
      + " a multiple of the patch size. Default: the training global_size.")
  Integer imageSize;

  @Option(names = "--scale", description = "Show each pixel as an N x N block in the PNGs. Default: enough for 256 px.")
  Integer scale;

  @Override
  public Integer call() throws Exception {
    if (!(threshold > 0 && threshold <= 1)) {
      throw new IllegalArgumentException("--threshold must be in (0, 1] (share of attention mass kept), got " + threshold);
    }
    if (testImages != null) {
      run = image; // the one positional argument is the run
      if (testImages < 1) {
        throw new IllegalArgumentException("--test-images must be >= 1, got " + testImages);
      }
    } else if (!Files.isRegularFile(image)) {
      throw new IllegalArgumentException("image " + image + " does not exist or is not a file");
    }
    Backbones.Loaded net = Backbones.fromCheckpoint(run, network, List.of());
    DinoConfig cfg = net.config();
    int size = imageSize != null ? imageSize : cfg.augment().globalSize();
    int show = scale != null ? scale : Math.max(1, (256 + size - 1) / size);
    if (show < 1 || show > 64) {
      throw new IllegalArgumentException("--scale must be in [1, 64], got " + show);
    }
    if (testImages == null) {
      write(net, EvalViews.read(image), image.toString(), output, size, show);
      return 0;
    }
    ImageDataset test = EvalData.open(cfg, "test", null);
    for (int i = 0; i < Math.min(testImages, test.size()); i++) {
      int label = test.label(i);
      String name = label < 0 ? "unlabelled" : test.classes().isEmpty() ? "class" + label : test.classes().get(label);
      Path dir = output.resolve(String.format(java.util.Locale.ROOT, "%03d-%s", i, name.replaceAll("[^A-Za-z0-9]+", "-")));
      write(net, test.image(i), test.describe(i), dir, size, show);
    }
    return 0;
  }

  private void write(Backbones.Loaded net, Image img, String what, Path output, int size, int show) throws Exception {
    DinoConfig cfg = net.config();
    float[] view = new float[size * size * 3];
    EvalViews.centre(img, size, new float[3], new float[] {1f, 1f, 1f}, view, 0); // [S, S, 3] in [0, 1]
    float[] input = new float[view.length];
    float[] mean = cfg.data().mean();
    float[] std = cfg.data().std();
    for (int i = 0; i < view.length; i++) {
      input[i] = (view[i] - mean[i % 3]) / std[i % 3];
    }
    try (FeatureExtractor fx = new FeatureExtractor(cfg, net.weights(), FeatureExtractor.Pooling.CLS, size)) {
      AttentionMaps.Maps maps = AttentionMaps.compute(fx, input);
      List<Path> files = AttentionMaps.write(output, maps, view, size, threshold, show);
      System.out.printf("attention of %s (%d heads, %dx%d patches, %s): %d files in %s (summary.png: image,"
          + " overlays above, masks keeping %.0f%% of the mass below)%n", what, maps.heads(), maps.grid(), maps.grid(),
          net.description(), files.size(), output, threshold * 100);
    }
  }
}
