package dev.dino4j.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * Builds multi-crop batches on worker threads, ahead of the trainer, in a deterministic order.
 *
 * <p>Determinism: epoch {@code e} visits the dataset in a permutation drawn from (seed, e), and the
 * sample at position {@code p} of that epoch gets its own generator seeded from (seed, e, p). So a
 * batch depends only on (seed, epoch, step): the number of workers, their scheduling and the step a
 * run resumes from do not change a single bit, which is what makes resume exact.
 *
 * <p>Memory: an epoch stream keeps at most {@code prefetch} batches in flight (being built or
 * ready) plus the one the caller holds; each batch is split into chunks so all workers help build
 * the oldest batch first.
 *
 * <p>Like the reference's {@code drop_last=True}, an epoch has {@code size / batchSize} steps.
 *
 * <p>Data-parallel shards: with {@code shards} workers, worker {@code shard} builds only slots
 * [shard * b, (shard + 1) * b) of every global batch (b = batchSize / shards), each sample with the
 * seed it has in the global batch. So N workers together see exactly the images and crops one
 * worker with the whole batch sees.
 */
public final class MultiCropLoader implements AutoCloseable {

  private static final Logger LOG = LogManager.getLogger(MultiCropLoader.class);

  /** Chunks per worker and batch: enough to even out uneven image costs, few enough to be cheap. */
  private static final int CHUNKS_PER_WORKER = 4;

  private static final long SHUFFLE_SALT = 0x53485546464C45L; // "SHUFFLE"
  private static final long SAMPLE_SALT = 0x53414D504C45L; // "SAMPLE"

  private final ImageDataset dataset;
  private final BadFiles badFiles;
  private final MultiCrop augment;
  private final int batchSize; // global: all shards together
  private final int localBatch; // this shard's slots of each batch
  private final int firstSlot; // this shard's first slot
  private final int prefetch;
  private final long seed;
  private final int chunks;
  private final ExecutorService pool; // null when workers == 0: batches are built by the caller
  private final AtomicLong waitNanos = new AtomicLong();
  private final Set<CompletableFuture<MultiCropBatch>> live = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;

  /** A loader that stops at the first unreadable image ({@link BadFiles#failFast()}). */
  public MultiCropLoader(
      ImageDataset dataset,
      MultiCrop augment,
      int batchSize,
      int workers,
      int prefetch,
      long seed) {
    this(dataset, augment, batchSize, workers, prefetch, seed, BadFiles.failFast());
  }

  /**
   * @param workers augmentation threads; 0 builds each batch in the calling thread (debugging)
   * @param prefetch batches built ahead of the consumer, at least 1
   * @param badFiles what an unreadable image does: skip it (and count it) or fail
   */
  public MultiCropLoader(
      ImageDataset dataset,
      MultiCrop augment,
      int batchSize,
      int workers,
      int prefetch,
      long seed,
      BadFiles badFiles) {
    this(dataset, augment, batchSize, workers, prefetch, seed, badFiles, 0, 1);
  }

  /**
   * A loader of shard {@code shard} of {@code shards} of every batch of {@code batchSize} (the
   * global batch, which must split evenly).
   */
  public MultiCropLoader(
      ImageDataset dataset,
      MultiCrop augment,
      int batchSize,
      int workers,
      int prefetch,
      long seed,
      BadFiles badFiles,
      int shard,
      int shards) {
    if (shards < 1 || shard < 0 || shard >= shards) {
      throw new IllegalArgumentException("shard " + shard + " of " + shards + ": expected 0 <= shard < shards");
    }
    if (batchSize <= 0 || batchSize % shards != 0) {
      throw new IllegalArgumentException(
          "train.batchSize must be > 0 and split evenly over " + shards + " worker(s), got " + batchSize);
    }
    if (dataset.size() < batchSize) {
      throw new IllegalArgumentException(
          "dataset has "
              + dataset.size()
              + " images, fewer than one batch of train.batchSize = "
              + batchSize
              + "; lower the batch size");
    }
    if (workers < 0) {
      throw new IllegalArgumentException(
          "data.workers must be >= 0 (0 = build batches in the training thread), got " + workers);
    }
    if (prefetch < 1) {
      throw new IllegalArgumentException("data.prefetch must be >= 1, got " + prefetch);
    }
    this.dataset = dataset;
    this.badFiles = badFiles;
    this.augment = augment;
    this.batchSize = batchSize;
    this.localBatch = batchSize / shards;
    this.firstSlot = shard * localBatch;
    this.prefetch = prefetch;
    this.seed = seed;
    this.chunks = Math.max(1, Math.min(localBatch, workers * CHUNKS_PER_WORKER));
    if (workers > 0) {
      AtomicInteger threadNumber = new AtomicInteger();
      ThreadFactory factory =
          r -> {
            Thread t = new Thread(r, "dino4j-data-" + threadNumber.getAndIncrement());
            t.setDaemon(true); // never keeps the JVM alive after the trainer ends
            return t;
          };
      this.pool =
          new ThreadPoolExecutor(
              workers, workers, 0L, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(), factory);
    } else {
      this.pool = null;
    }
    LOG.info(
        "data loader: {} images, batch {}{}, {} steps/epoch, {} worker(s), prefetch {}",
        dataset.size(),
        batchSize,
        shards == 1 ? "" : " (slots " + firstSlot + ".." + (firstSlot + localBatch - 1) + " here, shard " + shard + " of " + shards + ")",
        stepsPerEpoch(),
        workers,
        prefetch);
  }

