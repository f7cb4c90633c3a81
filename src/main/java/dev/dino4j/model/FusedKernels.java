package dev.dino4j.model;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.tensorflow.GraphOperation;
import org.tensorflow.Operand;
import org.tensorflow.Operation;
import org.tensorflow.Output;
import org.tensorflow.TensorFlow;
import org.tensorflow.op.Ops;
import org.tensorflow.types.TFloat32;

/**
 * dino4j's fused CPU kernels ({@code src/main/native/dino4j_kernels.cc}, built by {@code make
 * build} into {@code target/native/libdino4j_kernels.so}): LayerNorm without its affine part,
 * bias + exact GELU, bias + drop-path scale + residual add, and the qkv bias + head layout, each
 * with its gradient op; the attention softmax's gradient; oneDNN batched matmuls for attention,
 * forward and backward; and AdamW's per-tensor clip and update and the teacher's EMA. TF computes each of these as several
 * elementwise or layout ops, each a pass over the activations or weights; the fused ones make one.
 *
 * <p>The training graph uses them (train.kernels); the export and feature graphs never do, so a
 * SavedModel needs nothing but stock TensorFlow. Gradients are registered with TF Java's
 * custom-gradient hook when the library loads.
 */
public final class FusedKernels {

  private static final Logger LOG = LogManager.getLogger(FusedKernels.class);

  /** System property naming the library file; default: target/native/ beside target/classes. */
  public static final String PATH_PROPERTY = "dino4j.kernels";

  private static Boolean loaded;
  private static String problem = "";

  private FusedKernels() {}

  /** Where the library is looked for: the {@value #PATH_PROPERTY} property, else the build's. */
  public static Path libraryPath() {
    String p = System.getProperty(PATH_PROPERTY);
    if (p != null && !p.isBlank()) {
      return Path.of(p);
    }
    try {
      Path classes = Path.of(FusedKernels.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      return classes.getParent().resolve("native").resolve("libdino4j_kernels.so"); // target/native
    } catch (URISyntaxException | RuntimeException e) {
      return Path.of("target", "native", "libdino4j_kernels.so");
    }
  }

  /** Loads the library once (and registers the gradients); false when it is absent or fails. */
  public static synchronized boolean available() {
    if (loaded == null) {
      loaded = load();
    }
    return loaded;
  }

  /** Why {@link #available()} is false ("" when it is true). */
  public static synchronized String problem() {
    available();
    return problem;
  }

  private static boolean load() {
    Path lib = libraryPath();
    if (!Files.isRegularFile(lib)) {
      problem = "fused kernels not built: no " + lib + " (make build builds it; it needs g++)";
      return false;
    }
    try {
      TensorFlow.loadLibrary(lib.toAbsolutePath().toString());
    } catch (RuntimeException | UnsatisfiedLinkError e) {
      problem = "fused kernels in " + lib + " failed to load: " + e.getMessage();
      LOG.warn(problem);
      return false;
    }
    boolean ok =
        TensorFlow.registerCustomGradient("Dino4jLayerNorm", FusedKernels::layerNormGradient)
            && TensorFlow.registerCustomGradient("Dino4jBiasGelu", FusedKernels::biasGeluGradient)
            && TensorFlow.registerCustomGradient("Dino4jBatchMatMulHook", FusedKernels::batchMatMulGradient)
            && TensorFlow.registerCustomGradient("Dino4jBiasScaleResidual", FusedKernels::biasScaleResidualGradient)
            && TensorFlow.registerCustomGradient("Dino4jQkvHeads", FusedKernels::qkvHeadsGradient)
            && TensorFlow.registerCustomGradient("Dino4jSoftmaxHook", FusedKernels::softmaxGradient);
    if (!ok) {
      problem = "fused kernels in " + lib + ": their gradients could not be registered";
      LOG.warn(problem);
      return false;
    }
    LOG.debug("fused kernels loaded from {}", lib);
    return true;
  }

  /**
   * (x - mean) / sqrt(var + {@link VisionTransformer#LN_EPS}) over the last axis, biased variance:
   * {@link Layers#normalize} as one op.
   */
  public static Operand<TFloat32> normalize(Ops tf, Operand<TFloat32> x) {
    requireLoaded();
    return op(tf, "Dino4jLayerNorm", "LayerNorm", x).output(0);
  }

  /**
   * u (1 + erf(u)) with u = z + b, b [N] along z's last axis: the block's bias add and (scaled)
   * exact GELU as one op; see {@link VisionTransformer} for the folded 1/sqrt 2 factors.
   */
  public static Operand<TFloat32> biasGelu(Ops tf, Operand<TFloat32> z, Operand<TFloat32> b) {
    requireLoaded();
    return op(tf, "Dino4jBiasGelu", "BiasGelu", z, b).output(0);
  }

  /**
   * Softmax over the last axis: TF's (oneDNN) forward, and the gradient y (dy - sum(dy y)) as one
   * op instead of TF's four (Mul, Sum, Sub, Mul; slow in bf16). As in {@link #batchMatMul}, the
   * softmax is taken of a stopGradient input and a pass-through op carries the gradient.
   */
  public static Operand<TFloat32> softmax(Ops tf, Operand<TFloat32> x) {
    requireLoaded();
    Operand<TFloat32> y = tf.nn.softmax(tf.stopGradient(x));
    return float32(op(tf, "Dino4jSoftmaxHook", "SoftmaxHook", y, x).output(0));
  }

  private static List<Operand<?>> softmaxGradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    Output<?> dy = grads.get(0);
    // dy also goes back into y, a softmax of a stopGradient input: it ends there (see batchMatMul)
    return List.of(dy, op(tf, "Dino4jSoftmaxGrad", "SoftmaxGrad", dy, op.input(0)).output(0));
  }

