package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.model.FusedKernels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Training parity with the official DINO step (docs/parity.md): the 64 steps of configs/parity.yaml
 * trained by dino4j's Trainer (parity-dump) are replayed by a PyTorch step built the way the
 * official code builds it (src/python/parity_torch.py, in the venv of scripts/python-venv.sh) from
 * the same step-0 weights and the same views, in float32 and in float64. dino4j's per-step loss and
 * final student, teacher and center (every tensor) must be as close to PyTorch float32's as a small
 * multiple of PyTorch's own float32-vs-float64 drift, the scalars it fed must be the reference schedules,
 * clipping must be active at every step and the weights must have moved far beyond the differences.
 * About 2.5 minutes per kernel choice on the 2-core machine.
 */
@Tag("slow")
class TrainingParityTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Runs parity_torch.py; returns its exit code (compare exits 1 when the verdict fails). */
  private static int runPython(String python, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(python, "src/python/parity_torch.py"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(10, TimeUnit.MINUTES), "parity_torch.py timed out");
    System.out.print(out);
    return p.exitValue();
  }

  /** A DINOv2 term of the result, compared every step: dino4j within the factor of PyTorch's own drift. */
  private static JsonNode assertTermWithinDrift(JsonNode r, String key, String what) {
    JsonNode t = r.get(key);
    assertFalse(t.isNull(), "the replay computed no " + what + " term");
    assertTrue(t.get("dino4j_vs_torch32").asDouble()
            <= Math.max(r.get("factor").asDouble() * t.get("torch32_vs_torch64").asDouble(), r.get("floor").asDouble()),
        "per-step " + what + ": dino4j vs torch32 " + t.get("dino4j_vs_torch32") + ", torch32 vs torch64 "
            + t.get("torch32_vs_torch64"));
    return t;
  }

  /**
   * The official DINO step with either kernel choice; and DINOv2's objectives (KoLeo, Sinkhorn-Knopp
   * centering instead of the center) against the DINOv2 code's way of computing them; and iBOT's
   * masked-patch loss (with KoLeo, the EMA center): the same masks, mask token, shared head and
   * patch center as DINOv2's step.
   */
  @ParameterizedTest(name = "train.kernels {0} {1}")
  @CsvSource({"auto, dino", "stock, dino", "auto, dinov2", "auto, ibot", "auto, ibot-separate-head"})
  void dino4jTrainsAsTheOfficialPyTorchStep(String kernels, String objectives, @TempDir Path dir) throws Exception {
    Path dump = dir.resolve("dump");
    List<String> args = new ArrayList<>(List.of("parity-dump", "--config", "configs/parity.yaml", "--out",
        dump.toString(), "--set", "train.kernels=" + kernels));
    if (objectives.equals("dinov2")) {
      args.addAll(List.of("--set", "loss.koleo_weight=0.1", "--set", "loss.centering=sinkhorn"));
    } else if (objectives.equals("ibot")) {
      args.addAll(List.of("--set", "loss.koleo_weight=0.1", "--set", "loss.ibot_weight=1.0"));
    } else if (objectives.equals("ibot-separate-head")) { // DINOv2's ibot_head, with fewer prototypes than the DINO head
      args.addAll(List.of("--set", "loss.ibot_weight=1.0", "--set", "loss.ibot_separate_head=true",
          "--set", "loss.ibot_out_dim=512"));
    }
    WeightsCommandsTest.Run run = WeightsCommandsTest.cli(args.toArray(String[]::new));
    assertEquals(0, run.code(), "parity-dump failed:\n" + run.err());
    String log = Files.readString(dump.resolve("run").resolve("train.log"));
    // auto must really be the fused kernels here (what users of this machine get), stock TF's ops
    String expected = kernels.equals("stock") || !FusedKernels.available() ? "TF's stock ops" : "fused kernels (";
    assertTrue(log.contains(expected), "train.log does not say " + expected);

    String py = WeightsInteropTest.python();
    assertEquals(0, runPython(py, "train", "--dump", dump.toString(), "--dtype", "float32"), "float32 replay failed");
    assertEquals(0, runPython(py, "train", "--dump", dump.toString(), "--dtype", "float64"), "float64 replay failed");
    int code = runPython(py, "compare", "--dump", dump.toString());
    JsonNode r = JSON.readTree(dump.resolve("parity-result.json").toFile());

    assertTrue(r.get("steps").asInt() >= 60, "steps " + r.get("steps"));
    if (objectives.startsWith("ibot")) {
      JsonNode i = assertTermWithinDrift(r, "ibot", "iBOT");
      assertTrue(i.get("mean").asDouble() > 0.1, "iBOT term " + i.get("mean") + ": nothing masked?");
    } else {
      assertTrue(r.get("ibot").isNull());
    }
    if (objectives.equals("dinov2") || objectives.equals("ibot")) {
      assertTermWithinDrift(r, "koleo", "KoLeo");
    } else {
      assertTrue(r.get("koleo").isNull());
    }
    JsonNode loss = r.get("loss");
    double factor = r.get("factor").asDouble();
    double floor = r.get("floor").asDouble();
    assertTrue(loss.get("dino4j_vs_torch32").asDouble()
            <= Math.max(factor * loss.get("torch32_vs_torch64").asDouble(), floor),
        "per-step loss: dino4j vs torch32 " + loss.get("dino4j_vs_torch32") + ", torch32 vs torch64 "
            + loss.get("torch32_vs_torch64"));
    for (String group : List.of("student", "teacher", "center")) {
      JsonNode g = r.get("groups").get(group);
      double d = g.get("dino4j_vs_torch32").get("max_abs").asDouble();
      double drift = g.get("torch32_vs_torch64").get("max_abs").asDouble();
      assertTrue(d <= Math.max(factor * drift, floor), "final " + group + ": dino4j vs torch32 max abs " + d
          + " (worst " + g.get("dino4j_vs_torch32").get("worst") + "), torch32 vs torch64 " + drift);
    }
    // per tensor too: a small tensor's real difference must not hide under another's larger drift
    for (String group : List.of("student", "teacher", "center")) {
      JsonNode w = r.get("worst_tensor").get(group);
      assertTrue(w.get("share").asDouble() <= 1, "final " + group + ": " + w.get("tensor") + " differs by "
          + w.get("dino4j_vs_torch32") + ", over its tolerance " + w.get("tolerance"));
    }
    for (String group : List.of("student key bias", "teacher key bias")) {
      double d = r.get("groups").get(group).get("dino4j_vs_torch32").get("max_abs").asDouble();
      assertTrue(d <= r.get("key_bias_bound").asDouble(), group + ": " + d);
    }
    assertTrue(r.get("checks").get("schedules").asBoolean(), "fed schedules differ from the reference: " + r.get("schedules"));
    for (JsonNode c : r.get("clipped")) {
      assertTrue(c.asInt() > 0, "a step without any clipped tensor: " + r.get("clipped"));
    }
    assertTrue(r.get("checks").get("weights_moved").asBoolean(), "weights barely moved: " + r.get("moved"));
    assertTrue(r.get("verdict").asBoolean(), "verdict FAIL: " + r.get("checks"));
    assertEquals(0, code, "compare exited " + code);
  }
}
