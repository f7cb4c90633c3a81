package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.ParamSpec;
import dev.dino4j.model.Weights;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Weights out of checkpoints and into new runs. */
class CheckpointWeightsTest {

  @Test
  void importedWeightsComeBackOutOfTheCheckpointForStudentAndTeacher(@TempDir Path tmp) {
    DinoConfig cfg = TestConfigs.tiny(2, 0.1, 3.0, tmp.resolve("run").toString());
    Weights w = new Weights();
    Random r = new Random(1);
    for (ParamSpec s : CheckpointWeights.specs(cfg)) {
      float[] v = new float[s.size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) r.nextGaussian();
      }
      w.put(s.name(), s.shape(), v);
    }
    Path ckpt = CheckpointWeights.writeRun(cfg, w, false);
    CheckpointWeights.Source src = CheckpointWeights.resolve(tmp.resolve("run"));
    assertEquals(ckpt, src.checkpoint());
    for (String scope : new String[] {"student", "teacher"}) {
      Weights back = CheckpointWeights.read(src.checkpoint(), src.config(), scope);
      assertEquals(w.size(), back.size());
      for (String name : w.all().keySet()) {
        assertArrayEquals(w.get(name).values(), back.get(name).values(), 0f, scope + "/" + name);
      }
    }
    // a second import into the same run directory is refused
    assertThrows(IllegalStateException.class, () -> CheckpointWeights.writeRun(cfg, w, false));
  }

  @Test
  void misShapedOrMissingWeightsAreListed(@TempDir Path tmp) {
    DinoConfig cfg = TestConfigs.tiny(0, 0.0, 3.0, tmp.resolve("run").toString());
    Weights w = new Weights();
    w.put("cls_token", new long[] {1, 1, 5}, new float[5]);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> CheckpointWeights.writeRun(cfg, w, true));
    assertTrue(e.getMessage().contains("cls_token: shape [1, 1, 5], the config needs [1, 1, 16]"), e.getMessage());
    assertTrue(e.getMessage().contains("missing pos_embed"), e.getMessage());
    assertFalse(e.getMessage().contains("head.mlp"), "backbone-only import does not need the head");
  }

  @Test
  void neitherRunNorCheckpointIsAClearError(@TempDir Path tmp) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> CheckpointWeights.resolve(tmp));
    assertTrue(e.getMessage().contains(tmp.toString()), e.getMessage());
  }
}
