package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class MultiCropLoaderTest {

  private static final Duration LIMIT = Duration.ofSeconds(60);

  /** Synthetic images of varying size, label = index mod 4; image {@code failAt} cannot be read. */
  private static final class Synthetic implements ImageDataset {
    final int size;
    final Set<Integer> failing;
    final AtomicInteger reads = new AtomicInteger();
    final Map<Integer, AtomicInteger> failedReads = new ConcurrentHashMap<>();

    Synthetic(int size, int failAt) {
      this(size, Set.of(failAt));
    }

    Synthetic(int size, Set<Integer> failing) {
      this.size = size;
      this.failing = failing;
    }

    @Override
    public int size() {
      return size;
    }

    @Override
    public Image image(int index) throws IOException {
      reads.incrementAndGet();
      if (failing.contains(index)) {
        failedReads.computeIfAbsent(index, i -> new AtomicInteger()).incrementAndGet();
        throw new IOException("boom: corrupt header");
      }
      return AugmentRecipes.colourful(18 + index % 5, 20 + index % 3, index);
    }

    @Override
    public int label(int index) {
      return index % 4;
    }

    @Override
    public int numClasses() {
      return 4;
    }

    @Override
    public String describe(int index) {
      return "synthetic-" + index + ".png";
    }
  }

  private static MultiCrop recipe() {
    return new MultiCrop(
        AugmentRecipes.dino(16, 8, 3),
        new float[] {0.5f, 0.5f, 0.5f},
        new float[] {0.25f, 0.25f, 0.25f});
  }

  /** All batches of steps [start, end) of an epoch, copied out. */
  private static List<MultiCropBatch> collect(
      MultiCropLoader loader, int epoch, int start, int end) {
    List<MultiCropBatch> out = new ArrayList<>();
    try (MultiCropLoader.EpochStream s = loader.epoch(epoch, start, end)) {
      while (s.hasNext()) {
        out.add(s.next());
      }
    }
    return out;
  }

  private static void assertSameBatches(List<MultiCropBatch> a, List<MultiCropBatch> b) {
    assertEquals(a.size(), b.size());
    for (int i = 0; i < a.size(); i++) {
      assertArrayEquals(a.get(i).indices(), b.get(i).indices(), "indices of batch " + i);
      assertArrayEquals(a.get(i).labels(), b.get(i).labels(), "labels of batch " + i);
      assertArrayEquals(a.get(i).globals(), b.get(i).globals(), 0f, "globals of batch " + i);
      assertArrayEquals(a.get(i).locals(), b.get(i).locals(), 0f, "locals of batch " + i);
    }
  }

  @Test
  void stepsPerEpochDropsTheLastPartialBatch() {
    try (MultiCropLoader l = new MultiCropLoader(new Synthetic(50, -1), recipe(), 8, 1, 2, 0)) {
      assertEquals(6, l.stepsPerEpoch());
    }
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> new MultiCropLoader(new Synthetic(5, -1), recipe(), 8, 1, 2, 0));
    assertTrue(e.getMessage().contains("5 images"), e.getMessage());
  }

  @Test
  void sameBatchesWhateverTheNumberOfWorkers() {
    assertTimeoutPreemptively(
        LIMIT,
        () -> {
          List<MultiCropBatch> one;
          List<MultiCropBatch> three;
          List<MultiCropBatch> inline;
          try (MultiCropLoader l =
              new MultiCropLoader(new Synthetic(50, -1), recipe(), 8, 1, 2, 7)) {
            one = collect(l, 0, 0, l.stepsPerEpoch());
          }
          try (MultiCropLoader l =
              new MultiCropLoader(new Synthetic(50, -1), recipe(), 8, 3, 3, 7)) {
            three = collect(l, 0, 0, l.stepsPerEpoch());
          }
          try (MultiCropLoader l =
              new MultiCropLoader(new Synthetic(50, -1), recipe(), 8, 0, 1, 7)) {
            inline = collect(l, 0, 0, l.stepsPerEpoch());
          }
          assertSameBatches(one, three);
          assertSameBatches(one, inline);
        });
  }

  /** View-major [views * b] images of two shards, interleaved back into [views * 2b]. */
  private static float[] joinShards(float[] a, float[] b, int views) {
    float[] out = new float[a.length + b.length];
    int per = a.length / views; // one view of one shard
    for (int v = 0; v < views; v++) {
      System.arraycopy(a, v * per, out, 2 * v * per, per);
      System.arraycopy(b, v * per, out, (2 * v + 1) * per, per);
    }
    return out;
  }

  @Test
  void twoShardsTogetherBuildExactlyTheWholeBatch() {
    assertTimeoutPreemptively(
        LIMIT,
        () -> {
          List<MultiCropBatch> whole;
          List<List<MultiCropBatch>> shards = new ArrayList<>();
          try (MultiCropLoader l = new MultiCropLoader(new Synthetic(50, -1), recipe(), 8, 2, 2, 7)) {
            whole = collect(l, 1, 0, l.stepsPerEpoch());
          }
          for (int k = 0; k < 2; k++) {
            try (MultiCropLoader l =
                new MultiCropLoader(new Synthetic(50, -1), recipe(), 8, 2, 2, 7, BadFiles.failFast(), k, 2)) {
              assertEquals(6, l.stepsPerEpoch()); // of the global batch
              assertEquals(4, l.localBatchSize());
              shards.add(collect(l, 1, 0, l.stepsPerEpoch()));
            }
          }
          for (int i = 0; i < whole.size(); i++) {
            MultiCropBatch a = shards.get(0).get(i);
            MultiCropBatch b = shards.get(1).get(i);
            int[] indices = new int[8];
            System.arraycopy(a.indices(), 0, indices, 0, 4);
            System.arraycopy(b.indices(), 0, indices, 4, 4);
            assertArrayEquals(whole.get(i).indices(), indices, "indices of batch " + i);
            assertArrayEquals(whole.get(i).globals(), joinShards(a.globals(), b.globals(), 2), 0f, "globals of batch " + i);
            assertArrayEquals(whole.get(i).locals(), joinShards(a.locals(), b.locals(), 3), 0f, "locals of batch " + i);
          }
          assertThrows(IllegalArgumentException.class,
              () -> new MultiCropLoader(new Synthetic(50, -1), recipe(), 9, 1, 1, 7, BadFiles.failFast(), 0, 2));
        });
  }

  @Test
  void resumeFromStepKEqualsTheTailOfTheEpoch() {
    assertTimeoutPreemptively(
        LIMIT,
        () -> {
          try (MultiCropLoader l =
              new MultiCropLoader(new Synthetic(50, -1), recipe(), 8, 2, 2, 3)) {
            List<MultiCropBatch> whole = collect(l, 1, 0, 6);
            List<MultiCropBatch> tail = collect(l, 1, 4, 6);
            assertSameBatches(whole.subList(4, 6), tail);
            // A capped epoch (train.stepsPerEpoch) is a prefix of the full one.
            assertSameBatches(whole.subList(0, 2), collect(l, 1, 0, 2));
          }
        });
  }

  @Test
  void batchesFollowThePermutationAndEpochsShuffleDifferently() {
    assertTimeoutPreemptively(
        LIMIT,
        () -> {
          Synthetic ds = new Synthetic(48, -1);
          try (MultiCropLoader l = new MultiCropLoader(ds, recipe(), 8, 2, 2, 5)) {
            for (int epoch = 0; epoch < 2; epoch++) {
              int[] perm = l.permutation(epoch);
              int[] sorted = perm.clone();
              Arrays.sort(sorted);
              for (int i = 0; i < sorted.length; i++) {
                assertEquals(i, sorted[i], "epoch " + epoch + " order is not a permutation");
              }
              List<MultiCropBatch> batches = collect(l, epoch, 0, 6);
              for (int s = 0; s < 6; s++) {
                assertArrayEquals(
                    Arrays.copyOfRange(perm, 8 * s, 8 * s + 8), batches.get(s).indices());
                for (int k = 0; k < 8; k++) {
                  assertEquals(ds.label(batches.get(s).indices()[k]), batches.get(s).labels()[k]);
                }
              }
            }
            assertFalse(Arrays.equals(l.permutation(0), l.permutation(1)));
            assertArrayEquals(l.permutation(1), l.permutation(1));
            // Another seed, another order.
            try (MultiCropLoader other = new MultiCropLoader(ds, recipe(), 8, 1, 1, 6)) {
              assertFalse(Arrays.equals(l.permutation(0), other.permutation(0)));
            }
          }
        });
  }

  @Test
  void waitTimeIsCounted() {
    assertTimeoutPreemptively(
        LIMIT,
        () -> {
          try (MultiCropLoader l =
              new MultiCropLoader(new Synthetic(40, -1), recipe(), 8, 1, 1, 0)) {
            assertEquals(0, l.waitNanos());
            collect(l, 0, 0, 5);
            assertTrue(l.waitNanos() > 0);
          }
        });
  }

  @Test
  void prefetchBoundsTheWorkAhead() throws Exception {
    assertTimeoutPreemptively(
        LIMIT,
        () -> {
          Synthetic ds = new Synthetic(400, -1);
          try (MultiCropLoader l = new MultiCropLoader(ds, recipe(), 4, 2, 2, 0);
              MultiCropLoader.EpochStream s = l.epoch(0, 0, l.stepsPerEpoch())) {
            s.next();
            Thread.sleep(300); // let the workers run as far ahead as they may
            // the batch handed out + at most `prefetch` batches in flight
            assertTrue(ds.reads.get() <= (1 + 2) * 4, "images read ahead: " + ds.reads.get());
          }
        });
  }

  @Test
  void aFailingImageSurfacesWithItsName() {
    assertTimeoutPreemptively(
        LIMIT,
        () -> {
          for (int workers : new int[] {0, 3}) {
            Synthetic ds = new Synthetic(40, -1);
            int[] perm;
            try (MultiCropLoader probe = new MultiCropLoader(ds, recipe(), 8, 1, 1, 1)) {
              perm = probe.permutation(0);
            }
            int bad = perm[19]; // position 19: step 2
            try (MultiCropLoader l =
                new MultiCropLoader(new Synthetic(40, bad), recipe(), 8, workers, 2, 1)) {
              MultiCropLoader.EpochStream s = l.epoch(0, 0, 5);
              s.next();
              s.next();
              UncheckedIOException e = assertThrows(UncheckedIOException.class, s::next);
              assertTrue(e.getMessage().contains("synthetic-" + bad + ".png"), e.getMessage());
              assertTrue(e.getMessage().contains("boom: corrupt header"), e.getMessage());
              assertTrue(e.getMessage().contains("step 2"), e.getMessage());
              if (workers > 0) {
                // Later batches are not handed out past a lost one: the order would be wrong.
                IllegalStateException again = assertThrows(IllegalStateException.class, s::next);
                assertTrue(again.getMessage().contains("synthetic-" + bad + ".png"));
              }
            }
          }
        });
  }

  @Test
  void skipPolicyFillsEveryBatchDeterministicallyAndCountsEachBadFileOnce() {
    assertTimeoutPreemptively(
        LIMIT,
        () -> {
          int[] perm;
          try (MultiCropLoader probe = new MultiCropLoader(new Synthetic(40, -1), recipe(), 8, 1, 1, 2)) {
            perm = probe.permutation(0);
          }
          // Two neighbours in the epoch's order (positions 3, 4) and one in a later batch.
          Set<Integer> bad = Set.of(perm[3], perm[4], perm[19]);
          List<MultiCropBatch> reference = new ArrayList<>();
          for (int workers : new int[] {0, 3}) {
            Synthetic ds = new Synthetic(40, bad);
            try (MultiCropLoader l =
                new MultiCropLoader(ds, recipe(), 8, workers, 2, 2, new BadFiles("skip"))) {
              Map<Integer, Integer> readsAfterFirstEpoch = new HashMap<>();
              for (int epoch = 0; epoch < 2; epoch++) {
                if (epoch == 1) {
                  for (int index : bad) {
                    readsAfterFirstEpoch.put(index, ds.failedReads.get(index).get());
                  }
                }
                try (MultiCropLoader.EpochStream s = l.epoch(epoch, 0, 5)) {
                  for (int step = 0; step < 5; step++) {
                    MultiCropBatch b = s.next();
                    for (int index : b.indices()) {
                      assertFalse(bad.contains(index), "bad image " + index + " in a batch");
                    }
                    if (epoch == 0 && step == 0) {
                      // Positions 3 and 4 both take the next readable image, position 5's.
                      assertEquals(perm[5], b.indices()[3]);
                      assertEquals(perm[5], b.indices()[4]);
                      assertEquals(perm[5], b.indices()[5]);
                    }
                    if (workers == 0) {
                      reference.add(b);
                    } else {
                      assertSameBatches(List.of(reference.get(epoch * 5 + step)), List.of(b));
                    }
                  }
                }
              }
              assertEquals(3, l.badFiles().count());
              assertEquals(bad, Set.copyOf(l.badFiles().indices()));
              // Known-bad files are passed over without another read in later epochs. Within the
              // epoch that finds one, two workers may both try it before either has reported it
              // (bad 3's slot scans on to bad 4 while 4's own slot reads it): counted once all the
              // same; one worker reads each file exactly once.
              for (int index : bad) {
                int first = readsAfterFirstEpoch.get(index);
                assertTrue(first >= 1 && first <= (workers == 0 ? 1 : 2), "reads of bad image " + index + ": " + first);
                assertEquals(first, ds.failedReads.get(index).get(), "reads of bad image " + index + " in epoch 2");
              }
            }
          }
        });
  }

  @Test
  void datasetWithNoReadableImageFailsUpFront() throws IOException {
    Set<Integer> all = new HashSet<>();
    for (int i = 0; i < 6; i++) {
      all.add(i);
    }
    IOException e =
        assertThrows(IOException.class, () -> new BadFiles("skip").requireReadable(new Synthetic(6, all)));
    assertTrue(e.getMessage().contains("none of the 6 images"), e.getMessage());
    assertTrue(e.getMessage().contains("synthetic-0.png"), e.getMessage());
    // With policy fail the first bad file is the error; with a readable one later, skip passes.
    IOException first =
        assertThrows(IOException.class, () -> new BadFiles("fail").requireReadable(new Synthetic(6, 0)));
    assertTrue(first.getMessage().contains("boom"), first.getMessage());
    BadFiles skip = new BadFiles("skip");
    skip.requireReadable(new Synthetic(6, 0));
    assertEquals(1, skip.count());
  }

  @Test
  void closeStopsTheDaemonThreads() throws Exception {
    List<Thread> mine = new ArrayList<>();
    // Not try-with-resources: closing while a stream is open is the point of the test.
    MultiCropLoader l = new MultiCropLoader(new Synthetic(64, -1), recipe(), 8, 3, 2, 0);
    try {
      MultiCropLoader.EpochStream s = l.epoch(0, 0, 8);
      s.next();
      for (Thread t : Thread.getAllStackTraces().keySet()) {
        if (t.getName().startsWith("dino4j-data-")) {
          mine.add(t);
        }
      }
      assertFalse(mine.isEmpty(), "no dino4j-data-* threads while loading");
      l.close();
      assertThrows(IllegalStateException.class, s::next); // not a hang
    } finally {
      l.close(); // idempotent
    }
    for (Thread t : mine) {
      assertTrue(t.isDaemon(), t.getName());
      t.join(5000);
      assertFalse(t.isAlive(), t.getName() + " still alive after close");
    }
  }
}
