package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvalBenchmarkCommandTest {

  @Test
  void trainingTimeSumsTheEpochRecordsOfTheRun(@TempDir Path run) throws Exception {
    Files.writeString(run.resolve("metrics.jsonl"), """
        {"step":0,"epoch":0,"loss":8.1}
        {"step":900,"epoch":0,"loss":3.4}
        {"epoch_end":0,"mean_loss":6.1,"seconds":3000.5}
        {"step":1850,"epoch":1,"loss":5.0}
        {"epoch_end":1,"mean_loss":5.2,"seconds":2400.0,"knn_top1":66.6}
        """);
    Path ckpt = Files.createDirectories(run.resolve("checkpoints/ckpt-000001874"));
    String expected = "training: 2 epoch(s), last logged step 1850, 1 h 30 min (" + run.toAbsolutePath().resolve("metrics.jsonl") + ")\n";
    assertEquals(expected.replace(run.toAbsolutePath().toString(), run.toString()),
        EvalBenchmarkCommand.trainingTime(run).orElseThrow());
    // from a checkpoint folder the run is two levels up; 5400.5 s = 1 h 30 min
    assertTrue(EvalBenchmarkCommand.trainingTime(ckpt).orElseThrow().startsWith("training: 2 epoch(s), last logged step 1850, 1 h 30 min"));
  }

  @Test
  void aResumedEpochCountsOnce(@TempDir Path run) throws Exception {
    // resumed from a checkpoint inside epoch 1: the epoch ends twice in the file, and the later record wins
    Files.writeString(run.resolve("metrics.jsonl"), """
        {"step":0,"epoch":0,"loss":8.1}
        {"epoch_end":0,"mean_loss":6.1,"seconds":1800.0}
        {"step":900,"epoch":1,"loss":5.0}
        {"epoch_end":1,"mean_loss":5.2,"seconds":1200.0}
        {"step":900,"epoch":1,"loss":5.0}
        {"epoch_end":1,"mean_loss":5.2,"seconds":1800.0}
        {"step":1300,"epoch":2,"loss":4.0}
        """);
    // 1800 + 1800 = 1 h 00 min, not 1 h 20 min
    assertTrue(EvalBenchmarkCommand.trainingTime(run).orElseThrow().startsWith("training: 2 epoch(s), last logged step 1300, 1 h 00 min"));
  }

  @Test
  void noMetricsNoLine(@TempDir Path dir) throws Exception {
    assertEquals(Optional.empty(), EvalBenchmarkCommand.trainingTime(dir.resolve("a/b")));
  }
}
