package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.DinoConfig;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;
import org.tensorflow.proto.StepStats;

/** StepProfile: sums of a hand-made trace, and a real traced step's kernels and parts. */
class StepProfileTest {

  private static NodeExecStats node(String name, String label, long start, long end) {
    return NodeExecStats.newBuilder().setNodeName(name).setTimelineLabel(label).setOpStartRelMicros(start)
        .setOpEndRelMicros(end).build();
  }

  @Test
  void sumsKernelTimeByKernelTypeAndPart() {
    RunMetadata m = RunMetadata.newBuilder().setStepStats(StepStats.newBuilder().addDevStats(
        DeviceStepStats.newBuilder()
            .addNodeStats(node("_SOURCE", "_SOURCE = NoOp()", 0, 999))
            .addNodeStats(node("tower_0/student_forward/global/block0/fc1", "tower_0/student_forward/global/block0/fc1 = _FusedMatMul(a, b)", 10, 40))
            .addNodeStats(node("tower_1/student_forward/local/block0/fc1", "x = MatMul(a, b)", 10, 30))
            .addNodeStats(node("gradients/tower_0/student_forward/fc1_grad/MatMul", "g = MatMul(a, b)", 50, 100))
            .addNodeStats(node("teacher_forward/head/mlp0", "t = MatMul(a, b)", 0, 0))
            .addNodeStats(node("adamw/update_3", "", 5, 15))))
        .build();
    StepProfile p = new StepProfile();
    p.add(m);
    p.add(m);
    assertEquals(2, p.steps());
    assertEquals(2 * (30 + 20 + 50 + 0 + 10), p.totalMicros(), 1e-9); // _SOURCE left out
    Map<String, StepProfile.Row> ops = p.byOp().stream().collect(Collectors.toMap(StepProfile.Row::name, r -> r));
    assertEquals(2 * 70, ops.get("MatMul").micros(), 1e-9);
    assertEquals(6, ops.get("MatMul").count());
    assertEquals(2 * 30, ops.get("_FusedMatMul").micros(), 1e-9);
    assertEquals(2 * 10, ops.get("update_3").micros(), 1e-9); // no label: the node name's last part
    assertEquals("MatMul", p.byOp().get(0).name(), "largest first");
    Map<String, StepProfile.Row> parts = p.byPart().stream().collect(Collectors.toMap(StepProfile.Row::name, r -> r));
    assertEquals(2 * 50, parts.get("student_forward").micros(), 1e-9, "both towers in one part");
    assertEquals(2 * 50, parts.get("backward").micros(), 1e-9);
    assertEquals(0, parts.get("teacher_forward").micros(), 1e-9);
    assertEquals(2 * 10, parts.get("adamw").micros(), 1e-9);
    String text = p.format(2); // MatMul, _FusedMatMul, then update_3 folded into the rest
    assertTrue(text.contains("(1 other kernel types)"), text);
    assertTrue(text.contains("kernel time per step 0.1 ms over 2 traced step(s)"), text);
  }

  @Test
  void tracesARealStep() {
    DinoConfig cfg = TestConfigs.tiny(2, 0.0, 3.0, "unused");
    StepProfile p = new StepProfile();
    long t0 = System.nanoTime();
    StepBenchmark.Report r = StepBenchmark.run("tiny", cfg, 1, 1, 1.0, Cluster.single(), 1, p);
    double wallMicros = (System.nanoTime() - t0) / 1e3;
    assertEquals(1, p.steps());
    assertTrue(Float.isFinite(r.lastLoss()));
    List<String> parts = p.byPart().stream().map(StepProfile.Row::name).toList();
    for (String part : List.of("backward", "student_forward", "teacher_forward")) {
      assertTrue(parts.contains(part), part + " in " + parts);
    }
    assertTrue(p.byOp().stream().anyMatch(row -> row.name().contains("MatMul")), p.format(10));
    // kernel time is real time spent inside the traced step: more than nothing, less than the
    // threads could have spent in the whole benchmark
    int cores = Runtime.getRuntime().availableProcessors();
    assertTrue(p.totalMicros() > 0 && p.totalMicros() < cores * wallMicros, p.totalMicros() + " vs " + wallMicros);
  }
}
