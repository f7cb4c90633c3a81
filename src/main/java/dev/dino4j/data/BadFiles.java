package dev.dino4j.data;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * What a corrupt or unreadable image does to training ({@code data.bad_files}), and the tally.
 *
 * <p>{@code skip} (default): the first failure of a file logs one warning naming the file and the
 * reason; the file is remembered, so later epochs pass over it without decoding it again, and
 * counted. {@code fail}: the first bad file ends the run with the same message. A multi-day run
 * should not end on one broken JPEG, but a run on data that is mostly broken should not run at all:
 * {@link #requireReadable} checks that before any graph is built.
 *
 * <p>Thread-safe: the loader's workers report into one instance.
 */
public final class BadFiles {

  private static final Logger LOG = LogManager.getLogger(BadFiles.class);

  private final boolean skip;
  private final Map<Integer, String> bad = new ConcurrentSkipListMap<>(); // index -> reason

  /** @param policy {@code skip} or {@code fail} */
  public BadFiles(String policy) {
    if (!policy.equals("skip") && !policy.equals("fail")) {
      throw new IllegalArgumentException(
          "data.bad_files = '" + policy + "' is not one of skip, fail");
    }
    this.skip = policy.equals("skip");
  }

  /** Stops at the first bad file: for tests and code that wants no surprises. */
  public static BadFiles failFast() {
    return new BadFiles("fail");
  }

  public boolean skips() {
    return skip;
  }

  /** Whether {@code index} already failed (and is passed over without decoding). */
  public boolean isBad(int index) {
    return bad.containsKey(index);
  }

  /**
   * Records that image {@code index} ({@code name}) could not be read; with policy {@code fail}
   * rethrows the error with the file named.
   */
  public void report(int index, String name, IOException e) throws IOException {
    if (!skip) {
      throw e;
    }
    String reason = e.getMessage() == null ? e.toString() : e.getMessage();
    if (bad.putIfAbsent(index, reason) == null) {
      // One line per file, however many epochs meet it. The message names the file itself for
      // the decoders' errors; otherwise it is prefixed.
      LOG.warn(
          "skipping bad image {}{} (data.bad_files = skip; {} skipped so far)",
          reason.contains(name) ? "" : name + ": ",
          reason,
          bad.size());
    }
  }

  /** Distinct files skipped so far. */
  public int count() {
    return bad.size();
  }

  /** Dataset indices skipped so far, ascending. */
  public List<Integer> indices() {
    return List.copyOf(bad.keySet());
  }

  /**
   * Decodes images in index order until one succeeds, so that a dataset with no readable image is
   * an error before a graph is built or a worker started. Costs one decode on healthy data.
   */
  public void requireReadable(ImageDataset dataset) throws IOException {
    for (int i = 0; i < dataset.size(); i++) {
      try {
        dataset.image(i);
        return;
      } catch (IOException e) {
        report(i, dataset.describe(i), e);
      }
    }
    throw new IOException(
        "none of the "
            + dataset.size()
            + " images could be read (first: "
            + dataset.describe(0)
            + ": "
            + bad.get(0)
            + "); check data.path and the files");
  }
}
