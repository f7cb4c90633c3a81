package dev.dino4j.export;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.EvalImages;
import dev.dino4j.train.CheckpointWeights;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.types.TFloat32;

/**
 * The exported SavedModel in Python TensorFlow (a venv from scripts/python-venv.sh; the first run
 * installs it from the offline wheel mirror and takes minutes): every signature gives the Java
 * outputs on the same inputs, {@code image_bytes} on a PNG and a JPEG gives the Java pipeline's
 * embedding, the warm-up requests parse and run, {@code saved_model_cli} lists the signatures, and
 * eval_knn.py runs.
 */
@Tag("slow")
class ExportInteropTest {

  @TempDir static Path tmp;
  static Path model;
  static String python;
  static final ObjectMapper JSON = new ObjectMapper();

  @BeforeAll
  static void exportAndCreateVenv() throws Exception {
    python = run(List.of("scripts/python-venv.sh"), 1800).trim();
    Path runDir = tmp.resolve("interop-run");
    DinoConfig cfg = ExportFixtures.tiny(runDir);
    CheckpointWeights.writeRun(cfg, ExportFixtures.randomWeights(cfg, 5), false);
    SavedModelExport.Written w = SavedModelExport.export(
        new SavedModelExport.Request(runDir, tmp.resolve("savedmodels"), null, null, "teacher"));
    System.out.printf("export: %.2f s, %d bytes%n", w.seconds(), w.bytes());
    model = w.dir();
  }

