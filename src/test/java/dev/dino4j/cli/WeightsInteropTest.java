package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.export.SafetensorsReader;
import dev.dino4j.model.DinoHead;
import dev.dino4j.model.ParamSpec;
import dev.dino4j.model.Params;
import dev.dino4j.model.VisionTransformer;
import dev.dino4j.model.Weights;
import dev.dino4j.train.CheckpointWeights;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * Weight exchange against PyTorch (src/python/weights_interop.py, in the venv of
 * scripts/python-venv.sh): a random Hugging Face ViTModel and a random official-structure ViT +
 * DINO head (as a DINO full checkpoint: teacher.*, student.module.*) are imported with the CLI and
 * give PyTorch's CLS embeddings (and head logits) at the native resolution and at two others
 * (position-embedding resampling); dino4j's exports load with load_state_dict(strict=True) into
 * the official module and into ViTModel and give dino4j's outputs.
 */
@Tag("slow")
class WeightsInteropTest {

  /** The ViT of weights_interop.py's defaults: patch 4, 16 px (4x4 grid), dim 32, depth 2, heads 2. */
  static final String YAML = """
      model: {arch: custom, patch_size: 4, embed_dim: 32, depth: 2, heads: 2}
      augment: {global_size: 16, local_size: 8, local_crops: 2}
      head: {out_dim: 64, hidden_dim: 48, bottleneck_dim: 16, layers: 3, norm_last_layer: false}
      train: {batch_size: 4}
      """;
  static final int[] SIZES = {16, 24, 12};
  static final double TOL = 1e-4;

  /** The venv's python (scripts/python-venv.sh makes it on first use); shared by the interop and parity tests. */
  static String python() throws Exception {
    Process p = new ProcessBuilder("scripts/python-venv.sh").redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    assertTrue(p.waitFor(30, TimeUnit.MINUTES), "venv set-up timed out");
    assertEquals(0, p.exitValue(), "scripts/python-venv.sh failed (offline wheel mirror reachable?)");
    return out.substring(out.lastIndexOf('\n') + 1);
  }

  private static void runPython(String python, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(python, "src/python/weights_interop.py"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(10, TimeUnit.MINUTES));
    System.out.print(out);
    assertEquals(0, p.exitValue(), "python failed:\n" + out);
  }

