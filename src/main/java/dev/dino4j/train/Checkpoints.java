package dev.dino4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.tensorflow.Session;

/**
 * Checkpoints of a run directory, written so that a crash or kill at any moment leaves the last
 * complete checkpoint usable:
 *
 * <pre>
 *   RUN/checkpoints/ckpt-000001234/  variables (TF V2 format: vars.index, vars.data-*), state.json, config.yaml
 *   RUN/checkpoints/latest           name of the newest complete checkpoint
 * </pre>
 *
 * A checkpoint is written into a hidden temporary folder, then renamed into place; only then is
 * {@code latest} replaced (write to a temporary file, atomic rename). Older checkpoints are
 * deleted except those of every {@code saveEvery}-th epoch.
 */
public final class Checkpoints {

  private static final Logger LOG = LogManager.getLogger(Checkpoints.class);
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final String VARS = "vars";

  /**
   * Where training stands. {@code stepInEpoch} is the number of steps of {@code epoch} already
   * done (0 at an epoch boundary), so resuming continues at exactly the next batch.
   */
  public record State(int epoch, int stepInEpoch, long globalStep, boolean epochEnd) {}

  private final Path dir;

  public Checkpoints(Path runDir) {
    this.dir = runDir.resolve("checkpoints");
  }

  public Path dir() {
    return dir;
  }

  /** The run directory of a run or of one of its checkpoints: RUN or RUN/checkpoints/ckpt-N -> RUN (absolute). */
  public static Path runDirOf(Path runOrCheckpoint) {
    Path p = runOrCheckpoint.toAbsolutePath().normalize();
    Path parent = p.getParent();
    if (parent != null && parent.getFileName() != null && parent.getFileName().toString().equals("checkpoints")
        && parent.getParent() != null) {
      return parent.getParent();
    }
    return p;
  }

  /** Saves all variables plus state and config; returns the checkpoint folder. */
  public Path save(Session session, State state, String configYaml, int saveEvery) {
    try {
      Files.createDirectories(dir);
      String name = String.format("ckpt-%09d", state.globalStep());
      Path target = dir.resolve(name);
      Path tmp = Files.createTempDirectory(dir, ".tmp-" + name + "-");
      session.save(tmp.resolve(VARS).toString());
      Files.writeString(tmp.resolve("config.yaml"), configYaml, StandardCharsets.UTF_8);
      Files.write(tmp.resolve("state.json"), JSON.writeValueAsBytes(state));
      if (Files.exists(target)) {
        // same step saved again (e.g. Ctrl-C right after an epoch end): replace it as a unit
        deleteTree(target);
      }
      move(tmp, target);
      Path latestTmp = dir.resolve(".latest.tmp");
      Files.writeString(latestTmp, name + "\n", StandardCharsets.UTF_8);
      move(latestTmp, dir.resolve("latest"));
      prune(name, saveEvery);
      return target;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write checkpoint in " + dir + ": " + e.getMessage(), e);
    }
  }

  /** The newest complete checkpoint, if any. */
  public Optional<Path> latest() {
    Path pointer = dir.resolve("latest");
    if (!Files.isRegularFile(pointer)) {
      return Optional.empty();
    }
    try {
      String name = Files.readString(pointer, StandardCharsets.UTF_8).trim();
      Path ckpt = dir.resolve(name);
      if (!Files.isRegularFile(ckpt.resolve(VARS + ".index")) || !Files.isRegularFile(ckpt.resolve("state.json"))) {
        throw new IllegalStateException(
            "checkpoint " + ckpt + " named by " + pointer + " is incomplete (missing "
                + VARS + ".index or state.json); remove the run directory or point latest at a complete checkpoint");
      }
      return Optional.of(ckpt);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + pointer + ": " + e.getMessage(), e);
    }
  }

  /** Restores all variables from {@code ckpt} into the session and returns its state. */
  public static State restore(Session session, Path ckpt) {
    try {
      session.restore(ckpt.resolve(VARS).toString());
      return JSON.readValue(ckpt.resolve("state.json").toFile(), State.class);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read checkpoint " + ckpt + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "cannot restore checkpoint " + ckpt + " into this graph (was it written by a different model or head config?): "
              + e.getMessage(), e);
    }
  }

  /** The resolved config saved with a checkpoint. */
  public static String config(Path ckpt) {
    try {
      return Files.readString(ckpt.resolve("config.yaml"), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + ckpt.resolve("config.yaml") + ": " + e.getMessage(), e);
    }
  }

  /** Keeps the newest checkpoint, epoch-end checkpoints of every saveEvery-th epoch; drops stale temp folders. */
  private void prune(String keep, int saveEvery) throws IOException {
    List<Path> doomed = new ArrayList<>();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        String n = p.getFileName().toString();
        if (n.startsWith(".tmp-")) {
          doomed.add(p);
        } else if (n.startsWith("ckpt-") && !n.equals(keep) && !keptForever(p, saveEvery)) {
          doomed.add(p);
        }
      }
    }
    for (Path p : doomed) {
      deleteTree(p);
    }
  }

  private static boolean keptForever(Path ckpt, int saveEvery) {
    if (saveEvery <= 0) {
      return false;
    }
    try {
      State s = JSON.readValue(ckpt.resolve("state.json").toFile(), State.class);
      // state.epoch is the epoch to run next; the epoch just finished is epoch - 1, counted from 1 as epoch
      return s.epochEnd() && s.epoch() % saveEvery == 0;
    } catch (IOException e) {
      LOG.warn("unreadable checkpoint state {}: {}", ckpt, e.getMessage());
      return true; // never delete what we cannot classify
    }
  }

  private static void move(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      for (Path q : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) {
        Files.deleteIfExists(q);
      }
    }
  }
}
