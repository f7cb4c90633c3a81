package dev.dino4j.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.config.DinoConfig;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
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
 * The ViT and DINO head graphs against a plain-Java forward pass written from the reference's
 * definition (vision_transformer.py) with the PyTorch layouts in mind: patches flattened as
 * (ky, kx, channel), qkv split as (3, heads, head_dim), attention scaled by head_dim^-1/2.
 */
class VisionTransformerTest {

  private static final int DIM = 8;
  private static final int DEPTH = 2;
  private static final int HEADS = 2;
  private static final int PATCH = 4;
  private static final int IMAGE = 8; // native grid 2 x 2
  private static final DinoConfig.Head HEAD = new DinoConfig.Head(6, 10, 5, 3, false);

  @Test
  void backboneAndHeadMatchAPlainJavaForward() {
    VisionTransformer.Dims d = new VisionTransformer.Dims(DIM, DEPTH, HEADS, 4 * DIM, PATCH, IMAGE / PATCH);
    List<ParamSpec> specs = new ArrayList<>(VisionTransformer.params(d));
    specs.addAll(DinoHead.params(HEAD, DIM));
    Random rng = new Random(3);
    Map<String, float[]> w = randomWeights(specs, rng, 0.3); // larger than the init: make every term matter
    int batch = 3;
    for (int size : new int[] {IMAGE, 12}) { // native grid, and a 3 x 3 grid through the resampling matrix
      float[] images = new float[batch * size * size * 3];
      for (int i = 0; i < images.length; i++) {
        images[i] = (float) rng.nextGaussian();
      }
      float[][] graphOut = runGraph(d, specs, w, images, batch, size);
      for (int b = 0; b < batch; b++) {
        double[] cls = javaBackbone(w, images, b, size);
        double[] logits = javaHead(w, cls);
        for (int i = 0; i < DIM; i++) {
          assertEquals(cls[i], graphOut[0][b * DIM + i], 2e-5, "size " + size + " cls[" + b + "][" + i + "]");
        }
        for (int k = 0; k < HEAD.outDim(); k++) {
          assertEquals(logits[k], graphOut[1][b * HEAD.outDim() + k], 2e-5, "size " + size + " logit[" + b + "][" + k + "]");
        }
        for (int i = 0; i < DIM; i++) { // the training step's path: the last block on the CLS row only
          assertEquals(cls[i], graphOut[2][b * DIM + i], 2e-5, "size " + size + " clsFeature[" + b + "][" + i + "]");
        }
      }
    }
  }

  /**
   * The conv stem ({@code model.stem: conv}; 4 px patches = two stride-2 3x3 convolutions, 2 and 4
   * wide, then 1x1 to D) against a plain-Java direct convolution, through the whole backbone, at
   * the native grid and at a resampled one, with TF's ops and with the fused GELU kernel.
   */
  @Test
  void convStemBackboneMatchesAPlainJavaConvolution() {
    VisionTransformer.Dims d = new VisionTransformer.Dims(DIM, DEPTH, HEADS, 4 * DIM, PATCH, IMAGE / PATCH, 0, 0, 0, true);
    assertArrayEquals(new int[] {2, 4}, d.stemWidths());
    List<ParamSpec> specs = VisionTransformer.params(d);
    Random rng = new Random(8);
    Map<String, float[]> w = randomWeights(specs, rng, 0.5);
    int batch = 2;
    List<VisionTransformer.Kernels> variants = new ArrayList<>(List.of(VisionTransformer.Kernels.STOCK));
    if (FusedKernels.available()) {
      variants.add(VisionTransformer.Kernels.FUSED);
    }
    for (int size : new int[] {IMAGE, 12}) {
      float[] images = new float[batch * size * size * 3];
      for (int i = 0; i < images.length; i++) {
        images[i] = (float) rng.nextGaussian();
      }
      for (VisionTransformer.Kernels kernels : variants) {
        float[] cls;
        try (Graph g = new Graph()) {
          Ops tf = Ops.create(g);
          Params p = Params.create(tf, "net", specs);
          Operand<TFloat32> x = tf.constant(Shape.of(batch, size, size, 3), DataBuffers.of(images, true, false));
          Operand<TFloat32> out = VisionTransformer.forward(tf, p, d, x, size, null, kernels).cls();
          try (Session s = new Session(g)) {
            assign(s, tf, p, w);
            try (Result r = s.runner().fetch(out).run()) {
              cls = toArray((TFloat32) r.get(0));
            }
          }
        }
        for (int b = 0; b < batch; b++) {
          double[] expected = javaBackbone(w, images, b, size, true);
          for (int i = 0; i < DIM; i++) {
            assertEquals(expected[i], cls[b * DIM + i], 2e-5, kernels + " size " + size + " cls[" + b + "][" + i + "]");
          }
        }
      }
    }
  }

