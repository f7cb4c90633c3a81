package dev.dino4j.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dino4j.train.Checkpoints;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint's state.json (Checkpoints.readState, which restore, pruning and export use):
 * a state with non-negative counters, or an IOException naming the file.
 */
@Tag("fuzz")
class CheckpointStateFuzzTest {

  @TempDir static Path dir;

  @FuzzTest
  void stateJson(byte[] data) throws IOException {
    Path ckpt = Files.createDirectories(dir.resolve("ckpt-000000001"));
    Files.write(ckpt.resolve("state.json"), data);
    Checkpoints.State s;
    try {
      s = Checkpoints.readState(ckpt);
    } catch (IOException e) {
      assertTrue(e.getMessage().startsWith(ckpt.resolve("state.json").toString()), e.getMessage());
      return;
    }
    assertTrue(s.epoch() >= 0 && s.stepInEpoch() >= 0 && s.globalStep() >= 0, s.toString());
  }
}