  private static Map<String, Weights.Tensor> read(Path file) throws IOException {
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      return r.readAll();
    }
  }

  /** dino4j's forward (teacher weights of a run) on NCHW images: [cls, logits] per size. */
  private static Map<Integer, float[][]> forward(Path run, Map<String, Weights.Tensor> inputs, boolean head) {
    CheckpointWeights.Source src = CheckpointWeights.resolve(run);
    DinoConfig cfg = src.config();
    Weights w = CheckpointWeights.read(src.checkpoint(), cfg, "teacher");
    VisionTransformer.Dims d = VisionTransformer.Dims.of(cfg.model(), cfg.augment().globalSize());
    List<ParamSpec> specs = CheckpointWeights.specs(cfg);
    Map<Integer, float[][]> out = new TreeMap<>();
    for (int size : SIZES) {
      Weights.Tensor nchw = inputs.get("images_" + size);
      int b = (int) nchw.shape()[0];
      float[] nhwc = new float[nchw.values().length];
      for (int n = 0; n < b; n++) {
        for (int c = 0; c < 3; c++) {
          for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
              nhwc[((n * size + y) * size + x) * 3 + c] = nchw.values()[((n * 3 + c) * size + y) * size + x];
            }
          }
        }
      }
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        Params p = Params.create(tf, "net", specs);
        Placeholder<TFloat32> images = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, size, size, 3)));
        Operand<TFloat32> cls = VisionTransformer.forward(tf, p, d, images, size, null).cls();
        Operand<TFloat32> logits = DinoHead.forward(tf, p, cfg.head(), cls);
        try (Session s = new Session(g)) {
          for (Params.Param q : p.all()) {
            Weights.Tensor t = w.get(q.spec().name());
            s.runner().addTarget(tf.assign(q.variable(),
                tf.constant(Shape.of(t.shape()), DataBuffers.of(t.values(), true, false)))).run().close();
          }
          try (TFloat32 in = TFloat32.tensorOf(Shape.of(b, size, size, 3), DataBuffers.of(nhwc, true, false));
              Result r = s.runner().feed(images, in).fetch(cls).fetch(logits).run()) {
            float[][] res = new float[2][];
            for (int i = 0; i < 2; i++) {
              TFloat32 t = (TFloat32) r.get(i);
              res[i] = new float[(int) t.shape().size()];
              t.copyTo(DataBuffers.of(res[i], false, false));
            }
            out.put(size, head ? res : new float[][] {res[0], null});
          }
        }
      }
    }
    return out;
  }

  private static double maxDiff(float[] a, Weights.Tensor b) {
    assertEquals(a.length, b.values().length);
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b.values()[i]));
    }
    return m;
  }

  private final List<String> report = new ArrayList<>();

  private void check(String what, int size, float[] java, Weights.Tensor torch) {
    double diff = maxDiff(java, torch);
    report.add(String.format(Locale.ROOT, "%-58s size %2d%s: max |diff| %.2e", what, size,
        size == SIZES[0] ? " (native)" : "         ", diff));
    assertTrue(diff <= TOL, what + " at size " + size + ": max |diff| " + diff + " > " + TOL);
  }

  private static void cliOk(String... args) {
    WeightsCommandsTest.Run r = WeightsCommandsTest.cli(args);
    assertEquals(0, r.code(), String.join(" ", args) + "\n" + r.err());
    System.out.print(r.out());
  }

  @Test
  void importsAndExportsMatchPyTorch(@TempDir Path tmp) throws Exception {
    String python = python();
    runPython(python, "make", "--out", tmp.toString());
    Map<String, Weights.Tensor> ref = read(tmp.resolve("inputs.safetensors"));
    Map<String, Weights.Tensor> dtypes = read(tmp.resolve("dtypes.safetensors"));
    for (String dt : List.of("f16", "bf16", "f64")) { // PyTorch's float16/bfloat16/float64 -> float32, bit for bit
      assertArrayEquals(dtypes.get(dt + "_as_f32").values(), dtypes.get(dt).values(), 0f, dt);
    }
    Path yaml = Files.writeString(tmp.resolve("c.yaml"), YAML);
    String config = yaml.toString();

    // ---- import: Hugging Face ViTModel (transformers' own names), backbone only ----
    Path hfRun = tmp.resolve("hf-run");
    cliOk("import", tmp.resolve("hf.safetensors").toString(), "--config", config, "--output", hfRun.toString(),
        "--backbone-only");
    Map<Integer, float[][]> hf = forward(hfRun, ref, false);
    for (int s : SIZES) {
      check("import hf ViTModel -> dino4j CLS vs ViTModel", s, hf.get(s)[0], ref.get("hf_cls_" + s));
    }

    // ---- import: official names, DINO full checkpoint layout, teacher (default) and student ----
    Path teacherRun = tmp.resolve("teacher-run");
    cliOk("import", tmp.resolve("official.safetensors").toString(), "--config", config, "--output", teacherRun.toString());
    Path studentRun = tmp.resolve("student-run");
    cliOk("import", tmp.resolve("official.safetensors").toString(), "--config", config, "--output", studentRun.toString(),
        "--network", "student");
    Map<Integer, float[][]> teacher = forward(teacherRun, ref, true);
    Map<Integer, float[][]> student = forward(studentRun, ref, true);
    for (int s : SIZES) {
      check("import official (teacher.*) -> dino4j CLS vs PyTorch", s, teacher.get(s)[0], ref.get("teacher_cls_" + s));
      check("import official (teacher.*) -> dino4j head logits", s, teacher.get(s)[1], ref.get("teacher_logits_" + s));
      check("import official (student.module.*) -> dino4j CLS", s, student.get(s)[0], ref.get("student_cls_" + s));
      check("import official (student.module.*) -> dino4j head logits", s, student.get(s)[1], ref.get("student_logits_" + s));
    }

    // ---- export: dino4j -> safetensors -> load_state_dict(strict=True) in PyTorch ----
    Path full = tmp.resolve("export-full.safetensors");
    Path bare = tmp.resolve("export-backbone.safetensors");
    Path hfOut = tmp.resolve("export-hf.safetensors");
    cliOk("export-weights", teacherRun.toString(), "--output", full.toString());
    cliOk("export-weights", teacherRun.toString(), "--output", bare.toString(), "--backbone-only");
    cliOk("export-weights", hfRun.toString(), "--output", hfOut.toString(), "--backbone-only", "--naming", "hf");
    String in = tmp.resolve("inputs.safetensors").toString();
    Path fullOut = tmp.resolve("check-full.safetensors");
    Path bareOut = tmp.resolve("check-backbone.safetensors");
    Path hfCheck = tmp.resolve("check-hf.safetensors");
    runPython(python, "check", "--inputs", in,
        "--job", "official:" + full + ":" + fullOut,
        "--job", "official-backbone:" + bare + ":" + bareOut,
        "--job", "hf:" + hfOut + ":" + hfCheck);
    Map<String, Weights.Tensor> pf = read(fullOut);
    Map<String, Weights.Tensor> pb = read(bareOut);
    Map<String, Weights.Tensor> ph = read(hfCheck);
    for (int s : SIZES) {
      check("export official (MultiCropWrapper) -> PyTorch CLS vs dino4j", s, teacher.get(s)[0], pf.get("cls_" + s));
      check("export official (MultiCropWrapper) -> PyTorch logits", s, teacher.get(s)[1], pf.get("logits_" + s));
      check("export official --backbone-only (VisionTransformer) -> CLS", s, teacher.get(s)[0], pb.get("cls_" + s));
      check("export hf --backbone-only (ViTModel) -> CLS vs dino4j", s, hf.get(s)[0], ph.get("cls_" + s));
    }
    // the official DINO code resamples pos_embed with a nudged scale factor: what the size arithmetic
    // moves (documented), and model.interpolate_offset 0.1 reproducing the official features (asserted)
    Path offsetRun = tmp.resolve("offset-run");
    cliOk("import", tmp.resolve("official.safetensors").toString(), "--config", config, "--output", offsetRun.toString(),
        "--set", "model.interpolate_offset=0.1");
    Map<Integer, float[][]> offset = forward(offsetRun, ref, false);
    for (int s : SIZES) {
      report.add(String.format(Locale.ROOT, "%-58s size %2d: max |diff| %.2e",
          "official DINO interpolate (scale_factor+0.1) vs size=", s, maxDiff(teacher.get(s)[0], pf.get("dino_cls_" + s))));
      check("model.interpolate_offset 0.1 -> dino4j CLS vs official DINO", s, offset.get(s)[0], pf.get("dino_cls_" + s));
    }
    assertTrue(maxDiff(teacher.get(SIZES[2])[0], pf.get("dino_cls_" + SIZES[2])) > 100 * TOL,
        "the two resampling rules must differ off the native size, or the check above proves nothing");

    // ---- DINOv2: Hugging Face Dinov2Model (LayerScale) and Dinov2WithRegistersModel (+ 2 registers) ----
    Path v2Run = tmp.resolve("dinov2-run");
    cliOk("import", tmp.resolve("dinov2.safetensors").toString(), "--config", config, "--output", v2Run.toString(),
        "--backbone-only", "--set", "model.layerscale_init=1e-5");
    Path regRun = tmp.resolve("dinov2reg-run");
    cliOk("import", tmp.resolve("dinov2reg.safetensors").toString(), "--config", config, "--output", regRun.toString(),
        "--backbone-only", "--set", "model.layerscale_init=1e-5", "--set", "model.registers=2");
    Map<Integer, float[][]> v2 = forward(v2Run, ref, false);
    Map<Integer, float[][]> reg = forward(regRun, ref, false);
    for (int s : SIZES) {
      check("import hf Dinov2Model -> dino4j CLS vs Dinov2Model", s, v2.get(s)[0], ref.get("dinov2_cls_" + s));
    }
    // Dinov2WithRegistersModel resamples pos_embed with antialias=True (PIL's a = -0.5 cubic, support
    // widened when shrinking), which dino4j does not implement: asserted at the native size, reported elsewhere
    check("import hf Dinov2WithRegisters -> dino4j CLS", SIZES[0], reg.get(SIZES[0])[0], ref.get("dinov2reg_cls_" + SIZES[0]));
    for (int i = 1; i < SIZES.length; i++) {
      report.add(String.format(Locale.ROOT, "%-58s size %2d: max |diff| %.2e", "Dinov2WithRegisters (antialiased resampling) vs dino4j",
          SIZES[i], maxDiff(reg.get(SIZES[i])[0], ref.get("dinov2reg_cls_" + SIZES[i]))));
    }
    Path v2Out = tmp.resolve("export-dinov2.safetensors");
    Path regOut = tmp.resolve("export-dinov2reg.safetensors");
    cliOk("export-weights", v2Run.toString(), "--output", v2Out.toString(), "--backbone-only", "--naming", "hf-dinov2");
    cliOk("export-weights", regRun.toString(), "--output", regOut.toString(), "--backbone-only", "--naming", "hf-dinov2");
    Path v2Check = tmp.resolve("check-dinov2.safetensors");
    Path regCheck = tmp.resolve("check-dinov2reg.safetensors");
    runPython(python, "check", "--inputs", in, "--job", "dinov2:" + v2Out + ":" + v2Check,
        "--job", "dinov2reg:" + regOut + ":" + regCheck);
    Map<String, Weights.Tensor> p2 = read(v2Check);
    Map<String, Weights.Tensor> pr = read(regCheck);
    for (int s : SIZES) {
      check("export hf-dinov2 (Dinov2Model) -> PyTorch CLS vs dino4j", s, v2.get(s)[0], p2.get("cls_" + s));
    }
    check("export hf-dinov2 (Dinov2WithRegisters) -> PyTorch CLS", SIZES[0], reg.get(SIZES[0])[0], pr.get("cls_" + SIZES[0]));
    report.forEach(System.out::println);
  }
}
