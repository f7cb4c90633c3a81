package dev.dino4j.cli;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.train.DataBenchmark;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code dino4j bench-data}: is the data pipeline fast enough to keep the training step fed? */
@Command(
    name = "bench-data",
    mixinStandardHelpOptions = true,
    description = {
      "Benchmark data loading: JPEG decode and multi-crop speed, and the training step's wait for data.",
      "Decode-only and augmentation-only ms/image (wall and CPU time) and decode + multi-crop images/s per worker"
          + " thread through the loader, on generated ImageNet-sized JPEGs (500x375, cached in --cache) with"
          + " --crop-config's views; then the share of training-step time spent waiting for data in a short run of"
          + " --train-config."
    })
final class BenchDataCommand implements Callable<Integer> {

  @Option(names = "--crop-config", defaultValue = "configs/vit-s16-imagenet.yaml",
      description = "Recipe whose augmentation is timed on the JPEGs (default ${DEFAULT-VALUE}: 2x224 + 8x96 views).")
  Path cropConfig;

  @Option(names = "--train-config", defaultValue = "configs/fmnist-tiny.yaml",
      description = "Recipe trained for --steps steps to measure the data wait (default ${DEFAULT-VALUE}).")
  Path trainConfig;

  @Option(names = "--jpegs", defaultValue = "200", description = "Generated JPEGs (default ${DEFAULT-VALUE}).")
  int jpegs;

  @Option(names = "--workers", defaultValue = "1,2", split = ",",
      description = "Loader worker threads to time, comma-separated (default ${DEFAULT-VALUE}).")
  int[] workers;

  @Option(names = "--batch", defaultValue = "16",
      description = "Loader batch size for the JPEG part; small, so an epoch of the JPEGs has many batches"
          + " (default ${DEFAULT-VALUE}).")
  int batch;

  @Option(names = "--steps", defaultValue = "60",
      description = "Training steps for the data-wait share; 0 skips that part (default ${DEFAULT-VALUE}).")
  int steps;

  @Option(names = "--cache", defaultValue = "target/bench-data",
      description = "Folder for the generated JPEGs, kept for the next run, and the temporary training run"
          + " (default ${DEFAULT-VALUE}).")
  Path cache;

  @Option(names = "--index-files", defaultValue = "100000",
      description = "Files in the generated tree whose indexing is timed; 0 skips that part (default ${DEFAULT-VALUE}).")
  int indexFiles;

  @Override
  public Integer call() throws Exception {
    if (jpegs < 1) {
      throw new IllegalArgumentException("--jpegs must be >= 1, got " + jpegs);
    }
    if (batch < 1 || batch > jpegs) {
      throw new IllegalArgumentException("--batch must be in [1, --jpegs = " + jpegs + "], got " + batch);
    }
    for (int w : workers) {
      if (w < 1) {
        throw new IllegalArgumentException("--workers entries must be >= 1 (threads), got " + w);
      }
    }
    if (indexFiles < 0) {
      throw new IllegalArgumentException("--index-files must be >= 0 (0 skips indexing), got " + indexFiles);
    }
    if (steps < 0) {
      throw new IllegalArgumentException("--steps must be >= 0 (0 skips the training part), got " + steps);
    }
    DinoConfig crop = ConfigLoader.load(cropConfig, List.of());
    DinoConfig.Augment a = crop.augment();
    DataBenchmark.JpegFolder folder = DataBenchmark.jpegFolder(cache, jpegs, 500, 375);
    System.out.printf(Locale.ROOT, "data              %d JPEGs %dx%d (mean %.0f KB) in %s%n", folder.count(),
        folder.width(), folder.height(), folder.meanBytes() / 1024.0, folder.dir());
    System.out.printf(Locale.ROOT, "views             2x%d + %dx%d px (%s)%n", a.globalSize(), a.localCrops(),
        a.localSize(), cropConfig);
    DataBenchmark.Throughput t = DataBenchmark.throughput(folder.dir(), crop, workers, batch);
    // CPU time next to wall time: on a shared machine wall time says what the machine gave, CPU time what an
    // idle core would do.
    System.out.printf(Locale.ROOT, "decode            %.1f ms/image wall, %.1f ms CPU (ImageDecoder, one thread)%n",
        t.decodeMs(), t.decodeCpuMs());
    System.out.printf(Locale.ROOT, "augment           %.1f ms/image wall, %.1f ms CPU (full multi-crop of a decoded"
        + " image, one thread)%n", t.augmentMs(), t.augmentCpuMs());
    System.out.printf(Locale.ROOT, "decode+augment    %.1f images/s per thread by wall time, %.1f by CPU time (from the"
        + " two lines above)%n", t.perThread(), t.perThreadCpu());
    for (DataBenchmark.LoaderRate r : t.loader()) {
      System.out.printf(Locale.ROOT, "loader %2d worker%s %.1f images/s, %.1f per worker thread; %.1f images per"
          + " process CPU-second (batch %d, %d images)%n", r.workers(), r.workers() == 1 ? " " : "s",
          r.imagesPerSec(), r.perWorker(), r.perCpuSecond(), batch, r.images());
    }
    if (steps > 0) {
      DataBenchmark.TrainingWait w = DataBenchmark.trainingWait(trainConfig, steps, cache);
      System.out.printf(Locale.ROOT, "training          %s: %d steps of batch %d in %.1f s, %.1f images/s, %d loader"
          + " worker(s)%n", trainConfig, w.steps(), w.batchSize(), w.seconds(), w.imagesPerSec(), w.workers());
      System.out.printf(Locale.ROOT, "data wait         %.2f%% of training-step time (%.2f s; the trainer's own measure)%n",
          100 * w.waitShare(), w.waitShare() * w.seconds());
    }
    if (indexFiles > 0) {
      DataBenchmark.IndexTiming ix = DataBenchmark.indexTiming(cache, indexFiles);
      System.out.printf(Locale.ROOT, "index             %d files in %d folders: first walk + store %.2f s, reuse %.2f s"
          + " (one stat per folder)%n", ix.files(), ix.folders(), ix.scanSeconds(), ix.reuseSeconds());
    }
    return 0;
  }
}
