package dev.dino4j.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Images named by a text or CSV file, one per line: {@code path} or {@code path,label} (a tab also
 * separates). Relative paths are relative to the list file's folder; blank lines and lines starting
 * with {@code #} are skipped, and a first line {@code path,label} (or {@code path}) is a header.
 *
 * <p>Labels: when every label is a non-negative integer it is the class index itself (class names
 * "0", "1", ...); otherwise labels are names, numbered in sorted order as class folders are. A list
 * gives labels to all lines or to none: a mix is an error naming the first odd line. The order of
 * the file is kept, so indices (and the seeded shuffle) follow it.
 */
public final class FileListDataset implements ImageDataset {

  private final Path listFile;
  private final List<Path> files;
  private final int[] labels;
  private final List<String> classes;
  private final long maxPixels;

  /** Reads {@code listFile}; paths are not opened until decoded, so listing 1M lines is quick. */
  public FileListDataset(Path listFile, long maxPixels) throws IOException {
    if (!Files.isRegularFile(listFile)) {
      throw new IOException(
          listFile + ": not a file; data.source = list expects a text file of image paths");
    }
    this.listFile = listFile;
    this.maxPixels = maxPixels;
    Path base = listFile.toAbsolutePath().getParent();
    List<String> lines = Files.readAllLines(listFile, StandardCharsets.UTF_8);
    List<Path> paths = new ArrayList<>();
    List<String> names = new ArrayList<>();
    int firstLabelled = 0; // line number of the first line with / without a label, for messages
    int firstUnlabelled = 0;
    for (int n = 1; n <= lines.size(); n++) {
      String line = lines.get(n - 1).strip();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      String[] f = line.split("[,\t]", -1);
      if (paths.isEmpty() && names.isEmpty() && f[0].strip().equalsIgnoreCase("path")) {
        continue; // header
      }
      if (f.length > 2) {
        throw new IOException(
            listFile + ":" + n + ": '" + line + "' has " + f.length
                + " fields; expected 'path' or 'path,label'");
      }
      String p = f[0].strip();
      if (p.isEmpty()) {
        throw new IOException(listFile + ":" + n + ": empty path");
      }
      paths.add(base.resolve(p));
      String label = f.length == 2 ? f[1].strip() : "";
      if (label.isEmpty()) {
        firstUnlabelled = firstUnlabelled == 0 ? n : firstUnlabelled;
      } else {
        firstLabelled = firstLabelled == 0 ? n : firstLabelled;
      }
      names.add(label);
      if (firstLabelled > 0 && firstUnlabelled > 0) {
        throw new IOException(
            listFile + ":" + Math.max(firstLabelled, firstUnlabelled)
                + ": some lines have a label and some do not (first labelled line "
                + firstLabelled + ", first unlabelled line " + firstUnlabelled
                + "); label every line or none");
      }
    }
    if (paths.isEmpty()) {
      throw new IOException(listFile + ": no image paths listed");
    }
    this.files = List.copyOf(paths);
    this.labels = new int[paths.size()];
    if (firstLabelled == 0) {
      Arrays.fill(labels, UNLABELLED);
      this.classes = List.of();
    } else if (names.stream().allMatch(s -> s.matches("\\d{1,9}"))) {
      int max = 0;
      for (int i = 0; i < labels.length; i++) {
        labels[i] = Integer.parseInt(names.get(i));
        max = Math.max(max, labels[i]);
      }
      List<String> numeric = new ArrayList<>();
      for (int c = 0; c <= max; c++) {
        numeric.add(Integer.toString(c));
      }
      this.classes = List.copyOf(numeric);
    } else {
      this.classes = List.copyOf(new TreeSet<>(names));
      Map<String, Integer> number = new HashMap<>();
      for (String c : classes) {
        number.put(c, number.size());
      }
      for (int i = 0; i < labels.length; i++) {
        labels[i] = number.get(names.get(i));
      }
    }
  }

  /** The list file this dataset reads. */
  public Path listFile() {
    return listFile;
  }

  @Override
  public int size() {
    return files.size();
  }

  @Override
  public Image image(int index) throws IOException {
    return ImageFolderDataset.decode(files.get(index), maxPixels);
  }

  @Override
  public int label(int index) {
    return labels[index];
  }

  @Override
  public int numClasses() {
    return classes.size();
  }

  @Override
  public List<String> classes() {
    return classes;
  }

  @Override
  public String describe(int index) {
    return files.get(index).toString();
  }
}
