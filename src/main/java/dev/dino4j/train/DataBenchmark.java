package dev.dino4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.Image;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.data.ImageFolderDataset;
import dev.dino4j.data.MultiCrop;
import dev.dino4j.data.MultiCropBatch;
import dev.dino4j.data.MultiCropLoader;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;

/**
 * How fast the data pipeline is, in two parts:
 *
 * <ol>
 *   <li>Throughput on ImageNet-like files: decode-only and augmentation-only ms per image on one
 *       thread, and decode + multi-crop images/s through {@link MultiCropLoader} with 1, 2, ...
 *       worker threads, on a generated folder of JPEGs. Decoding goes through {@link
 *       ImageFolderDataset#image}, the pipeline's one decode call, so a new decoder is measured
 *       without touching this class.
 *   <li>What that costs training: the share of step time the {@link Trainer} spends waiting for
 *       batches, measured by the trainer itself (its per-epoch {@code data_wait_share}, from {@link
 *       MultiCropLoader#waitNanos()}) over a short run.
 * </ol>
 *
 * Part 1 reports CPU time next to wall time: on a machine shared with other jobs the wall times
 * only say what this machine gave, while CPU time per image says what an idle core would do.
 */
public final class DataBenchmark {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** JPEG quality of the generated files: typical of photos on the web and in ImageNet. */
  static final float JPEG_QUALITY = 0.9f;

  /** Images decoded and augmented untimed first, so the JIT has compiled the hot loops. */
  private static final int WARMUP = 20;

  /** The generated JPEG folder and what it holds. */
  public record JpegFolder(Path dir, int count, int width, int height, long meanBytes) {}

  /**
   * Decode and augmentation cost of one thread (wall and CPU ms per image), and the loader's rate
   * per worker count.
   */
  public record Throughput(
      double decodeMs,
      double decodeCpuMs,
      double augmentMs,
      double augmentCpuMs,
      List<LoaderRate> loader) {

    /** Images/s one thread reaches by wall time if decode and augmentation were all it did. */
    public double perThread() {
      return 1000 / (decodeMs + augmentMs);
    }

    /** The same from CPU time: what one idle core would do. */
    public double perThreadCpu() {
      return 1000 / (decodeCpuMs + augmentCpuMs);
    }
  }

  /**
   * Images delivered by a loader with {@code workers} threads to a consumer that only takes them,
   * in {@code seconds} of wall time and {@code cpuSeconds} of the whole process's CPU time.
   */
  public record LoaderRate(int workers, int images, double seconds, double cpuSeconds) {

    public double imagesPerSec() {
      return images / seconds;
    }

    public double perWorker() {
      return imagesPerSec() / workers;
    }

    /** Images per CPU-second of the process (workers, consumer, GC): the idle-core rate. */
    public double perCpuSecond() {
      return images / cpuSeconds;
    }
  }

  /** A short training run's own timing: {@code waitShare} of {@code seconds} went to waiting. */
  public record TrainingWait(
      int steps,
      int batchSize,
      int workers,
      double seconds,
      double imagesPerSec,
      double waitShare) {}

  private DataBenchmark() {}

