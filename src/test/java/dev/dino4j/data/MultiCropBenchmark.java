package dev.dino4j.data;

import dev.dino4j.config.DinoConfig;
import java.io.IOException;
import java.util.SplittableRandom;

/**
 * Multi-crop throughput of one thread, not a test (no assertions, surefire skips it):
 *
 * <pre>
 * mvn -q test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java -cp target/classes:target/test-classes:$(cat target/cp.txt) \
 *     dev.dino4j.data.MultiCropBenchmark [globalSize localSize localCrops seconds]
 * </pre>
 *
 * Uses Fashion-MNIST when installed (28x28), else synthetic 28x28 images; recipe: DINO's
 * probabilities with 2 x 32 px global and 6 x 16 px local views (the fmnist recipe's sizes).
 */
public final class MultiCropBenchmark {

  private MultiCropBenchmark() {}

  public static void main(String[] args) throws IOException {
    int globalSize = args.length > 0 ? Integer.parseInt(args[0]) : 32;
    int localSize = args.length > 1 ? Integer.parseInt(args[1]) : 16;
    int localCrops = args.length > 2 ? Integer.parseInt(args[2]) : 6;
    double seconds = args.length > 3 ? Double.parseDouble(args[3]) : 5;
    ImageDataset ds;
    try {
      ds = IdxDataset.fashionMnist(IdxDataset.locateFashionMnist(""), "train");
    } catch (IOException e) {
      ds =
          new ImageDataset() {
            @Override
            public int size() {
              return 1000;
            }

            @Override
            public Image image(int index) {
              return AugmentRecipes.colourful(28, 28, index);
            }

            @Override
            public int label(int index) {
              return UNLABELLED;
            }

            @Override
            public int numClasses() {
              return 0;
            }

            @Override
            public String describe(int index) {
              return "synthetic-" + index;
            }
          };
    }
    DinoConfig.Augment aug = AugmentRecipes.dino(globalSize, localSize, localCrops);
    MultiCrop mc =
        new MultiCrop(
            aug, new float[] {0.286f, 0.286f, 0.286f}, new float[] {0.353f, 0.353f, 0.353f});
    MultiCropBatch batch = mc.newBatch(1);
    SplittableRandom rng = new SplittableRandom(0);
    // Warm up the JIT, then measure.
    for (int i = 0; i < 20000; i++) {
      mc.apply(ds.image(i % ds.size()), rng, batch, 0);
    }
    long t0 = System.nanoTime();
    long deadline = t0 + (long) (seconds * 1e9);
    int n = 0;
    while (System.nanoTime() < deadline) {
      for (int k = 0; k < 100; k++, n++) {
        mc.apply(ds.image(n % ds.size()), rng, batch, 0);
      }
    }
    double elapsed = (System.nanoTime() - t0) / 1e9;
    System.out.printf(
        "multi-crop %dx%d px images, 2x%d + %dx%d views: %.0f images/s on one thread (%d in %.1f"
            + " s)%n",
        28, 28, globalSize, localCrops, localSize, n / elapsed, n, elapsed);
  }
}
