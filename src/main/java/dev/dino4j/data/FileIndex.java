package dev.dino4j.data;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * The list of image files under a folder, with sizes and labels, built once and stored so that a
 * restart does not walk a million-file tree again.
 *
 * <p>Reuse rule: the stored index is valid while every folder it lists still has the modification
 * time it had when indexed. Adding, removing or renaming a file changes its folder's mtime, so
 * checking costs one {@code stat} per folder instead of one per file (ImageNet: 1,000 folders,
 * 1.28M files). Rewriting a file in place keeps its folder's mtime; such a file is still read
 * fresh at decode time, only its stored size is stale.
 *
 * <p>Labels ({@code data.labels}): {@code folders} makes every subfolder of the root a class
 * (sorted by name; images anywhere below it); {@code none} takes every image anywhere under the
 * root, unlabelled; {@code auto} is {@code folders} when the root has subfolders, else {@code
 * none}, as torchvision's {@code ImageFolder} expects class folders.
 */
final class FileIndex {

  private static final Logger LOG = LogManager.getLogger(FileIndex.class);

  private static final String MAGIC = "dino4j-image-index 1";

  /** File name extensions taken as images, lower case; the decoder checks the real format. */
  static final Set<String> EXTENSIONS =
      Set.of("jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp", "heic", "heif", "avif");

  /** One image file: path relative to the root ('/'-separated), bytes, label or UNLABELLED. */
  record Entry(String path, long size, int label) {}

  final Path root;
  final String labels; // the resolved mode: "folders" or "none"
  final List<String> classes;
  final List<Entry> entries;
  private final Map<String, Long> folderMtimes; // relative folder path ("" = root) -> mtime ms

  private FileIndex(
      Path root,
      String labels,
      List<String> classes,
      List<Entry> entries,
      Map<String, Long> folderMtimes) {
    this.root = root;
    this.labels = labels;
    this.classes = List.copyOf(classes);
    this.entries = List.copyOf(entries);
    this.folderMtimes = folderMtimes;
  }

  /**
   * The index of {@code root}: read from {@code indexDir} when a stored one is still valid, else
   * built by walking the tree and stored there ({@code indexDir} null: built, not stored).
   */
  static FileIndex open(Path root, String labelsMode, Path indexDir) throws IOException {
    if (!Files.isDirectory(root)) {
      throw new IOException(
          root + ": not a folder; expected a folder of images or of class folders (data.path)");
    }
    Path abs = root.toAbsolutePath().normalize();
    String mode = resolveMode(abs, labelsMode);
    Path file = indexDir == null ? null : indexDir.resolve(fileName(abs, mode));
    long start = System.nanoTime();
    if (file != null && Files.isRegularFile(file)) {
      Optional<FileIndex> stored = read(file, abs, mode);
      if (stored.isPresent()) {
        LOG.info(
            "{}: reusing the image index {} ({} files, checked in {} ms)",
            root,
            file,
            stored.get().entries.size(),
            (System.nanoTime() - start) / 1_000_000);
        return stored.get();
      }
      LOG.info("{}: the tree changed since {} was written; indexing again", root, file);
    }
    FileIndex index = scan(abs, mode);
    LOG.info(
        "{}: indexed {} image files{} in {} ms",
        root,
        index.entries.size(),
        index.classes.isEmpty() ? "" : " in " + index.classes.size() + " classes",
        (System.nanoTime() - start) / 1_000_000);
    if (file != null) {
      index.write(file);
    }
    return index;
  }

  /** The stored index's name: one per (folder, labels mode), so train and test splits coexist. */
  static String fileName(Path absRoot, String mode) {
    String leaf = absRoot.getFileName() == null ? "root" : absRoot.getFileName().toString();
    leaf = leaf.replaceAll("[^A-Za-z0-9._-]", "_");
    return "image-index-" + leaf + "-" + shortHash(absRoot + "\t" + mode) + ".tsv.gz";
  }

  private static String resolveMode(Path root, String labelsMode) throws IOException {
    if (!"auto".equals(labelsMode)) {
      return labelsMode;
    }
    try (var list = Files.list(root)) {
      return list.anyMatch(p -> !hidden(p) && Files.isDirectory(p)) ? "folders" : "none";
    }
  }