  @Test
  void pythonGetsTheJavaOutputsFromEverySignature() throws Exception {
    Path work = Files.createDirectories(tmp.resolve("work"));
    try (SavedModelBundle b = SavedModelBundle.load(model.toString(), "serve")) {
      Session s = b.session();
      Map<String, SignatureDef> sigs = b.metaGraphDef().getSignatureDefMap();
      Object[][] cases = {{"a", new long[] {3, 16, 16, 3}}, {"b", new long[] {2, 24, 12, 3}}}; // native; non-square resampled
      for (Object[] c : cases) {
        long[] shape = (long[]) c[1];
        float[] images = ExportFixtures.images((int) shape[0], (int) shape[1], (int) shape[2], shape[1] * 31 + shape[2]);
        Npy.write(work.resolve("images_" + c[0] + ".npy"), images, shape);
        for (String[] so : new String[][] {{"serving_default", "embedding"}, {"patch_tokens", "patch_tokens"}, {"attention", "attention"}}) {
          try (TFloat32 in = TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(images, true, false));
              Result r = s.runner().feed(sigs.get(so[0]).getInputsMap().get("images").getName(), in)
                  .fetch(sigs.get(so[0]).getOutputsMap().get(so[1]).getName()).run()) {
            Npy.write(work.resolve("java_" + c[0] + "_" + so[1] + ".npy"), InferenceGraphTest.values(r.get(0)), r.get(0).shape().asArray());
          }
        }
      }
      // the Java pipeline on image files: ImageIO decode, PIL-faithful resize, serving_default
      BufferedImage pic = ImageBytesTest.picture(45, 37, 9, BufferedImage.TYPE_INT_RGB);
      for (String format : new String[] {"png", "jpg"}) {
        Path file = ImageBytesTest.write(pic, work.resolve("picture." + format), format);
        float[] rgb = EvalImages.load(file, 16);
        try (TFloat32 in = TFloat32.tensorOf(Shape.of(1, 16, 16, 3), DataBuffers.of(rgb, true, false));
            Result r = s.runner().feed(sigs.get("serving_default").getInputsMap().get("images").getName(), in)
                .fetch(sigs.get("serving_default").getOutputsMap().get("embedding").getName()).run()) {
          Npy.write(work.resolve("java_" + format + "_embedding.npy"), InferenceGraphTest.values(r.get(0)), 1, 16);
        }
      }
    }
    long t0 = System.nanoTime();
    String out = run(List.of(python, "src/test/resources/export/interop_check.py", model.toString(), work.toString()), 600);
    System.out.printf("python check: %.1f s%n", (System.nanoTime() - t0) / 1e9);
    JsonNode res = JSON.readTree(lastLine(out));
    System.out.println("python interop: " + res);
    assertEquals(List.of("attention", "image_bytes", "patch_tokens", "serving_default"),
        JSON.convertValue(res.get("signatures"), List.class));
    res.get("diffs").fields().forEachRemaining(e -> {
      assertTrue(e.getValue().isNumber(), e.getKey() + ": " + e.getValue());
      // image_bytes: the in-graph decode is exact and the resize differs from the Java one by < 1e-6 per pixel
      assertTrue(e.getValue().asDouble() <= 1e-5, e.getKey() + ": max abs diff " + e.getValue());
    });
    assertEquals(List.of(2, 2, 6, 3), JSON.convertValue(res.get("shapes").get("b_attention"), List.class),
        "attention [N, heads, h, w] for 24 x 12 images: a 6 x 3 grid");
    assertEquals(List.of(2, 18, 16), JSON.convertValue(res.get("shapes").get("b_patch_tokens"), List.class));
    assertEquals(4, res.get("warmup").size(), res.get("warmup").toString());
    for (JsonNode w : res.get("warmup")) {
      assertEquals("interop-run", w.get("model").asText());
    }
  }

  @Test
  void savedModelCliListsTheFourSignatures() throws Exception {
    Path cli = Path.of(python).resolveSibling("saved_model_cli");
    String out = run(List.of(cli.toString(), "show", "--all", "--dir", model.toString()), 300);
    for (String sig : new String[] {"serving_default", "image_bytes", "patch_tokens", "attention"}) {
      assertTrue(out.contains("signature_def['" + sig + "']"), out);
    }
    assertTrue(out.contains("Method name is: tensorflow/serving/predict"), out);
    assertTrue(out.contains("shape: (-1, -1, -1, 3)"), out);
  }

  @Test
  void evalKnnRunsOnALabelledFolder() throws Exception {
    // two colour classes, as files in class subfolders
    for (String split : new String[] {"train", "test"}) {
      for (int c = 0; c < 2; c++) {
        Path dir = Files.createDirectories(tmp.resolve("knn").resolve(split).resolve("class" + c));
        for (int i = 0; i < (split.equals("train") ? 8 : 4); i++) {
          BufferedImage img = ImageBytesTest.picture(20 + i, 24, 100L * c + i + (split.equals("test") ? 50 : 0), BufferedImage.TYPE_INT_RGB);
          for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
              int rgb = img.getRGB(x, y);
              img.setRGB(x, y, c == 0 ? rgb | 0xE00000 : rgb | 0x0000E0);
            }
          }
          ImageBytesTest.write(img, dir.resolve(i + (i % 2 == 0 ? ".png" : ".jpg")), i % 2 == 0 ? "png" : "jpg");
        }
      }
    }
    String out = run(List.of(python, "src/python/eval_knn.py", model.getParent().toString(),
        "--train", tmp.resolve("knn/train").toString(), "--test", tmp.resolve("knn/test").toString(),
        "--k", "1", "5", "20", "--json"), 600);
    System.out.println("eval_knn: " + out);
    JsonNode res = JSON.readTree(lastLine(out));
    assertEquals(16, res.get("n_train").asInt());
    assertEquals(8, res.get("n_test").asInt());
    assertEquals(model.toString(), res.get("model").asText(), "the model folder resolves to its highest version");
    for (String k : new String[] {"1", "5", "20"}) {
      double top1 = res.get("knn").get(k).get("top1").asDouble();
      double top5 = res.get("knn").get(k).get("top5").asDouble();
      assertTrue(top1 >= 0 && top1 <= top5 && top5 == 100.0, k + ": " + res.get("knn")); // 2 classes: top-5 always right
    }
    assertTrue(out.contains("20-NN  top-1"), out);
  }

  private static String lastLine(String out) {
    String[] lines = out.strip().split("\n");
    return lines[lines.length - 1];
  }

  /** Runs a command in the repository root; fails with its output unless it exits 0. */
  static String run(List<String> cmd, int timeoutSeconds) throws IOException, InterruptedException {
    Path log = Files.createTempFile(tmp, "cmd", ".out");
    Path err = Files.createTempFile(tmp, "cmd", ".err");
    ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(cmd)).redirectOutput(log.toFile()).redirectError(err.toFile());
    pb.environment().put("TF_CPP_MIN_LOG_LEVEL", "2");
    Process p = pb.start();
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail(cmd + " did not finish within " + timeoutSeconds + " s");
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    if (p.exitValue() != 0) {
      fail(cmd + " exited " + p.exitValue() + ":\n" + out + "\n" + Files.readString(err, StandardCharsets.UTF_8));
    }
    return out;
  }
}
