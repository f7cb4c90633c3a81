package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every kind of bad input of the data issue in one folder, read through the index, the decoder and
 * the loader as training reads it: with {@code skip} every batch is full of good images and each bad
 * file is counted once; with {@code fail} the first bad file stops the epoch, named.
 */
class BadFilesCorpusTest {

  private static final long LIMIT = 1_000_000; // data.max_pixels for this corpus

  @TempDir Path dir;

  /** Writes the corpus; returns bad file name -> a word its error message must contain. */
  private Map<String, String> corpus(Path root) throws IOException {
    Files.createDirectories(root);
    for (int i = 0; i < 12; i++) {
      Files.write(root.resolve("good-" + i + ".png"),
          ImageDecoderTest.write(ImageDecoderTest.picture(20 + i, 24, i), "png"));
    }
    // Smaller than every crop: upscaled by the random-resized crop as torchvision does, not bad.
    Files.write(root.resolve("good-tiny.png"), ImageDecoderTest.write(ImageDecoderTest.picture(2, 3, 99), "png"));
    Files.write(root.resolve("good-photo.jpg"),
        ImageDecoderTest.jpeg(ImageDecoderTest.picture(30, 40, 5), 0.9f, false));
    Files.writeString(root.resolve("notes.txt"), "not an image, not indexed");

    Map<String, String> bad = new LinkedHashMap<>();
    Files.createFile(root.resolve("bad-empty.jpg"));
    bad.put("bad-empty.jpg", "0 bytes");
    byte[] jpg = ImageDecoderTest.jpeg(ImageDecoderTest.picture(32, 32, 1), 0.9f, false);
    Files.write(root.resolve("bad-truncated.jpg"), java.util.Arrays.copyOf(jpg, jpg.length / 2));
    bad.put("bad-truncated.jpg", "truncated");
    byte[] png = ImageDecoderTest.write(ImageDecoderTest.picture(30, 30, 2), "png");
    Files.write(root.resolve("bad-truncated.png"), java.util.Arrays.copyOf(png, png.length / 2));
    bad.put("bad-truncated.png", "truncated");
    byte[] noise = new byte[2000];
    new Random(3).nextBytes(noise);
    Files.write(root.resolve("bad-noise.jpg"), noise);
    bad.put("bad-noise.jpg", "not an image");
    Files.copy(Path.of("src/test/resources/images/webp.webp"), root.resolve("bad-webp.webp"));
    bad.put("bad-webp.webp", "WebP");
    Files.copy(Path.of("src/test/resources/images/heic.heic"), root.resolve("bad-heic.jpg"));
    bad.put("bad-heic.jpg", "HEIC");
    Files.write(root.resolve("bad-huge.png"), ImageDecoderTest.pngWithHeader(100_000, 100_000));
    bad.put("bad-huge.png", "max_pixels");
    Files.createSymbolicLink(root.resolve("bad-link.png"), root.resolve("nowhere.png"));
    bad.put("bad-link.png", "no such file");
    Files.write(root.resolve("bad-deleted.png"), png); // removed after indexing, below
    bad.put("bad-deleted.png", "no such file");
    return bad;
  }