  /**
   * {@code count} JPEGs of {@code width x height} in {@code cacheDir}, generated on the first call
   * and reused after (a folder per count and size, so a changed request never mixes files).
   */
  public static JpegFolder jpegFolder(Path cacheDir, int count, int width, int height)
      throws IOException {
    if (count < 1 || width < 1 || height < 1) {
      throw new IllegalArgumentException(
          "need at least one JPEG of at least 1x1 px, got "
              + count
              + " of "
              + width
              + "x"
              + height);
    }
    Path dir = cacheDir.resolve(String.format(Locale.ROOT, "jpeg-%d-%dx%d", count, width, height));
    Files.createDirectories(dir);
    long bytes = 0;
    for (int i = 0; i < count; i++) {
      Path file = dir.resolve(String.format(Locale.ROOT, "img-%04d.jpg", i));
      if (!Files.isRegularFile(file)) {
        // Written under another name and moved, so an interrupted run leaves no half file behind
        // that a later run would take for a finished one.
        Path part = dir.resolve(file.getFileName() + ".part");
        writeJpeg(syntheticPhoto(width, height, new SplittableRandom(i)), part);
        Files.move(part, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      }
      bytes += Files.size(file);
    }
    return new JpegFolder(dir, count, width, height, bytes / count);
  }

  /**
   * Part 1 on {@code folder} with the augmentation of {@code cfg}: one-thread decode and multi-crop
   * costs, then one loader epoch (after 2 untimed batches) per entry of {@code workerCounts}.
   */
  public static Throughput throughput(
      Path folder, DinoConfig cfg, int[] workerCounts, int batchSize) throws IOException {
    ImageFolderDataset ds = new ImageFolderDataset(folder);
    int n = ds.size();
    MultiCrop augment = new MultiCrop(cfg.augment(), cfg.data().mean(), cfg.data().std());

    ThreadMXBean threads = ManagementFactory.getThreadMXBean();

    // ---- decode only: every file once, one thread ----
    for (int i = 0; i < Math.min(WARMUP, n); i++) {
      ds.image(i);
    }
    long cpu0 = threads.getCurrentThreadCpuTime();
    long t0 = System.nanoTime();
    List<Image> decoded = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Image img = ds.image(i);
      if (decoded.size() < 16) {
        decoded.add(img); // a few kept for the augmentation timing; all would be ~2 MB each
      }
    }
    double decodeMs = (System.nanoTime() - t0) / 1e6 / n;
    double decodeCpuMs = (threads.getCurrentThreadCpuTime() - cpu0) / 1e6 / n;

    // ---- augmentation only: the full multi-crop of decoded images, one thread ----
    MultiCropBatch batch = augment.newBatch(1);
    SplittableRandom rng = new SplittableRandom(0);
    for (int i = 0; i < WARMUP; i++) {
      augment.apply(decoded.get(i % decoded.size()), rng, batch, 0);
    }
    cpu0 = threads.getCurrentThreadCpuTime();
    t0 = System.nanoTime();
    for (int i = 0; i < n; i++) {
      augment.apply(decoded.get(i % decoded.size()), rng, batch, 0);
    }
    double augmentMs = (System.nanoTime() - t0) / 1e6 / n;
    double augmentCpuMs = (threads.getCurrentThreadCpuTime() - cpu0) / 1e6 / n;
    decoded.clear();

    // ---- decode + augmentation through the loader ----
    List<LoaderRate> rates = new ArrayList<>();
    for (int workers : workerCounts) {
      try (MultiCropLoader loader =
          new MultiCropLoader(ds, augment, batchSize, workers, cfg.data().prefetch(), 0)) {
        int steps = loader.stepsPerEpoch();
        drain(loader.epoch(0, 0, Math.min(2, steps))); // threads started, buffers allocated
        long cpuStart = processCpuNanos();
        long start = System.nanoTime();
        drain(loader.epoch(1, 0, steps));
        double secs = (System.nanoTime() - start) / 1e9;
        double cpuSecs = cpuStart < 0 ? Double.NaN : (processCpuNanos() - cpuStart) / 1e9;
        rates.add(new LoaderRate(workers, steps * batchSize, secs, cpuSecs));
      }
    }
    return new Throughput(decodeMs, decodeCpuMs, augmentMs, augmentCpuMs, rates);
  }

  /**
   * Part 2: trains {@code configFile} for {@code steps} steps (one epoch, no k-NN) in a temporary
   * run directory under {@code scratch}, deleted afterwards, and returns the trainer's own timing of
   * that epoch.
   */
  public static TrainingWait trainingWait(Path configFile, int steps, Path scratch)
      throws IOException {
    if (steps < 1) {
      throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
    }
    Files.createDirectories(scratch);
    Path runDir = Files.createTempDirectory(scratch, "wait-");
    try {
      DinoConfig cfg =
          ConfigLoader.load(
              configFile,
              List.of(
                  "train.output_dir=" + runDir,
                  "train.epochs=1",
                  "optim.warmup_epochs=1", // recipes may warm up over more epochs than this one
                  "train.steps_per_epoch=" + steps,
                  "eval.knn_every=0")); // k-NN runs after the timed epoch: it would only cost time
      ImageDataset dataset = ImageDataset.open(cfg.data());
      new Trainer(cfg, dataset).run();
      JsonNode epoch = null;
      for (String line : Files.readAllLines(runDir.resolve("metrics.jsonl"))) {
        JsonNode node = JSON.readTree(line);
        if (node.has("epoch_end")) {
          epoch = node;
        }
      }
      if (epoch == null) {
        throw new IllegalStateException(
            runDir.resolve("metrics.jsonl") + " has no epoch_end record after the run");
      }
      return new TrainingWait(
          steps,
          cfg.train().batchSize(),
          cfg.data().workers(),
          epoch.get("seconds").asDouble(),
          epoch.get("images_per_s").asDouble(),
          epoch.get("data_wait_share").asDouble());
    } finally {
      deleteTree(runDir);
    }
  }