  /**
   * x + (z + b) s: a residual branch's bias, per-sample drop-path scale and add as one op. x and z
   * [B, T, D] (or any shape with D last), b [D], s one value per sample ([B, 1, 1] or [B]; [1]:
   * the same for all). s gets no gradient (drop-path masks are constants).
   */
  public static Operand<TFloat32> biasScaleResidual(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> z, Operand<TFloat32> b, Operand<TFloat32> s) {
    requireLoaded();
    return op(tf, "Dino4jBiasScaleResidual", "BiasScaleResidual", x, z, b, s).output(0);
  }

  private static List<Operand<?>> biasScaleResidualGradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    Output<?> dy = grads.get(0);
    Output<?> s = op.input(3);
    Operation g = op(tf, "Dino4jBiasScaleResidualGrad", "BiasScaleResidualGrad", dy, s);
    return List.of(dy, g.output(0), g.output(1), tf.zerosLike(s));
  }

  /**
   * q, k, v [B, H, N, hd] from the qkv matmul's output z [B, N, 3, H, hd] (without its bias) and the
   * bias b [3 H hd]: bias add, transpose to heads and split as one op. Shapes are known at run time
   * only; callers reshape.
   */
  public static List<Operand<TFloat32>> qkvHeads(Ops tf, Operand<TFloat32> z, Operand<TFloat32> b) {
    requireLoaded();
    Operation op = op(tf, "Dino4jQkvHeads", "QkvHeads", z, b);
    return List.of(float32(op.output(0)), float32(op.output(1)), float32(op.output(2)));
  }

  private static List<Operand<?>> qkvHeadsGradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    Operation g = op(tf, "Dino4jQkvHeadsGrad", "QkvHeadsGrad", grads.get(0), grads.get(1), grads.get(2));
    return List.of(g.output(0), g.output(1));
  }

  /**
   * a @ b (b transposed when adjY) over the leading batch axes as oneDNN's batched matmul, forward
   * and backward. TF Java wraps only BatchMatMulV3, which this TF build runs on Eigen (2-3x
   * slower here); BatchMatMulV2 goes to oneDNN, but TF's gradient of it is again BatchMatMulV3. So
   * the product is taken of stopGradient inputs, and a pass-through op carries the gradient, which
   * is built from BatchMatMulV2 ops.
   */
  public static Operand<TFloat32> batchMatMul(Ops tf, Operand<TFloat32> a, Operand<TFloat32> b, boolean adjY) {
    requireLoaded();
    Output<?> y = batchMatMulV2(tf, tf.stopGradient(a), tf.stopGradient(b), false, adjY);
    Operation hook =
        tf.scope().opBuilder("Dino4jBatchMatMulHook", "BatchMatMulHook")
            .addInput(y)
            .addInput(a.asOutput())
            .addInput(b.asOutput())
            .setAttr("adj_y", adjY)
            .build();
    return float32(hook.output(0));
  }

  private static Output<?> batchMatMulV2(Ops tf, Operand<?> a, Operand<?> b, boolean adjX, boolean adjY) {
    return tf.scope().opBuilder("BatchMatMulV2", "BatchMatMulV2")
        .addInput(a.asOutput())
        .addInput(b.asOutput())
        .setAttr("adj_x", adjX)
        .setAttr("adj_y", adjY)
        .build()
        .output(0);
  }

  @SuppressWarnings("unchecked")
  private static Operand<TFloat32> float32(Output<?> o) {
    return (Operand<TFloat32>) (Operand<?>) o;
  }

  private static List<Operand<?>> batchMatMulGradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    Output<?> dy = grads.get(0);
    Output<?> a = op.input(1);
    Output<?> b = op.input(2);
    boolean adjY = op.attributes().getAttrBool("adj_y");
    // y = a b: da = dy b^T, db = a^T dy;  y = a b^T: da = dy b, db = dy^T a
    Output<?> da = batchMatMulV2(tf, dy, b, false, !adjY);
    Output<?> db = adjY ? batchMatMulV2(tf, dy, a, true, false) : batchMatMulV2(tf, a, dy, true, false);
    // y is a product of stopGradient inputs: whatever flows back into it ends at the
    // StopGradients, and the session never runs ops that nothing it is asked for depends on
    return List.of(dy, da, db);
  }

  /**
   * One AdamW step of one parameter tensor as one op: {@code h} holds [lr / bc1, sqrt(bc2), decay
   * factor (1 - lr wd, or 1), clip (0: off), b1, 1 - b1, b2, 1 - b2, eps]; returns the new w, m and v
   * (dev.dino4j.train.AdamW has the arithmetic). No gradient.
   */
  public static List<Operand<TFloat32>> adamW(
      Ops tf, Operand<TFloat32> w, Operand<TFloat32> m, Operand<TFloat32> v, Operand<TFloat32> g, Operand<TFloat32> h) {
    requireLoaded();
    Operation op = op(tf, "Dino4jAdamW", "AdamW", w, m, v, g, h);
    return List.of(float32(op.output(0)), float32(op.output(1)), float32(op.output(2)));
  }

  /** teacher m + student (1 - m) as one op (the EMA of one parameter tensor). No gradient. */
  public static Operand<TFloat32> ema(Ops tf, Operand<TFloat32> teacher, Operand<TFloat32> student, Operand<TFloat32> m) {
    requireLoaded();
    return float32(op(tf, "Dino4jEma", "Ema", teacher, student, m).output(0));
  }

  private static void requireLoaded() {
    if (!available()) {
      throw new IllegalStateException(problem);
    }
  }

  private static Operation op(Ops tf, String type, String name, Operand<?>... inputs) {
    var b = tf.scope().opBuilder(type, name);
    for (Operand<?> in : inputs) {
      b.addInput(in.asOutput());
    }
    return b.build();
  }

  private static List<Operand<?>> layerNormGradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    // grads[1] (of rstd) is never used downstream: rstd only feeds this gradient op
    Operation g = op(tf, "Dino4jLayerNormGrad", "LayerNormGrad", grads.get(0), op.output(0), op.output(1));
    return List.of(g.output(0));
  }

  private static List<Operand<?>> biasGeluGradient(Ops tf, GraphOperation op, List<Output<?>> grads) {
    Operation g = op(tf, "Dino4jBiasGeluGrad", "BiasGeluGrad", grads.get(0), op.input(0), op.input(1));
    return List.of(g.output(0), g.output(1));
  }
}