  @Test
  void skipPolicyTrainsOnTheGoodImagesAndCountsEachBadOne() throws IOException {
    Path root = dir.resolve("data");
    Map<String, String> bad = corpus(root);
    ImageFolderDataset ds = new ImageFolderDataset(root, "none", LIMIT, dir.resolve("run"));
    Files.delete(root.resolve("bad-deleted.png"));
    assertEquals(14 + bad.size(), ds.size()); // notes.txt is not listed
    BadFiles badFiles = new BadFiles("skip");
    badFiles.requireReadable(ds);
    MultiCrop crop = new MultiCrop(AugmentRecipes.dino(16, 8, 2), new float[] {0.5f, 0.5f, 0.5f},
        new float[] {0.25f, 0.25f, 0.25f});
    Set<Integer> used = new HashSet<>();
    try (MultiCropLoader loader = new MultiCropLoader(ds, crop, 5, 2, 2, 7, badFiles)) {
      for (int epoch = 0; epoch < 3; epoch++) {
        try (MultiCropLoader.EpochStream s = loader.epoch(epoch, 0, loader.stepsPerEpoch())) {
          while (s.hasNext()) {
            for (int index : s.next().indices()) {
              assertFalse(ds.describe(index).contains("bad-"), ds.describe(index) + " in a batch");
              used.add(index);
            }
          }
        }
      }
    }
    assertEquals(bad.size(), badFiles.count(), "bad files counted once each");
    for (int index : badFiles.indices()) {
      assertTrue(ds.describe(index).contains("bad-"), ds.describe(index));
    }
    int tiny = -1;
    for (int i = 0; i < ds.size(); i++) {
      if (ds.describe(i).endsWith("good-tiny.png")) {
        tiny = i;
      }
    }
    assertTrue(used.contains(tiny), "the image smaller than a crop is trained on");
  }

  @Test
  void eachBadFileGetsAClearReasonAndFailPolicyStopsAtTheFirst() throws IOException {
    Path root = dir.resolve("data");
    Map<String, String> bad = corpus(root);
    ImageFolderDataset ds = new ImageFolderDataset(root, "none", LIMIT, null);
    Files.delete(root.resolve("bad-deleted.png"));
    for (int i = 0; i < ds.size(); i++) {
      String name = Path.of(ds.describe(i)).getFileName().toString();
      if (!bad.containsKey(name)) {
        ds.image(i);
        continue;
      }
      int index = i;
      IOException e = assertThrows(IOException.class, () -> ds.image(index), name);
      assertTrue(e.getMessage().contains(name), e.getMessage());
      assertTrue(e.getMessage().toLowerCase(java.util.Locale.ROOT).contains(bad.get(name).toLowerCase(java.util.Locale.ROOT)),
          name + ": " + e.getMessage());
    }
    MultiCrop crop = new MultiCrop(AugmentRecipes.dino(16, 8, 2), new float[] {0.5f, 0.5f, 0.5f},
        new float[] {0.25f, 0.25f, 0.25f});
    try (MultiCropLoader loader = new MultiCropLoader(ds, crop, 5, 1, 1, 7, new BadFiles("fail"))) {
      int[] perm = loader.permutation(0);
      int first = -1;
      for (int p = 0; p < perm.length && first < 0; p++) {
        if (ds.describe(perm[p]).contains("bad-")) {
          first = perm[p];
        }
      }
      String firstName = ds.describe(first);
      RuntimeException e = assertThrows(RuntimeException.class, () -> {
        try (MultiCropLoader.EpochStream s = loader.epoch(0, 0, loader.stepsPerEpoch())) {
          while (s.hasNext()) {
            s.next();
          }
        }
      });
      assertTrue(e instanceof UncheckedIOException || e instanceof IllegalStateException, e.toString());
      assertTrue(e.getMessage().contains(firstName), e.getMessage());
    }
  }

  @Test
  void aFolderOfOnlyBadImagesFailsBeforeTraining() throws IOException {
    Path root = dir.resolve("data");
    Map<String, String> bad = corpus(root);
    try (var files = Files.list(root)) {
      for (Path p : files.toList()) {
        // bad-deleted.png is a good file until a test deletes it: here it goes too.
        if (p.getFileName().toString().startsWith("good-") || p.endsWith("bad-deleted.png")) {
          Files.delete(p);
        }
      }
    }
    ImageFolderDataset ds = new ImageFolderDataset(root, "none", LIMIT, null);
    IOException e = assertThrows(IOException.class, () -> new BadFiles("skip").requireReadable(ds));
    assertTrue(e.getMessage().contains("none of the " + (bad.size() - 1) + " images"), e.getMessage());
  }
}