  /** Walks {@code root} (following links, skipping hidden entries) and lists the image files. */
  static FileIndex scan(Path root, String mode) throws IOException {
    Map<String, Long> mtimes = new LinkedHashMap<>();
    List<String[]> found = new ArrayList<>(); // {relative path, size}
    long[] ignored = {0};
    List<String> ignoredExamples = new ArrayList<>();
    Files.walkFileTree(
        root,
        EnumSet.of(FileVisitOption.FOLLOW_LINKS),
        Integer.MAX_VALUE,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
            if (!dir.equals(root) && hidden(dir)) {
              return FileVisitResult.SKIP_SUBTREE;
            }
            mtimes.put(relative(root, dir), attrs.lastModifiedTime().toMillis());
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
            if (hidden(file)) {
              return FileVisitResult.CONTINUE;
            }
            if (isImageName(file)) {
              // A broken symlink arrives here with the link's own attributes: kept, so that
              // reading it fails, is reported by name and counted like any other bad file.
              found.add(new String[] {relative(root, file), Long.toString(attrs.size())});
            } else {
              ignored[0]++;
              if (ignoredExamples.size() < 3) {
                ignoredExamples.add(relative(root, file));
              }
            }
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult visitFileFailed(Path file, IOException e) {
            // An unreadable folder or a link loop: say so and index the rest of the tree.
            LOG.warn("{}: cannot list ({}); skipped", file, e.toString());
            return FileVisitResult.CONTINUE;
          }
        });
    if (ignored[0] > 0) {
      LOG.info(
          "{}: ignored {} file(s) without an image extension (e.g. {})",
          root,
          ignored[0],
          String.join(", ", ignoredExamples));
    }
    found.sort(Comparator.comparing(f -> f[0]));
    List<String> classes = new ArrayList<>();
    List<Entry> entries = new ArrayList<>();
    if ("folders".equals(mode)) {
      try (var list = Files.list(root)) {
        list.filter(p -> !hidden(p) && Files.isDirectory(p))
            .map(p -> p.getFileName().toString())
            .sorted()
            .forEach(classes::add);
      }
      Map<String, Integer> classIndex = new LinkedHashMap<>();
      for (int i = 0; i < classes.size(); i++) {
        classIndex.put(classes.get(i), i);
      }
      int topLevel = 0;
      for (String[] f : found) {
        int slash = f[0].indexOf('/');
        Integer label = slash < 0 ? null : classIndex.get(f[0].substring(0, slash));
        if (label == null) {
          topLevel++;
        } else {
          entries.add(new Entry(f[0], Long.parseLong(f[1]), label));
        }
      }
      if (topLevel > 0) {
        LOG.warn(
            "{}: ignoring {} image(s) next to the class folders; only images inside class folders"
                + " are used (set data.labels: none to use every image unlabelled)",
            root,
            topLevel);
      }
      // Sorted by class, then path: indices follow the class order, as torchvision's.
      entries.sort(Comparator.comparingInt(Entry::label).thenComparing(Entry::path));
    } else {
      for (String[] f : found) {
        entries.add(new Entry(f[0], Long.parseLong(f[1]), ImageDataset.UNLABELLED));
      }
    }
    if (entries.isEmpty()) {
      throw new IOException(
          root
              + ": no image files found ("
              + String.join(", ", EXTENSIONS.stream().sorted().map(e -> "." + e).toList())
              + ")"
              + ("folders".equals(mode) ? " inside the class folders " + classes : ""));
    }
    return new FileIndex(root, mode, classes, entries, mtimes);
  }

  /** The stored index when it describes {@code root} in {@code mode} and no folder changed. */
  static Optional<FileIndex> read(Path file, Path root, String mode) {
    try (BufferedReader in =
        new BufferedReader(
            new InputStreamReader(
                new GZIPInputStream(Files.newInputStream(file), 1 << 16),
                StandardCharsets.UTF_8))) {
      if (!MAGIC.equals(in.readLine())) {
        return Optional.empty();
      }
      String[] rootLine = in.readLine().split("\t", -1);
      String[] modeLine = in.readLine().split("\t", -1);
      String[] classLine = in.readLine().split("\t", -1);
      if (!rootLine[0].equals("root")
          || !unescape(rootLine[1]).equals(root.toString())
          || !modeLine[1].equals(mode)) {
        return Optional.empty();
      }
      List<String> classes = new ArrayList<>();
      for (int i = 1; i < classLine.length; i++) {
        classes.add(unescape(classLine[i]));
      }
      if (classes.isEmpty() == "folders".equals(mode)) {
        throw new IOException(classes.size() + " classes in labels mode " + mode
            + "; expected " + ("folders".equals(mode) ? "at least one" : "none"));
      }
      Map<String, Long> mtimes = new LinkedHashMap<>();
      List<Entry> entries = new ArrayList<>();
      for (String line = in.readLine(); line != null; line = in.readLine()) {
        String[] f = line.split("\t", -1);
        if (f[0].equals("D")) {
          String rel = unescape(f[2]);
          long mtime = Long.parseLong(f[1]);
          Path dir = rel.isEmpty() ? root : root.resolve(rel);
          BasicFileAttributes a;
          try {
            a = Files.readAttributes(dir, BasicFileAttributes.class);
          } catch (IOException e) {
            return Optional.empty(); // a folder went away
          }
          if (!a.isDirectory() || a.lastModifiedTime().toMillis() != mtime) {
            return Optional.empty();
          }
          mtimes.put(rel, mtime);
        } else if (f[0].equals("F")) {
          entries.add(checked(new Entry(unescape(f[3]), Long.parseLong(f[1]), Integer.parseInt(f[2])),
              root, mode, classes.size()));
        } else {
          return Optional.empty();
        }
      }
      if (entries.isEmpty() || !mtimes.containsKey("")) {
        return Optional.empty();
      }
      return Optional.of(new FileIndex(root, mode, classes, entries, mtimes));
    } catch (IOException | RuntimeException e) {
      // A damaged or foreign index is rebuilt, never trusted.
      LOG.warn("{}: unreadable image index ({}); indexing again", file, e.toString());
      return Optional.empty();
    }
  }

  /**
   * A stored entry as {@link #scan} would have made it, else an IOException (the index is then
   * rebuilt): a path that names a file below the root, a size >= 0, a label of one of the classes
   * (folders) or none.
   */
  private static Entry checked(Entry e, Path root, String mode, int classes) throws IOException {
    Path p;
    try {
      p = e.path().isEmpty() ? root : root.resolve(e.path()).normalize();
    } catch (InvalidPathException bad) {
      throw new IOException("entry '" + e.path() + "' is not a path: " + bad.getMessage());
    }
    if (p.equals(root) || !p.startsWith(root)) {
      throw new IOException("entry '" + e.path() + "' is not a file below " + root);
    }
    boolean labelOk = "folders".equals(mode)
        ? e.label() >= 0 && e.label() < classes
        : e.label() == ImageDataset.UNLABELLED;
    if (e.size() < 0 || !labelOk) {
      throw new IOException("entry '" + e.path() + "' has size " + e.size() + " and label " + e.label()
          + "; expected a size >= 0 and " + ("folders".equals(mode) ? "a label in [0, " + classes + ")" : "no label (-1)"));
    }
    return e;
  }

  /** Writes the index atomically (temp file + rename): a kill never leaves half an index. */
  void write(Path file) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (BufferedWriter out =
        new BufferedWriter(
            new OutputStreamWriter(
                new GZIPOutputStream(Files.newOutputStream(tmp), 1 << 16),
                StandardCharsets.UTF_8))) {
      out.write(MAGIC + "\n");
      out.write("root\t" + escape(root.toString()) + "\n");
      out.write("labels\t" + labels + "\n");
      out.write("classes");
      for (String c : classes) {
        out.write("\t" + escape(c));
      }
      out.write("\n");
      for (Map.Entry<String, Long> d : folderMtimes.entrySet()) {
        out.write("D\t" + d.getValue() + "\t" + escape(d.getKey()) + "\n");
      }
      for (Entry e : entries) {
        out.write("F\t" + e.size() + "\t" + e.label() + "\t" + escape(e.path()) + "\n");
      }
    }
    try {
      Files.move(
          tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  Path path(int i) {
    return root.resolve(entries.get(i).path());
  }

  private static boolean hidden(Path p) {
    Path name = p.getFileName();
    return name != null && name.toString().startsWith(".");
  }

  static boolean isImageName(Path p) {
    String name = p.getFileName().toString();
    int dot = name.lastIndexOf('.');
    return dot > 0 && EXTENSIONS.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT));
  }

  private static String relative(Path root, Path p) {
    String rel = root.relativize(p).toString();
    return p.getFileSystem().getSeparator().equals("/") ? rel : rel.replace('\\', '/');
  }

  // Tabs and newlines are legal in file names; escaped so a name never splits a record.
  private static String escape(String s) {
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r");
  }

  private static String unescape(String s) {
    if (s.indexOf('\\') < 0) {
      return s;
    }
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && i + 1 < s.length()) {
        char n = s.charAt(++i);
        b.append(n == 't' ? '\t' : n == 'n' ? '\n' : n == 'r' ? '\r' : n);
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  private static String shortHash(String s) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d, 0, 4);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
