package dev.dino4j.export;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.PosEmbed;
import dev.dino4j.model.VisionTransformer;
import dev.dino4j.model.Weights;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/** The export graph against the training graph's forward and the Java position-embedding matrix. */
class InferenceGraphTest {

  @Test
  void inGraphPositionMatrixEqualsTheJavaMatrix() {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Placeholder<TInt32> oh = tf.placeholder(TInt32.class);
      Placeholder<TInt32> ow = tf.placeholder(TInt32.class);
      int[][] cases = {{2, 2}, {4, 4}, {4, 3}, {7, 5}, {14, 14}};
      for (double offset : new double[] {0, 0.1}) { // model.interpolate_offset: size arithmetic, official DINO
      for (int[] in : cases) {
        Operand<TFloat32> m = PosEmbed.gridMatrix(tf, in[0], in[1], oh, ow, offset);
        for (int[] out : new int[][] {{in[0], in[1]}, {1, 1}, {3, 5}, {8, 8}, {5, 2}, {16, 13}}) {
          float[] expected = PosEmbed.gridMatrix(in[0], in[1], out[0], out[1], offset);
          try (TInt32 a = TInt32.scalarOf(out[0]); TInt32 b = TInt32.scalarOf(out[1]);
              Result r = s.runner().feed(oh, a).feed(ow, b).fetch(m).run()) {
            TFloat32 t = (TFloat32) r.get(0);
            assertEquals(Shape.of((long) out[0] * out[1], (long) in[0] * in[1]), t.shape());
            float[] got = new float[expected.length];
            t.copyTo(DataBuffers.of(got, false, false));
            // exactly the same float64 arithmetic, one cast to float32
            assertArrayEquals(expected, got, 0f,
                java.util.Arrays.toString(in) + " -> " + java.util.Arrays.toString(out) + ", offset " + offset);
          }
        }
      }
      }
    }
  }

  @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
  @org.junit.jupiter.params.provider.ValueSource(strings = {"DINO", "DINOv2: 2 registers, LayerScale, offset 0.1", "conv stem"})
  void exportForwardEqualsTheTrainingForwardAtSeveralSizes(String model, @TempDir Path tmp) {
    // with registers, the signatures' patch tokens and attention must leave out CLS and the registers
    DinoConfig cfg = model.equals("DINO") ? ExportFixtures.tiny(tmp)
        : model.equals("conv stem") ? ExportFixtures.tiny(tmp, "model.stem=conv") // its im2col with the run-time sizes
        : ExportFixtures.tiny(tmp, "model.registers=2", "model.layerscale_init=0.5", "model.interpolate_offset=0.1");
    Weights w = ExportFixtures.backbone(cfg, ExportFixtures.randomWeights(cfg, 7));
    try (Graph g = new Graph()) {
      InferenceGraph ig = new InferenceGraph(g, cfg, "teacher");
      Ops tf = Ops.create(g).withSubScope("reference");
      VisionTransformer.Dims d = ig.dims();
      float[] mean = cfg.data().mean();
      float[] std = cfg.data().std();
      int[] sizes = {16, 8, 24, 32}; // native 4 x 4 grid, then resampled ones
      // the whole graph first: ops added after a session has run crashed TF's shape inference
      java.util.Map<Integer, Placeholder<TFloat32>> feeds = new java.util.HashMap<>();
      java.util.Map<Integer, VisionTransformer.Output> refs = new java.util.HashMap<>();
      for (int size : sizes) {
        Ops ts = tf.withSubScope("size" + size);
        Placeholder<TFloat32> x = ts.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, size, size, 3)));
        feeds.put(size, x);
        refs.put(size, VisionTransformer.forward(ts, ig.params(), d, x, size, null));
      }
      try (Session s = new Session(g)) {
        ig.load(s, w);
        for (int size : sizes) {
          int n = 3;
          float[] raw = ExportFixtures.images(n, size, size, size);
          float[] norm = raw.clone();
          for (int i = 0; i < norm.length; i++) {
            norm[i] = (norm[i] - mean[i % 3]) * (1f / std[i % 3]);
          }
          Placeholder<TFloat32> x = feeds.get(size);
          VisionTransformer.Output ref = refs.get(size);
          int grid = size / d.patch();
          Signature sd = ig.signature(InferenceGraph.SERVING_DEFAULT);
          try (TFloat32 in = tensor(raw, n, size, size, 3); TFloat32 inNorm = tensor(norm, n, size, size, 3);
              Result exp = s.runner().feed(x, inNorm).fetch(ref.cls()).fetch(ref.tokens()).fetch(ref.lastAttention()).run();
              Result got = s.runner()
                  .feed(sd.getInputs().get("images").name, in)
                  .fetch(ig.signature(InferenceGraph.SERVING_DEFAULT).getOutputs().get("embedding").name)
                  .fetch(ig.signature(InferenceGraph.PATCH_TOKENS).getOutputs().get("patch_tokens").name)
                  .fetch(ig.signature(InferenceGraph.ATTENTION).getOutputs().get("attention").name)
                  .run()) {
            float[] cls = values(exp.get(0));
            float[] tokens = values(exp.get(1));
            float[] attn = values(exp.get(2));
            assertEquals(Shape.of(n, d.embedDim()), ((TFloat32) got.get(0)).shape());
            assertMaxDiff(cls, values(got.get(0)), 1e-5, "embedding at " + size);
            int pre = d.prefixTokens(); // CLS + registers
            int t = grid * grid + pre;
            int np = grid * grid;
            assertEquals(Shape.of(n, np, d.embedDim()), ((TFloat32) got.get(1)).shape());
            float[] patches = new float[n * np * d.embedDim()];
            for (int b = 0; b < n; b++) {
              System.arraycopy(tokens, (b * t + pre) * d.embedDim(), patches, b * np * d.embedDim(), np * d.embedDim());
            }
            assertMaxDiff(patches, values(got.get(1)), 1e-5, "patch tokens at " + size);
            assertEquals(Shape.of(n, d.heads(), grid, grid), ((TFloat32) got.get(2)).shape());
            float[] clsAttn = new float[n * d.heads() * np];
            for (int bh = 0; bh < n * d.heads(); bh++) {
              System.arraycopy(attn, bh * t * t + pre, clsAttn, bh * np, np);
            }
            assertMaxDiff(clsAttn, values(got.get(2)), 1e-6, "attention at " + size);
          }
        }
      }
    }
  }

  @Test
  void nonSquareImagesWorkAndSizesThatAreNoPatchMultipleAreRefused(@TempDir Path tmp) {
    DinoConfig cfg = ExportFixtures.tiny(tmp);
    Weights w = ExportFixtures.backbone(cfg, ExportFixtures.randomWeights(cfg, 3));
    try (Graph g = new Graph()) {
      InferenceGraph ig = new InferenceGraph(g, cfg, "teacher");
      try (Session s = new Session(g)) {
        ig.load(s, w);
        try (TFloat32 in = tensor(ExportFixtures.images(2, 20, 8, 1), 2, 20, 8, 3);
            Result r = s.runner().feed("images", in).fetch("embedding").fetch("attention").run()) {
          assertEquals(Shape.of(2, 16), r.get(0).shape());
          assertEquals(Shape.of(2, 2, 5, 2), r.get(1).shape(), "[N, heads, h, w] for a 5 x 2 grid");
          for (float v : values(r.get(0))) {
            assertTrue(Float.isFinite(v));
          }
        }
        try (TFloat32 in = tensor(ExportFixtures.images(1, 18, 16, 1), 1, 18, 16, 3)) {
          Exception e = assertThrows(Exception.class, () -> s.runner().feed("images", in).fetch("embedding").run().close());
          assertTrue(e.getMessage().contains("multiples of the patch size 4") && e.getMessage().contains("18"), e.getMessage());
        }
        try (TFloat32 in = tensor(ExportFixtures.images(1, 16, 16, 1), 16, 16, 3)) {
          // rank 3: refused with an error instead of aborting the process inside Conv2D
          Exception e = assertThrows(Exception.class, () -> s.runner().feed("images", in).fetch("embedding").run().close());
          assertTrue(e.getMessage().contains("shape"), e.getMessage());
        }
      }
    }
  }

  private static TFloat32 tensor(float[] v, long... shape) {
    return TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(v, true, false));
  }

  static float[] values(org.tensorflow.Tensor t) {
    TFloat32 f = (TFloat32) t;
    float[] v = new float[(int) f.shape().size()];
    f.copyTo(DataBuffers.of(v, false, false));
    return v;
  }

  static void assertMaxDiff(float[] expected, float[] got, double tol, String what) {
    assertEquals(expected.length, got.length, what);
    double max = 0;
    for (int i = 0; i < got.length; i++) {
      max = Math.max(max, Math.abs(expected[i] - got[i]));
    }
    assertTrue(max <= tol, what + ": max abs diff " + max + " > " + tol);
  }
}