  /**
   * The training step's CLS-only last block has the full forward's value and gradient for every
   * parameter, with stochastic depth on (the same masks), with TF's ops and with the fused kernels.
   */
  @org.junit.jupiter.params.ParameterizedTest(name = "registers {0}, LayerScale {1}")
  @org.junit.jupiter.params.provider.CsvSource({"0, 0", "2, 0.5"})
  void clsFeatureHasTheFullForwardsValueAndGradients(int registers, double layerScale) {
    // also with DINOv2's registers (keys and values of the CLS-only block include them) and
    // LayerScale (folded into attn.proj and fc2); all weights are random below, the gammas too
    VisionTransformer.Dims d =
        new VisionTransformer.Dims(DIM, 3, HEADS, 4 * DIM, PATCH, IMAGE / PATCH, 0, registers, layerScale);
    List<ParamSpec> specs = VisionTransformer.params(d);
    assertEquals(registers > 0, specs.stream().anyMatch(q -> q.name().equals("register_tokens")));
    assertEquals(layerScale > 0, specs.stream().anyMatch(q -> q.name().endsWith("ls2.gamma")));
    Random rng = new Random(5);
    int batch = 4;
    int size = 12; // 3 x 3 patches, resampled position embedding
    float[] images = new float[batch * size * size * 3];
    for (int i = 0; i < images.length; i++) {
      images[i] = (float) rng.nextGaussian();
    }
    float[] probe = new float[batch * DIM]; // the loss: sum(cls * probe)
    for (int i = 0; i < probe.length; i++) {
      probe[i] = (float) rng.nextGaussian();
    }
    List<VisionTransformer.Kernels> variants = new ArrayList<>(List.of(VisionTransformer.Kernels.STOCK));
    if (FusedKernels.available()) {
      variants.add(VisionTransformer.Kernels.FUSED);
      variants.add(VisionTransformer.Kernels.FUSED_BF16);
    }
    for (VisionTransformer.Kernels kernels : variants) {
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        Params p = Params.create(tf, "net", specs);
        Operand<TFloat32> x =
            tf.constant(Shape.of(batch, size, size, 3), DataBuffers.of(images, true, false));
        Operand<org.tensorflow.types.TInt64> seed = tf.constant(new long[] {7, 11});
        double[] rates = {0.3, 0.5, 0.6}; // high, so that some samples drop each branch
        Operand<TFloat32> full =
            VisionTransformer.forward(tf, p, d, x, size, new VisionTransformer.DropPath(rates, seed, 0), kernels).cls();
        Operand<TFloat32> fast =
            VisionTransformer.clsFeature(tf, p, d, x, size, new VisionTransformer.DropPath(rates, seed, 0), kernels);
        Operand<TFloat32> r = tf.constant(Shape.of(batch, DIM), DataBuffers.of(probe, true, false));
        List<Operand<?>> vars = new ArrayList<>();
        for (Params.Param q : p.all()) {
          vars.add(q.variable());
        }
        var gFull = tf.gradients(tf.sum(tf.math.mul(full, r), tf.constant(new int[] {0, 1})), vars);
        var gFast = tf.gradients(tf.sum(tf.math.mul(fast, r), tf.constant(new int[] {0, 1})), vars);
        try (Session s = new Session(g)) {
          randomWeights(s, tf, p, rng);
          Session.Runner run = s.runner().fetch(full).fetch(fast);
          for (int i = 0; i < vars.size(); i++) {
            run.fetch(gFull.dy(i)).fetch(gFast.dy(i));
          }
          try (Result res = run.run()) {
            assertClose(toArray((TFloat32) res.get(0)), toArray((TFloat32) res.get(1)), kernels + " cls");
            for (int i = 0; i < vars.size(); i++) {
              float[] a = toArray((TFloat32) res.get(2 + 2 * i));
              float[] b = toArray((TFloat32) res.get(3 + 2 * i));
              assertClose(a, b, kernels + " d/d " + p.all().get(i).spec().name());
            }
          }
        }
      }
    }
  }

  /**
   * iBOT's forward, with the last block in full for the masked views only, has the full masked
   * forward's CLS features, those views' final tokens and every gradient, with stochastic depth on:
   * the sub-batch draws the same drop-path masks as the full pass.
   */
  @Test
  void ibotForwardOfTheMaskedViewsHasTheFullForwardsValuesAndGradients() {
    VisionTransformer.Dims d = new VisionTransformer.Dims(DIM, 3, HEADS, 4 * DIM, PATCH, IMAGE / PATCH, 0, 0, 0);
    List<ParamSpec> specs = new ArrayList<>(VisionTransformer.params(d));
    specs.add(VisionTransformer.maskTokenSpec(d));
    Random rng = new Random(9);
    int batch = 5;
    int size = 12; // 3 x 3 patches
    int n = 9;
    int[] views = {1, 3, 4}; // the views with masked patches
    float[] images = new float[batch * size * size * 3];
    for (int i = 0; i < images.length; i++) {
      images[i] = (float) rng.nextGaussian();
    }
    float[] masks = new float[batch * n];
    for (int v : views) {
      for (int j = 0; j < n; j++) {
        masks[v * n + j] = rng.nextBoolean() ? 1 : 0;
      }
    }
    float[] probeCls = new float[batch * DIM];
    float[] probeTokens = new float[views.length * (n + 1) * DIM];
    for (float[] a : List.of(probeCls, probeTokens)) {
      for (int i = 0; i < a.length; i++) {
        a[i] = (float) rng.nextGaussian();
      }
    }
    List<VisionTransformer.Kernels> variants = new ArrayList<>(List.of(VisionTransformer.Kernels.STOCK));
    if (FusedKernels.available()) {
      variants.add(VisionTransformer.Kernels.FUSED);
    }
    for (VisionTransformer.Kernels kernels : variants) {
      try (Graph g = new Graph()) {
        Ops tf = Ops.create(g);
        Params p = Params.create(tf, "net", specs);
        Operand<TFloat32> x = tf.constant(Shape.of(batch, size, size, 3), DataBuffers.of(images, true, false));
        Operand<TFloat32> m = tf.constant(Shape.of(batch, n), DataBuffers.of(masks, true, false));
        Operand<org.tensorflow.types.TInt32> sel = tf.constant(views);
        Operand<org.tensorflow.types.TInt64> seed = tf.constant(new long[] {7, 11});
        double[] rates = {0.3, 0.5, 0.6}; // high, so that some samples drop each branch
        VisionTransformer.Output full = VisionTransformer.maskedForward(tf, p, d, x, size,
            new VisionTransformer.DropPath(rates, seed, 0), kernels, m, null);
        VisionTransformer.Output fast = VisionTransformer.maskedForward(tf, p, d, x, size,
            new VisionTransformer.DropPath(rates, seed, 0), kernels, m, sel);
        Operand<TFloat32> fullTokens = tf.gather(full.tokens(), sel, tf.constant(0)); // [3, T, D]
        Operand<TFloat32> rc = tf.constant(Shape.of(batch, DIM), DataBuffers.of(probeCls, true, false));
        Operand<TFloat32> rt = tf.constant(Shape.of(views.length, n + 1, DIM), DataBuffers.of(probeTokens, true, false));
        List<Operand<?>> vars = new ArrayList<>();
        for (Params.Param q : p.all()) {
          vars.add(q.variable());
        }
        var gFull = tf.gradients(tf.math.add(tf.sum(tf.math.mul(full.cls(), rc), tf.constant(new int[] {0, 1})),
            tf.sum(tf.math.mul(fullTokens, rt), tf.constant(new int[] {0, 1, 2}))), vars);
        var gFast = tf.gradients(tf.math.add(tf.sum(tf.math.mul(fast.cls(), rc), tf.constant(new int[] {0, 1})),
            tf.sum(tf.math.mul(fast.tokens(), rt), tf.constant(new int[] {0, 1, 2}))), vars);
        try (Session s = new Session(g)) {
          randomWeights(s, tf, p, rng);
          Session.Runner run = s.runner().fetch(full.cls()).fetch(fast.cls()).fetch(fullTokens).fetch(fast.tokens());
          for (int i = 0; i < vars.size(); i++) {
            run.fetch(gFull.dy(i)).fetch(gFast.dy(i));
          }
          try (Result res = run.run()) {
            assertClose(toArray((TFloat32) res.get(0)), toArray((TFloat32) res.get(1)), kernels + " cls");
            assertClose(toArray((TFloat32) res.get(2)), toArray((TFloat32) res.get(3)), kernels + " tokens");
            for (int i = 0; i < vars.size(); i++) {
              assertClose(toArray((TFloat32) res.get(4 + 2 * i)), toArray((TFloat32) res.get(5 + 2 * i)),
                  kernels + " d/d " + p.all().get(i).spec().name());
            }
          }
        }
      }
    }
  }

  /** Every weight random (norm gains around 1), so that no gradient is trivially zero. */
  private static void randomWeights(Session s, Ops tf, Params p, Random rng) {
    for (Params.Param q : p.all()) {
      float[] v = new float[q.spec().size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (rng.nextGaussian() * 0.3 + (q.spec().name().contains("norm") && q.spec().name().endsWith("weight") ? 1 : 0));
      }
      s.runner().addTarget(tf.assign(q.variable(), tf.constant(Shape.of(q.spec().shape()),
          DataBuffers.of(v, true, false)))).run().close();
    }
  }

  /** Equal to float rounding: 1e-5 of the larger magnitude of either array, and not all zero. */
  private static void assertClose(float[] expected, float[] actual, String what) {
    assertEquals(expected.length, actual.length, what);
    double scale = 0;
    for (int i = 0; i < expected.length; i++) {
      scale = Math.max(scale, Math.max(Math.abs(expected[i]), Math.abs(actual[i])));
    }
    assertTrue(scale > 0, what + ": all zero");
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], 1e-5 * scale, what + "[" + i + "]");
    }
  }

  /**
   * The forward in a bf16 session (the training step's Grappler rewrite) against fp32, at the
   * tiny recipe's shapes: every token after the first and the last block within bf16 rounding of fp32. It failed where TF's
   * oneDNN bf16 Conv2D miscomputed on an AMD EPYC (half the patch tokens off, some runs inf), the
   * patch embedding's old op; the matmul that replaced it is right there.
   */
  @Test
  void bf16SessionForwardMatchesFp32() {
    org.junit.jupiter.api.Assumptions.assumeTrue(dev.dino4j.train.SessionOptions.bf16Supported(), "no bf16 CPU");
    int dim = 64;
    int size = 28;
    int batch = 16;
    VisionTransformer.Dims d = new VisionTransformer.Dims(dim, 2, 2, 4 * dim, PATCH, size / PATCH);
    List<ParamSpec> specs = VisionTransformer.params(d);
    Random rng = new Random(5);
    Map<String, float[]> w = randomWeights(specs, rng, 0.1);
    float[] images = new float[batch * size * size * 3];
    for (int i = 0; i < images.length; i++) {
      images[i] = (float) rng.nextGaussian();
    }
    float[][] ref = runTokens(d, specs, w, images, batch, size, "fp32");
    for (int run = 0; run < 3; run++) { // the miscompute varied from run to run
      float[][] got = runTokens(d, specs, w, images, batch, size, "bf16");
      for (int k = 0; k < ref.length; k++) {
        double scale = 0;
        for (float v : ref[k]) {
          scale = Math.max(scale, Math.abs(v));
        }
        int bad = 0;
        int first = -1;
        for (int i = 0; i < ref[k].length; i++) {
          // the inputs and weights are rounded to bf16 (2^-9) before each matmul of two blocks
          if (!(Math.abs(got[k][i] - ref[k][i]) <= 0.03 * scale)) {
            bad++;
            first = first < 0 ? i : first;
          }
        }
        assertEquals(0, bad, (k == 0 ? "block 0's output" : "the final tokens") + ": " + bad
            + " of " + ref[k].length + " off by more than 3% of the largest, first at " + Math.max(first, 0) + ": fp32 "
            + ref[k][Math.max(first, 0)] + ", bf16 " + got[k][Math.max(first, 0)]);
      }
    }
  }

  /** The outputs of the first block (the closest to the patch embedding the forward exposes) and the last. */
  private static float[][] runTokens(VisionTransformer.Dims d, List<ParamSpec> specs, Map<String, float[]> w,
      float[] images, int batch, int size, String precision) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Params p = Params.create(tf, "net", specs);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, size, size, 3)));
      VisionTransformer.Output out = VisionTransformer.forward(tf, p, d, x, size, null);
      // fetched through an add, so that the rewrite may turn the fetched ops themselves into bf16
      List<Operand<TFloat32>> fetches = List.of(out.blockOutputs().get(0), out.tokens());
      try (Session s = new Session(g, dev.dino4j.train.SessionOptions.of(1, precision))) {
        assign(s, tf, p, w);
        Session.Runner r = s.runner();
        for (Operand<TFloat32> f : fetches) {
          r.fetch(tf.math.add(f, tf.zerosLike(f)));
        }
        try (TFloat32 in = TFloat32.tensorOf(Shape.of(batch, size, size, 3), DataBuffers.of(images, true, false));
            Result res = r.feed(x, in).run()) {
          return new float[][] {toArray((TFloat32) res.get(0)), toArray((TFloat32) res.get(1))};
        }
      }
    }
  }

  private static float[][] runGraph(VisionTransformer.Dims d, List<ParamSpec> specs, Map<String, float[]> w,
      float[] images, int batch, int size) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Params p = Params.create(tf, "net", specs);
      Placeholder<TFloat32> x = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, size, size, 3)));
      VisionTransformer.Output out = VisionTransformer.forward(tf, p, d, x, size, null);
      Operand<TFloat32> logits = DinoHead.forward(tf, p, HEAD, out.cls());
      Operand<TFloat32> clsOnly = VisionTransformer.clsFeature(tf, p, d, x, size, null, VisionTransformer.Kernels.STOCK);
      try (Session s = new Session(g)) {
        assign(s, tf, p, w);
        try (TFloat32 in = TFloat32.tensorOf(Shape.of(batch, size, size, 3), DataBuffers.of(images, true, false));
            Result r = s.runner().feed(x, in).fetch(out.cls()).fetch(logits).fetch(clsOnly).run()) {
          return new float[][] {toArray((TFloat32) r.get(0)), toArray((TFloat32) r.get(1)), toArray((TFloat32) r.get(2))};
        }
      }
    }
  }

  /** Gaussian weights of standard deviation {@code sd}, LayerNorm gains around 1, drawn in {@code specs} order. */
  private static Map<String, float[]> randomWeights(List<ParamSpec> specs, Random rng, double sd) {
    Map<String, float[]> w = new HashMap<>();
    for (ParamSpec s : specs) {
      float[] v = new float[s.size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (rng.nextGaussian() * sd);
      }
      if (s.name().endsWith("norm1.weight") || s.name().endsWith("norm2.weight") || s.name().equals("norm.weight")) {
        for (int i = 0; i < v.length; i++) {
          v[i] += 1;
        }
      }
      w.put(s.name(), v);
    }
    return w;
  }

  private static void assign(Session s, Ops tf, Params p, Map<String, float[]> w) {
    for (Params.Param q : p.all()) {
      s.runner().addTarget(tf.assign(q.variable(), tf.constant(Shape.of(q.spec().shape()),
          DataBuffers.of(w.get(q.spec().name()), true, false)))).run().close();
    }
  }

  // ---- plain-Java reference (double precision) ----

  private static double[] javaBackbone(Map<String, float[]> w, float[] images, int b, int size) {
    return javaBackbone(w, images, b, size, false);
  }

  private static double[] javaBackbone(Map<String, float[]> w, float[] images, int b, int size, boolean convStem) {
    int grid = size / PATCH;
    int n = grid * grid + 1;
    double[][] x = new double[n][DIM];
    if (convStem) {
      double[][] tokens = javaConvStem(w, images, b, size);
      System.arraycopy(tokens, 0, x, 1, grid * grid);
    } else {
      patchProjection(w, images, b, size, x);
    }
    return javaBlocks(w, x, grid);
  }

  /**
   * The conv stem by direct convolution: per stage out[y][x][o] = GELU(bias[o] + sum over ky, kx, c of
   * in[2y - 1 + ky][2x - 1 + kx][c] * filter[ky][kx][c][o]), zero outside the map; then the 1x1 projection.
   */
  private static double[][] javaConvStem(Map<String, float[]> w, float[] images, int b, int size) {
    int side = size;
    int in = 3;
    double[][][] map = new double[side][side][in];
    for (int y = 0; y < side; y++) {
      for (int x = 0; x < side; x++) {
        for (int c = 0; c < in; c++) {
          map[y][x][c] = images[((b * size + y) * size + x) * 3 + c];
        }
      }
    }
    for (int j = 0; w.containsKey("patch_embed.stem." + j + ".weight"); j++) {
      float[] f = w.get("patch_embed.stem." + j + ".weight"); // [3, 3, in, out]
      float[] bias = w.get("patch_embed.stem." + j + ".bias");
      int out = bias.length;
      int half = side / 2;
      double[][][] next = new double[half][half][out];
      for (int y = 0; y < half; y++) {
        for (int x = 0; x < half; x++) {
          for (int o = 0; o < out; o++) {
            double sum = bias[o];
            for (int ky = 0; ky < 3; ky++) {
              for (int kx = 0; kx < 3; kx++) {
                int iy = 2 * y - 1 + ky;
                int ix = 2 * x - 1 + kx;
                if (iy < 0 || ix < 0 || iy >= side || ix >= side) {
                  continue;
                }
                for (int c = 0; c < in; c++) {
                  sum += map[iy][ix][c] * f[((ky * 3 + kx) * in + c) * out + o];
                }
              }
            }
            next[y][x][o] = gelu(sum);
          }
        }
      }
      map = next;
      side = half;
      in = out;
    }
    double[][] rows = new double[side * side][];
    for (int y = 0; y < side; y++) {
      for (int x = 0; x < side; x++) {
        rows[y * side + x] = map[y][x];
      }
    }
    return linear(rows, w.get("patch_embed.proj.weight"), w.get("patch_embed.proj.bias"), DIM); // the 1x1 filter [1, 1, in, D]
  }

  private static void patchProjection(Map<String, float[]> w, float[] images, int b, int size, double[][] x) {
    int grid = size / PATCH;
    float[] conv = w.get("patch_embed.proj.weight"); // [kh, kw, c, D]
    float[] convB = w.get("patch_embed.proj.bias");
    for (int py = 0; py < grid; py++) {
      for (int px = 0; px < grid; px++) {
        double[] t = x[1 + py * grid + px];
        for (int o = 0; o < DIM; o++) {
          double s = convB[o];
          for (int ky = 0; ky < PATCH; ky++) {
            for (int kx = 0; kx < PATCH; kx++) {
              for (int c = 0; c < 3; c++) {
                double pixel = images[((b * size + py * PATCH + ky) * size + px * PATCH + kx) * 3 + c];
                s += pixel * conv[((ky * PATCH + kx) * 3 + c) * DIM + o];
              }
            }
          }
          t[o] = s;
        }
      }
    }
  }

  /** CLS token, position embedding, the blocks and the final norm's CLS row, on x [1 + N, D] with the patches in rows 1.. */
  private static double[] javaBlocks(Map<String, float[]> w, double[][] x, int grid) {
    int n = grid * grid + 1;
    float[] cls = w.get("cls_token");
    for (int o = 0; o < DIM; o++) {
      x[0][o] = cls[o];
    }
    double[][] pos = positions(w.get("pos_embed"), grid);
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < DIM; o++) {
        x[i][o] += pos[i][o];
      }
    }
    for (int blk = 0; blk < DEPTH; blk++) {
      String p = "blocks." + blk + ".";
      double[][] h = layerNorm(x, w.get(p + "norm1.weight"), w.get(p + "norm1.bias"));
      double[][] qkv = linear(h, w.get(p + "attn.qkv.weight"), w.get(p + "attn.qkv.bias"), 3 * DIM);
      int hd = DIM / HEADS;
      double[][] att = new double[n][DIM];
      for (int head = 0; head < HEADS; head++) {
        for (int i = 0; i < n; i++) {
          double[] scores = new double[n];
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j < n; j++) {
            double s = 0;
            for (int e = 0; e < hd; e++) {
              s += qkv[i][head * hd + e] * qkv[j][DIM + head * hd + e];
            }
            scores[j] = s / Math.sqrt(hd);
            max = Math.max(max, scores[j]);
          }
          double sum = 0;
          for (int j = 0; j < n; j++) {
            scores[j] = Math.exp(scores[j] - max);
            sum += scores[j];
          }
          for (int j = 0; j < n; j++) {
            for (int e = 0; e < hd; e++) {
              att[i][head * hd + e] += scores[j] / sum * qkv[j][2 * DIM + head * hd + e];
            }
          }
        }
      }
      double[][] proj = linear(att, w.get(p + "attn.proj.weight"), w.get(p + "attn.proj.bias"), DIM);
      add(x, proj);
      h = layerNorm(x, w.get(p + "norm2.weight"), w.get(p + "norm2.bias"));
      h = linear(h, w.get(p + "mlp.fc1.weight"), w.get(p + "mlp.fc1.bias"), 4 * DIM);
      for (double[] row : h) {
        for (int i = 0; i < row.length; i++) {
          row[i] = gelu(row[i]);
        }
      }
      add(x, linear(h, w.get(p + "mlp.fc2.weight"), w.get(p + "mlp.fc2.bias"), DIM));
    }
    return layerNorm(x, w.get("norm.weight"), w.get("norm.bias"))[0];
  }

  /** pos_embed rows for a grid: as stored, or bicubic-resampled (separably, row then column). */
  private static double[][] positions(float[] pe, int grid) {
    int g0 = IMAGE / PATCH;
    double[][] out = new double[grid * grid + 1][DIM];
    for (int o = 0; o < DIM; o++) {
      out[0][o] = pe[o];
    }
    double[][] wy = PosEmbed.bicubicWeights(g0, grid);
    for (int oy = 0; oy < grid; oy++) {
      for (int ox = 0; ox < grid; ox++) {
        for (int iy = 0; iy < g0; iy++) {
          for (int ix = 0; ix < g0; ix++) {
            for (int o = 0; o < DIM; o++) {
              out[1 + oy * grid + ox][o] += wy[oy][iy] * wy[ox][ix] * pe[(1 + iy * g0 + ix) * DIM + o];
            }
          }
        }
      }
    }
    return out;
  }

  private static double[] javaHead(Map<String, float[]> w, double[] cls) {
    double[][] h = {cls};
    h = linear(h, w.get("head.mlp.0.weight"), w.get("head.mlp.0.bias"), HEAD.hiddenDim());
    h[0] = gelu(h[0]);
    h = linear(h, w.get("head.mlp.2.weight"), w.get("head.mlp.2.bias"), HEAD.hiddenDim());
    h[0] = gelu(h[0]);
    h = linear(h, w.get("head.mlp.4.weight"), w.get("head.mlp.4.bias"), HEAD.bottleneckDim());
    double norm = 0;
    for (double v : h[0]) {
      norm += v * v;
    }
    norm = Math.max(Math.sqrt(norm), 1e-12);
    float[] v = w.get("head.last_layer.weight_v"); // [bottleneck, K]
    float[] gain = w.get("head.last_layer.weight_g"); // [1, K]
    int k = HEAD.outDim();
    int bn = HEAD.bottleneckDim();
    double[] out = new double[k];
    for (int j = 0; j < k; j++) {
      double vn = 0;
      double dot = 0;
      for (int i = 0; i < bn; i++) {
        vn += (double) v[i * k + j] * v[i * k + j];
        dot += h[0][i] / norm * v[i * k + j];
      }
      out[j] = gain[j] * dot / Math.sqrt(vn);
    }
    return out;
  }

  private static double[][] linear(double[][] x, float[] w, float[] b, int out) {
    int in = x[0].length;
    double[][] y = new double[x.length][out];
    for (int r = 0; r < x.length; r++) {
      for (int o = 0; o < out; o++) {
        double s = b[o];
        for (int i = 0; i < in; i++) {
          s += x[r][i] * w[i * out + o];
        }
        y[r][o] = s;
      }
    }
    return y;
  }

  private static double[][] layerNorm(double[][] x, float[] g, float[] b) {
    double[][] y = new double[x.length][];
    for (int r = 0; r < x.length; r++) {
      double mean = 0;
      for (double v : x[r]) {
        mean += v;
      }
      mean /= x[r].length;
      double var = 0;
      for (double v : x[r]) {
        var += (v - mean) * (v - mean);
      }
      var /= x[r].length;
      y[r] = new double[x[r].length];
      for (int i = 0; i < x[r].length; i++) {
        y[r][i] = (x[r][i] - mean) / Math.sqrt(var + 1e-6) * g[i] + b[i];
      }
    }
    return y;
  }

  private static double gelu(double x) {
    return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
  }

  private static double[] gelu(double[] x) {
    double[] y = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      y[i] = gelu(x[i]);
    }
    return y;
  }

  /** erf by its Taylor series (|x| small) or continued fraction; accurate to ~1e-12 here. */
  private static double erf(double x) {
    double ax = Math.abs(x);
    double r;
    if (ax < 3) {
      double term = ax;
      double sum = ax;
      for (int n = 1; n < 200; n++) {
        term *= -ax * ax / n;
        sum += term / (2 * n + 1);
      }
      r = 2 / Math.sqrt(Math.PI) * sum;
    } else {
      // erfc continued fraction (Lentz)
      double f = ax;
      for (int k = 60; k >= 1; k--) {
        f = ax + (k / 2.0) / f;
      }
      r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
    }
    return Math.copySign(r, x);
  }

  private static void add(double[][] x, double[][] y) {
    for (int r = 0; r < x.length; r++) {
      for (int i = 0; i < x[r].length; i++) {
        x[r][i] += y[r][i];
      }
    }
  }

  private static float[] toArray(TFloat32 t) {
    float[] out = new float[Math.toIntExact(t.shape().size())];
    t.copyTo(DataBuffers.of(out, false, false));
    return out;
  }
}