  /** The unreadable images met so far (and the policy for them). */
  public BadFiles badFiles() {
    return badFiles;
  }

  /** Full batches per epoch; the last partial batch is dropped. */
  public int stepsPerEpoch() {
    return dataset.size() / batchSize;
  }

  /** The global batch (all shards). */
  public int batchSize() {
    return batchSize;
  }

  /** The samples of each batch this loader builds (its shard). */
  public int localBatchSize() {
    return localBatch;
  }

  /**
   * Total nanoseconds callers of {@link EpochStream#next()} spent waiting for a batch (with 0
   * workers: building it), for the share of step time lost to data loading.
   */
  public long waitNanos() {
    return waitNanos.get();
  }

  /** The order epoch {@code epoch} visits the dataset in: a permutation of [0, size). */
  public int[] permutation(int epoch) {
    int n = dataset.size();
    int[] perm = new int[n];
    for (int i = 0; i < n; i++) {
      perm[i] = i;
    }
    SplittableRandom rng = new SplittableRandom(mix(mix(seed ^ SHUFFLE_SALT) + epoch));
    for (int i = n - 1; i > 0; i--) {
      int j = rng.nextInt(i + 1);
      int t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    return perm;
  }

  /**
   * Batches {@code startStep .. steps - 1} of epoch {@code epoch}, in order. Resuming a run at step
   * k of an epoch yields exactly the batches an uninterrupted run would have seen from k on.
   *
   * @param steps end of the stream (exclusive), at most {@link #stepsPerEpoch()}
   */
  public EpochStream epoch(int epoch, int startStep, int steps) {
    if (closed) {
      throw new IllegalStateException("data loader is closed");
    }
    if (epoch < 0 || startStep < 0 || startStep > steps || steps > stepsPerEpoch()) {
      throw new IllegalArgumentException(
          "epoch "
              + epoch
              + " steps ["
              + startStep
              + ", "
              + steps
              + ") must satisfy epoch >= 0 and 0 <= start <= end <= stepsPerEpoch = "
              + stepsPerEpoch());
    }
    return new EpochStream(epoch, startStep, steps);
  }

  /** Stops the worker threads; streams still open fail on their next call instead of hanging. */
  @Override
  public void close() {
    closed = true;
    if (pool == null) {
      return;
    }
    pool.shutdownNow();
    for (CompletableFuture<MultiCropBatch> f : live) {
      f.completeExceptionally(new CancellationException("data loader closed"));
    }
    try {
      if (!pool.awaitTermination(10, TimeUnit.SECONDS)) {
        LOG.warn("data loader threads still running 10 s after close");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The batches of one epoch, built ahead by the workers; close it to drop unfinished ones. */
  public final class EpochStream implements Iterator<MultiCropBatch>, AutoCloseable {

    private final int epoch;
    private final int end;
    private final int[] perm;
    private final ArrayDeque<CompletableFuture<MultiCropBatch>> inFlight = new ArrayDeque<>();
    private int nextStep; // next step handed to the caller
    private int nextSubmit; // next step handed to the workers
    private RuntimeException failure; // set once a batch failed: the order cannot be kept after it

    private EpochStream(int epoch, int start, int end) {
      this.epoch = epoch;
      this.end = end;
      this.perm = permutation(epoch);
      this.nextStep = start;
      this.nextSubmit = start;
    }

    /** The step the next call to {@link #next()} returns. */
    public int nextStep() {
      return nextStep;
    }

    @Override
    public boolean hasNext() {
      return nextStep < end;
    }

    /**
     * The next batch. A failure to read or augment an image is rethrown here with the image named
     * ({@link UncheckedIOException} for I/O, {@link IllegalStateException} otherwise).
     */
    @Override
    public MultiCropBatch next() {
      if (!hasNext()) {
        throw new NoSuchElementException("epoch " + epoch + " ends at step " + end);
      }
      if (closed) {
        throw new IllegalStateException("data loader is closed");
      }
      if (failure != null) {
        throw new IllegalStateException(
            "epoch " + epoch + " stream failed earlier: " + failure.getMessage(), failure);
      }
      long t0 = System.nanoTime();
      MultiCropBatch batch;
      if (pool == null) {
        batch = augment.newBatch(localBatch);
        buildChunk(epoch, nextStep, perm, batch, 0, localBatch, null);
      } else {
        fill();
        CompletableFuture<MultiCropBatch> f = inFlight.poll();
        try {
          batch = f.get();
        } catch (ExecutionException e) {
          throw fail(asRuntime(e.getCause()));
        } catch (CancellationException e) {
          throw fail(new IllegalStateException("data loader closed while waiting for a batch", e));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw fail(new IllegalStateException("interrupted while waiting for a batch", e));
        }
      }
      waitNanos.addAndGet(System.nanoTime() - t0);
      nextStep++;
      if (pool != null) {
        fill(); // keep the workers busy while the caller trains on this batch
      }
      return batch;
    }

    private RuntimeException fail(RuntimeException e) {
      failure = e;
      close();
      return e;
    }

    /** Drops the batches still being built. */
    @Override
    public void close() {
      for (CompletableFuture<MultiCropBatch> f : inFlight) {
        f.cancel(false); // workers see it done and skip the rest of its samples
      }
      inFlight.clear();
    }

    private void fill() {
      while (inFlight.size() < prefetch && nextSubmit < end) {
        inFlight.add(submit(nextSubmit++));
      }
    }

    private CompletableFuture<MultiCropBatch> submit(int step) {
      CompletableFuture<MultiCropBatch> done = new CompletableFuture<>();
      live.add(done);
      done.whenComplete((b, e) -> live.remove(done));
      BatchJob job = new BatchJob();
      AtomicInteger remaining = new AtomicInteger(chunks);
      for (int c = 0; c < chunks; c++) {
        int from = c * localBatch / chunks;
        int to = (c + 1) * localBatch / chunks;
        try {
          pool.execute(
              () -> {
                try {
                  MultiCropBatch batch = job.batch();
                  buildChunk(epoch, step, perm, batch, from, to, done);
                  if (remaining.decrementAndGet() == 0) {
                    done.complete(batch);
                  }
                } catch (RuntimeException | Error e) {
                  done.completeExceptionally(e);
                }
              });
        } catch (RejectedExecutionException e) {
          done.completeExceptionally(new CancellationException("data loader closed"));
        }
      }
      return done;
    }
  }

  /** The batch of one step, allocated by the first worker to reach it rather than the trainer. */
  private final class BatchJob {
    private MultiCropBatch batch;

    synchronized MultiCropBatch batch() {
      if (batch == null) {
        batch = augment.newBatch(localBatch);
      }
      return batch;
    }
  }

  /**
   * Fills slots [from, to) of {@code batch} (this shard's) for {@code step} of {@code epoch}; stops early once
   * {@code done} is completed elsewhere (failed, cancelled, loader closed).
   */
  private void buildChunk(
      int epoch,
      int step,
      int[] perm,
      MultiCropBatch batch,
      int from,
      int to,
      CompletableFuture<MultiCropBatch> done) {
    for (int slot = from; slot < to; slot++) {
      if (done != null && done.isDone()) {
        return;
      }
      int position = step * batchSize + firstSlot + slot;
      int index = perm[position];
      try {
        Image img = null;
        // A bad file's slot takes the next readable image of the epoch's order. The choice
        // depends only on which files are bad, not on which worker found out first, so batches
        // (and resume) stay deterministic. The sample keeps its own seed.
        for (int k = 0; img == null; k++) {
          if (k == perm.length) {
            throw new IOException("no readable image left: all " + perm.length + " are bad");
          }
          index = perm[(position + k) % perm.length];
          if (badFiles.isBad(index)) {
            continue;
          }
          try {
            img = dataset.image(index);
          } catch (IOException e) {
            badFiles.report(index, describe(index), e);
          }
        }
        augment.apply(img, new SplittableRandom(sampleSeed(epoch, position)), batch, slot);
        batch.indices()[slot] = index;
        batch.labels()[slot] = dataset.label(index);
      } catch (IOException e) {
        throw new UncheckedIOException(
            "cannot read image " + describe(index) + where(epoch, step, index) + e.getMessage(), e);
      } catch (RuntimeException | Error e) {
        // Errors too (OutOfMemoryError): the consumer must hear of them rather than wait forever.
        throw new IllegalStateException(
            "cannot augment image " + describe(index) + where(epoch, step, index) + e, e);
      }
    }
  }

  /** Seed of the sample at {@code position} of {@code epoch}; independent of thread and resume. */
  long sampleSeed(int epoch, long position) {
    return mix(mix(mix(seed ^ SAMPLE_SALT) + epoch) + position);
  }

  private String describe(int index) {
    try {
      return dataset.describe(index);
    } catch (RuntimeException e) {
      return "#" + index;
    }
  }

  private static String where(int epoch, int step, int index) {
    return " (dataset index " + index + ", epoch " + epoch + ", step " + step + "): ";
  }

  private static RuntimeException asRuntime(Throwable t) {
    return t instanceof RuntimeException r ? r : new IllegalStateException(t.getMessage(), t);
  }

  /** SplitMix64's finaliser: neighbouring inputs give unrelated outputs. */
  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
