package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/** Mid-epoch cadence, clean-up of killed writes, and re-saving the step latest names. */
class CheckpointsTest {

  private static final long MINUTE = 60_000_000_000L;

  @Test
  void dueEveryNStepsOrEveryMMinutesSinceTheLastSave(@TempDir Path tmp) {
    AtomicLong now = new AtomicLong(0);
    Checkpoints steps = new Checkpoints(tmp, 4, 0, now::get);
    assertFalse(steps.due(3));
    assertTrue(steps.due(4));
    assertTrue(steps.due(8));
    now.set(1000 * MINUTE);
    assertFalse(steps.due(9), "no time cadence when 0");

    now.set(0);
    Checkpoints minutes = new Checkpoints(tmp, 0, 1.5, now::get);
    assertFalse(minutes.due(4), "no step cadence when 0");
    now.set(MINUTE);
    assertFalse(minutes.due(5));
    now.set(MINUTE * 3 / 2);
    assertTrue(minutes.due(6), "1.5 minutes since start");

    Checkpoints off = new Checkpoints(tmp);
    assertFalse(off.due(4));
  }

  @Test
  void aSaveRestartsTheClockAndTheSameStepAgainKeepsLatestValid(@TempDir Path tmp) throws IOException {
    AtomicLong now = new AtomicLong(0);
    Checkpoints c = new Checkpoints(tmp, 0, 1, now::get);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Variable<TFloat32> v = tf.withName("v").variable(tf.constant(new float[] {1, 2, 3}));
      try (Session s = new Session(g)) {
        s.runner().addTarget(tf.withName("init").assign(v, tf.constant(new float[] {1, 2, 3}))).run();
        assertEquals(12, Checkpoints.variableBytes(s));
        now.set(2 * MINUTE);
        assertTrue(c.due(1));
        Path p = c.save(s, new Checkpoints.State(0, 2, 2, false), "a: 1\n", 0);
        assertFalse(c.due(3), "the clock restarts at a save");
        byte[] vars = Files.readAllBytes(p.resolve("vars.index"));
        // the same step as latest, e.g. an epoch end right after a resume at its last step
        Path q = c.save(s, new Checkpoints.State(1, 0, 2, true), "a: 2\n", 0);
        assertEquals(p, q);
        assertEquals(p, c.latest().orElseThrow());
        assertArrayEquals(vars, Files.readAllBytes(q.resolve("vars.index")));
        assertTrue(Files.readString(q.resolve("state.json")).contains("\"epochEnd\" : true"));
        assertEquals("a: 2\n", Files.readString(q.resolve("config.yaml")));
      }
    }
    try (Stream<Path> s = Files.list(c.dir())) {
      assertEquals(List.of("ckpt-000000002", "latest"), s.map(x -> x.getFileName().toString()).sorted().toList());
    }
  }

  @Test
  void removeUnfinishedDeletesWhatAKilledWriteLeft(@TempDir Path tmp) throws IOException {
    Checkpoints c = new Checkpoints(tmp);
    Files.createDirectories(c.dir().resolve(".tmp-ckpt-000000004-123"));
    Files.writeString(c.dir().resolve(".tmp-ckpt-000000004-123").resolve("vars.index"), "x");
    Files.writeString(c.dir().resolve(".latest.tmp"), "ckpt-000000004\n");
    Files.createDirectories(c.dir().resolve("ckpt-000000002"));
    assertEquals(2, c.removeUnfinished().size());
    try (Stream<Path> s = Files.list(c.dir())) {
      assertEquals(List.of("ckpt-000000002"), s.map(x -> x.getFileName().toString()).toList());
    }
  }
}