  /** CPU time of this process, ns; -1 on a JVM without the com.sun.management extension. */
  /** Indexing a tree of {@code files} image files: first walk (and store), then a reuse. */
  public record IndexTiming(int files, int folders, double scanSeconds, double reuseSeconds) {}

  /**
   * Times the image index on {@code files} empty {@code .jpg} files in folders of 100 (generated
   * under {@code cacheDir} once and kept): the first open walks the tree and stores the index, the
   * second only checks the folders' mtimes and reads it back.
   */
  public static IndexTiming indexTiming(Path cacheDir, int files) throws IOException {
    int folders = (files + 99) / 100;
    Path root = cacheDir.resolve("index-" + files);
    Path done = cacheDir.resolve("index-" + files + ".complete");
    if (!Files.exists(done)) {
      if (Files.exists(root)) {
        deleteTree(root); // a half-made tree from an interrupted run
      }
      for (int f = 0; f < folders; f++) {
        Path dir = Files.createDirectories(root.resolve(String.format(Locale.ROOT, "class%05d", f)));
        for (int i = f * 100; i < Math.min(files, (f + 1) * 100); i++) {
          Files.createFile(dir.resolve(i + ".jpg"));
        }
      }
      Files.createFile(done);
    }
    Path indexDir = Files.createTempDirectory(cacheDir, "index-run-");
    try {
      long t0 = System.nanoTime();
      int scanned = new ImageFolderDataset(root, "auto", Long.MAX_VALUE, indexDir).size();
      long t1 = System.nanoTime();
      int reused = new ImageFolderDataset(root, "auto", Long.MAX_VALUE, indexDir).size();
      long t2 = System.nanoTime();
      if (scanned != files || reused != files) {
        throw new IllegalStateException(
            "index of " + root + " lists " + scanned + " / " + reused + " files, expected " + files);
      }
      return new IndexTiming(files, folders, (t1 - t0) / 1e9, (t2 - t1) / 1e9);
    } finally {
      deleteTree(indexDir);
    }
  }

  private static long processCpuNanos() {
    return ManagementFactory.getOperatingSystemMXBean()
            instanceof com.sun.management.OperatingSystemMXBean os
        ? os.getProcessCpuTime()
        : -1;
  }

  private static void drain(MultiCropLoader.EpochStream stream) {
    try (stream) {
      while (stream.hasNext()) {
        stream.next();
      }
    }
  }

  /**
   * A photo-like test image: a few random low-frequency waves per channel (smooth regions and
   * edges, as in photos) plus pixel noise. The noise matters: smooth images alone compress to a few
   * KB and the entropy decoder, a large part of JPEG decode time for real photos, would hardly be
   * measured; with it a file is about 100 KB at quality 0.9, near ImageNet's average.
   */
  static BufferedImage syntheticPhoto(int width, int height, SplittableRandom rng) {
    int waves = 6;
    double[][] fx = new double[3][waves];
    double[][] fy = new double[3][waves];
    double[][] phase = new double[3][waves];
    double[][] amp = new double[3][waves];
    for (int c = 0; c < 3; c++) {
      for (int k = 0; k < waves; k++) {
        fx[c][k] = rng.nextDouble(0.5, 12) * 2 * Math.PI / width; // 0.5 to 12 periods per image
        fy[c][k] = rng.nextDouble(0.5, 12) * 2 * Math.PI / height;
        phase[c][k] = rng.nextDouble(2 * Math.PI);
        amp[c][k] = rng.nextDouble(10, 40);
      }
    }
    BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int rgb = 0;
        for (int c = 0; c < 3; c++) {
          double v = 128;
          for (int k = 0; k < waves; k++) {
            v += amp[c][k] * Math.sin(fx[c][k] * x + fy[c][k] * y + phase[c][k]);
          }
          v += rng.nextDouble(-32, 32);
          rgb = (rgb << 8) | (int) Math.max(0, Math.min(255, Math.round(v)));
        }
        img.setRGB(x, y, rgb);
      }
    }
    return img;
  }

  private static void writeJpeg(BufferedImage img, Path file) throws IOException {
    ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
    ImageWriteParam param = writer.getDefaultWriteParam();
    param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
    param.setCompressionQuality(JPEG_QUALITY);
    try (ImageOutputStream out = ImageIO.createImageOutputStream(file.toFile())) {
      if (out == null) {
        throw new IOException(file + ": cannot open for writing");
      }
      writer.setOutput(out);
      writer.write(null, new IIOImage(img, null, null), param);
    } finally {
      writer.dispose();
    }
  }

  private static void deleteTree(Path root) {
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot delete the benchmark's run directory " + root + ": " + e.getMessage(), e);
    }
  }
}
