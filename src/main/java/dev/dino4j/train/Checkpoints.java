package dev.dino4j.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.LongSupplier;
import java.util.stream.Stream;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.tensorflow.GraphOperation;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.ndarray.Shape;

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
 * deleted except those of every {@code saveEvery}-th epoch. A temporary folder left by a killed
 * write is removed at the next start ({@link #removeUnfinished}).
 *
 * <p>Besides epoch ends, {@link #due} says when a mid-epoch checkpoint is due: every
 * {@code train.checkpoint_every_steps} global steps and/or when {@code train.checkpoint_every_minutes}
 * have passed since the last checkpoint (or the start).
 *
 * <p>A checkpoint that cannot be written (a full disk) throws {@link WriteException} naming the
 * folder, the space it needs and the space free; the previous checkpoint and {@code latest} stay.
 */
public final class Checkpoints {

  private static final Logger LOG = LogManager.getLogger(Checkpoints.class);
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final String VARS = "vars";
  private static final ObjectReader STATE = JSON.readerFor(State.class).with(
      DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES, DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES,
      DeserializationFeature.FAIL_ON_TRAILING_TOKENS).without(DeserializationFeature.ACCEPT_FLOAT_AS_INT);
  private static final String STATE_SHAPE = "{\"epoch\": N, \"stepInEpoch\": N, \"globalStep\": N, \"epochEnd\": true|false}";

  /**
   * Where training stands. {@code stepInEpoch} is the number of steps of {@code epoch} already
   * done (0 at an epoch boundary), so resuming continues at exactly the next batch.
   */
  public record State(int epoch, int stepInEpoch, long globalStep, boolean epochEnd) {}

  /** Test-only system property PHASE@STEP: the writer of checkpoint STEP stops at PHASE, for kill tests. */
  static final String PAUSE_PROPERTY = "dino4j.test.checkpoint_pause";

  /** A checkpoint could not be written (disk full, read-only, ...); the previous one is untouched. */
  public static final class WriteException extends UncheckedIOException {
    private static final long serialVersionUID = 1L;

    WriteException(String message, IOException cause) {
      super(message, cause);
    }
  }

  private final Path dir;
  private final int everySteps;
  private final long everyNanos;
  private final LongSupplier clock;
  private long lastSave;

  /** Checkpoints at epoch ends (and on request) only. */
  public Checkpoints(Path runDir) {
    this(runDir, 0, 0, System::nanoTime);
  }

  /** Also due every {@code everySteps} global steps and every {@code everyMinutes} minutes (0 = off). */
  public Checkpoints(Path runDir, int everySteps, double everyMinutes) {
    this(runDir, everySteps, everyMinutes, System::nanoTime);
  }

  Checkpoints(Path runDir, int everySteps, double everyMinutes, LongSupplier nanoClock) {
    this.dir = runDir.resolve("checkpoints");
    this.everySteps = everySteps;
    this.everyNanos = (long) (everyMinutes * 60e9);
    this.clock = nanoClock;
    this.lastSave = nanoClock.getAsLong();
  }

  /**
   * Whether a mid-epoch checkpoint is due after {@code stepsDone} global steps: a multiple of
   * the step cadence, or the time cadence passed since the last save (or since this object was made).
   */
  public boolean due(long stepsDone) {
    return (everySteps > 0 && stepsDone % everySteps == 0)
        || (everyNanos > 0 && clock.getAsLong() - lastSave >= everyNanos);
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
    String name = String.format("ckpt-%09d", state.globalStep());
    Path target = dir.resolve(name);
    Path tmp = null;
    boolean moved = false;
    try {
      Files.createDirectories(dir);
      if (name.equals(latestName()) && Files.isRegularFile(target.resolve(VARS + ".index"))) {
        // The same step saved again (resumed at the last step of an epoch, then the epoch end):
        // same step, same variables. Only state.json and config.yaml change, each replaced
        // atomically, so latest never names a missing folder.
        replaceFile(target.resolve("config.yaml"), configYaml.getBytes(StandardCharsets.UTF_8), state.globalStep());
        replaceFile(target.resolve("state.json"), JSON.writeValueAsBytes(state), state.globalStep());
        lastSave = clock.getAsLong();
        prune(name, saveEvery);
        return target;
      }
      tmp = Files.createTempDirectory(dir, ".tmp-" + name + "-");
      testPause("temp-created", state.globalStep());
      session.save(tmp.resolve(VARS).toString());
      testPause("variables-written", state.globalStep());
      Files.writeString(tmp.resolve("config.yaml"), configYaml, StandardCharsets.UTF_8);
      Files.write(tmp.resolve("state.json"), JSON.writeValueAsBytes(state));
      syncTree(tmp); // on disk before the rename makes it visible: a power loss cannot leave empty files
      if (Files.exists(target)) {
        // left by a write killed between its rename and latest: not named by latest, same step
        deleteTree(target);
      }
      move(tmp, target);
      moved = true;
      sync(dir);
      testPause("folder-renamed", state.globalStep());
      replaceFile(dir.resolve("latest"), (name + "\n").getBytes(StandardCharsets.UTF_8), state.globalStep());
    } catch (IOException | TensorFlowException e) {
      throw writeFailed(session, name, tmp, moved ? target : null, e);
    }
    lastSave = clock.getAsLong();
    prune(name, saveEvery);
    return target;
  }

  /** Removes what a failed write left, and says what it needs; latest still names the previous checkpoint. */
  private WriteException writeFailed(Session session, String name, Path tmp, Path renamed, Exception e) {
    for (Path p : new Path[] {tmp, renamed, dir.resolve(".latest.tmp")}) {
      try {
        if (p != null) {
          deleteTree(p);
        }
      } catch (IOException ignored) {
        LOG.warn("could not remove {} after the failed checkpoint write: {}", p, ignored.getMessage());
      }
    }
    long needed = variableBytes(session);
    String free;
    try {
      free = mib(Files.getFileStore(dir).getUsableSpace()) + " free there";
    } catch (IOException ex) {
      free = "free space unknown";
    }
    String previous = latestName();
    String message = String.format(Locale.ROOT,
        "cannot write checkpoint %s in %s: %s. A checkpoint of this model needs about %s (%d bytes of variables), "
            + "%s. %s; free space there (or move the run directory) and run the same command to resume.",
        name, dir, e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().strip().split("\n")[0],
        mib(needed), needed,
        free, previous == null ? "No earlier checkpoint exists" : "The previous checkpoint " + dir.resolve(previous)
            + " and latest are intact");
    return new WriteException(message, e instanceof IOException io ? io : new IOException(e.getMessage(), e));
  }

  /** The bytes of every variable in the session's graph: what session.save writes, give or take the index. */
  static long variableBytes(Session session) {
    long bytes = 0;
    for (Iterator<GraphOperation> it = session.graph().operations(); it.hasNext(); ) {
      GraphOperation op = it.next();
      if (!op.type().startsWith("Variable")) {
        continue;
      }
      Shape shape = op.output(0).shape();
      long n = shape.isUnknown() ? 1 : Math.max(shape.size(), 1);
      int width = switch (op.output(0).dataType()) {
        case DT_DOUBLE, DT_INT64, DT_UINT64 -> 8;
        case DT_BFLOAT16, DT_HALF, DT_INT16, DT_UINT16 -> 2;
        case DT_INT8, DT_UINT8, DT_BOOL -> 1;
        default -> 4;
      };
      bytes += n * width;
    }
    return bytes;
  }

  private static String mib(long bytes) {
    return bytes < 1024 * 1024
        ? String.format(Locale.ROOT, "%d KiB", (bytes + 1023) / 1024)
        : String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024.0));
  }

  /**
   * Removes hidden temporary folders and pointer files a killed or failed write left behind; run
   * at the start of training (never by readers: a writer may be running). Returns what it removed.
   */
  public List<Path> removeUnfinished() {
    List<Path> removed = new ArrayList<>();
    if (!Files.isDirectory(dir)) {
      return removed;
    }
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        String n = p.getFileName().toString();
        if (n.startsWith(".tmp-") || n.equals(".latest.tmp")) {
          removed.add(p);
        }
      }
      for (Path p : removed) {
        deleteTree(p);
        LOG.warn("removed {}, left by a checkpoint write that did not finish (killed or failed)", p);
      }
      return removed;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot clean up " + dir + ": " + e.getMessage(), e);
    }
  }

  /** The checkpoint name {@code latest} holds, or null. */
  private String latestName() {
    try {
      Path pointer = dir.resolve("latest");
      return Files.isRegularFile(pointer) ? Files.readString(pointer, StandardCharsets.UTF_8).trim() : null;
    } catch (IOException e) {
      return null;
    }
  }

  /** Replaces a file atomically: a temporary file, synced, renamed over it. */
  private static void replaceFile(Path file, byte[] content, long step) throws IOException {
    Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
    Files.write(tmp, content);
    sync(tmp);
    testPause(file.getFileName() + "-written", step);
    move(tmp, file);
    sync(file.getParent());
  }

  private static void syncTree(Path folder) throws IOException {
    try (Stream<Path> s = Files.list(folder)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        if (Files.isRegularFile(p)) {
          sync(p);
        }
      }
    }
    sync(folder);
  }

  /** fsync of a file or a folder (Linux accepts a read-only channel on both). */
  private static void sync(Path p) throws IOException {
    try (FileChannel c = FileChannel.open(p, StandardOpenOption.READ)) {
      c.force(true);
    }
  }

  /**
   * Test-only: with -Ddino4j.test.checkpoint_pause=PHASE@STEP the writer of checkpoint STEP stops
   * at PHASE (temp-created, variables-written, folder-renamed, latest-written) until killed.
   */
  private static void testPause(String phase, long step) {
    String want = System.getProperty(PAUSE_PROPERTY);
    if (want != null && want.equals(phase + "@" + step)) {
      System.err.println("dino4j test hook: checkpoint writer paused at " + phase + " of step " + step);
      System.err.flush();
      try {
        Thread.sleep(Long.MAX_VALUE); // until the test kills the process
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
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
      return readState(ckpt);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read checkpoint " + ckpt + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "cannot restore checkpoint " + ckpt + " into this graph (was it written by a different model or head config?): "
              + e.getMessage(), e);
    }
  }

  /**
   * The {@code state.json} of checkpoint folder {@code ckpt}. Strict, as a resume must not start
   * from a guess: all four fields, integers (no decimals) that are not negative, nothing after the
   * object; an empty file, {@code null} or a missing field is an IOException naming the file.
   */
  public static State readState(Path ckpt) throws IOException {
    Path file = ckpt.resolve("state.json");
    if (Files.size(file) > 4096) {
      throw new IOException(file + ": " + Files.size(file) + " bytes, not a checkpoint state; expected " + STATE_SHAPE);
    }
    byte[] bytes = Files.readAllBytes(file);
    State s;
    try {
      s = STATE.readValue(bytes);
    } catch (IOException e) { // not JSON, or not in an encoding JSON allows (CharConversionException)
      String why = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
      throw new IOException(file + ": not a checkpoint state (" + why + "); expected " + STATE_SHAPE, e);
    }
    if (s == null || s.epoch() < 0 || s.stepInEpoch() < 0 || s.globalStep() < 0) {
      throw new IOException(file + ": " + (s == null ? "null" : s) + " is not a checkpoint state; expected " + STATE_SHAPE
          + " with counts >= 0");
    }
    return s;
  }

  /** The resolved config saved with a checkpoint. */
  public static String config(Path ckpt) {
    try {
      return Files.readString(ckpt.resolve("config.yaml"), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + ckpt.resolve("config.yaml") + ": " + e.getMessage(), e);
    }
  }

  /**
   * Keeps the newest checkpoint, epoch-end checkpoints of every saveEvery-th epoch; drops stale
   * temp folders. Runs after latest names the new checkpoint, so a failure here only warns.
   */
  private void prune(String keep, int saveEvery) {
    try {
      pruneOrThrow(keep, saveEvery);
    } catch (IOException e) {
      LOG.warn("could not remove old checkpoints in {}: {}", dir, e.getMessage());
    }
  }

  private void pruneOrThrow(String keep, int saveEvery) throws IOException {
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
      State s = readState(ckpt);
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
