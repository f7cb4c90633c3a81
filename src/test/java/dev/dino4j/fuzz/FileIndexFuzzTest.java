package dev.dino4j.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dino4j.data.ImageFolderDataset;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

/**
 * The stored file index (FileIndex, through ImageFolderDataset) replaced by arbitrary content: the
 * dataset either reuses it or indexes the folder again, and what it serves is consistent (labels
 * in [0, numClasses) or unlabelled, paths inside the root), never an exception.
 *
 * <p>The input is the index's text; the test gzips it, as the index is stored. In the text, @ROOT@
 * and @MTIME@ stand for this run's root folder and its modification time, so that a seed passes the
 * staleness check and the fuzzer reaches the entry lines. The first byte picks the labels mode and
 * the storage: 'f' folders, 'n' none, gzipped; 'F', 'N' the same stored as is (not gzip).
 */
@Tag("fuzz")
class FileIndexFuzzTest {

  @TempDir static Path dir;
  static Path root;
  static Path indexDir;
  static Path foldersIndex;
  static Path noneIndex;

  @BeforeAll
  static void tree() throws IOException {
    root = Files.createDirectories(dir.resolve("root"));
    Files.createDirectories(root.resolve("a"));
    Files.createDirectories(root.resolve("b"));
    Files.write(root.resolve("a/x.png"), new byte[] {1});
    Files.write(root.resolve("b/y.jpg"), new byte[] {2});
    indexDir = Files.createDirectories(dir.resolve("index"));
    new ImageFolderDataset(root, "folders", 1, indexDir);
    foldersIndex = newIndexFile(null);
    new ImageFolderDataset(root, "none", 1, indexDir);
    noneIndex = newIndexFile(foldersIndex);
  }

  @FuzzTest
  void storedIndex(byte[] data) throws IOException {
    if (data.length == 0) {
      return;
    }
    String mode = Character.toLowerCase(data[0]) == 'f' ? "folders" : "none";
    Path stored = storedIndexFile(mode);
    String text = new String(data, 1, data.length - 1, StandardCharsets.UTF_8)
        .replace("@ROOT@", root.toString())
        .replace("@MTIME@", Long.toString(Files.getLastModifiedTime(root).toMillis()));
    if (data[0] == 'F' || data[0] == 'N') {
      Files.write(stored, text.getBytes(StandardCharsets.UTF_8));
    } else {
      try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(stored))) {
        out.write(text.getBytes(StandardCharsets.UTF_8));
      }
    }
    ImageFolderDataset d = new ImageFolderDataset(root, mode, 1, indexDir);
    assertTrue(d.size() > 0);
    if (mode.equals("folders")) {
      assertTrue(d.numClasses() > 0, "folders mode with no classes");
    } else {
      assertEquals(0, d.numClasses());
    }
    for (int i = 0; i < d.size(); i++) {
      int label = d.label(i);
      assertTrue(
          mode.equals("none") ? label == -1 : label >= 0 && label < d.numClasses(),
          "image " + i + " (" + d.describe(i) + ") has label " + label + " of " + d.numClasses()
              + " classes in mode " + mode);
      Path p = Path.of(d.describe(i)).normalize();
      assertTrue(p.startsWith(root) && !p.equals(root), "image " + i + " is " + p + ", outside " + root);
    }
  }

  /** The index file ImageFolderDataset stored for {@code mode} in tree(). */
  private static Path storedIndexFile(String mode) {
    return mode.equals("folders") ? foldersIndex : noneIndex;
  }

  /** The one index file in indexDir that is not {@code known}. */
  private static Path newIndexFile(Path known) throws IOException {
    try (Stream<Path> s = Files.list(indexDir)) {
      return s.filter(p -> p.toString().endsWith(".tsv.gz") && !p.equals(known)).findFirst().orElseThrow();
    }
  }
}
