package dev.dino4j.export;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.ParamSpec;
import dev.dino4j.model.Params;
import dev.dino4j.model.VisionTransformer;
import dev.dino4j.model.Weights;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TString;

/**
 * The graph a SavedModel holds: ONE backbone (teacher by default) with the training graph's
 * builders and variable names ({@code teacher/blocks.0.attn.qkv.weight}, ...), no head, no
 * optimizer, no loss; any batch and any image size (multiples of the patch; the position
 * embedding is resampled in the graph). Four signatures, all with TF Serving's predict method:
 *
 * <pre>
 *   serving_default  images      float32 [N, H, W, 3] RGB in [0, 1] -> embedding    [N, D]
 *   image_bytes      image_bytes string  [N] JPEG/PNG/BMP/GIF     -> embedding    [N, D]
 *   patch_tokens     images                                        -> patch_tokens [N, h*w, D]
 *   attention        images                                        -> attention    [N, heads, h, w]
 * </pre>
 *
 * Normalisation with the training mean/std happens inside the graph, so clients send plain RGB.
 * {@code image_bytes} decodes each string (3 channels), resizes it to the training global crop
 * size with TF's antialiased Keys-cubic resize (Pillow's bicubic) and clamps to [0, 1], in an
 * in-graph loop ({@link ImageBytes}); it runs its own copy of the backbone on the same variables,
 * so each signature depends on its own inputs only.
 */
public final class InferenceGraph {

  /** TF Serving's method name for predict signatures (the builder's default is empty). */
  public static final String PREDICT = "tensorflow/serving/predict";

  public static final String SERVING_DEFAULT = Signature.DEFAULT_KEY;
  public static final String IMAGE_BYTES = "image_bytes";
  public static final String PATCH_TOKENS = "patch_tokens";
  public static final String ATTENTION = "attention";

  private final Params params;
  private final List<Placeholder<TFloat32>> weightFeeds = new ArrayList<>();
  private final Op loadWeights;
  private final List<Signature> signatures;
  private final VisionTransformer.Dims dims;

  /**
   * Builds the graph into {@code g}.
   *
   * @param network "teacher" or "student": the variable scope, as in the training checkpoint
   */
  public InferenceGraph(Graph g, DinoConfig cfg, String network) {
    if (!network.equals("teacher") && !network.equals("student")) {
      throw new IllegalArgumentException("network must be teacher or student, got " + network);
    }
    Ops tf = Ops.create(g);
    int size = cfg.augment().globalSize();
    dims = VisionTransformer.Dims.of(cfg.model(), size);
    // variables first: each op gets slower to add as the graph grows
    params = Params.create(tf, network, VisionTransformer.params(dims));
    Ops load = tf.withSubScope("load_weights");
    List<Op> assigns = new ArrayList<>();
    for (Params.Param p : params.all()) {
      Placeholder<TFloat32> ph =
          load.placeholder(TFloat32.class, Placeholder.shape(Shape.of(p.spec().shape())));
      weightFeeds.add(ph);
      assigns.add(load.assign(p.variable(), ph));
    }
    loadWeights = load.withControlDependencies(assigns).noOp();

    float[] mean = cfg.data().mean();
    float[] invStd = new float[3];
    for (int c = 0; c < 3; c++) {
      invStd[c] = 1f / cfg.data().std()[c]; // as MultiCrop: (x - mean) * (1 / std)
    }

    // images -> embedding, patch tokens, attention
    Ops it = tf.withSubScope("images_path");
    Placeholder<TFloat32> images =
        tf.withName("images").placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1, -1, 3)));
    // a tensor of another rank would reach Conv2D and abort the whole process: refuse it here
    Operand<TFloat32> checked = it.ensureShape(images, Shape.of(-1, -1, -1, 3));
    Operand<TFloat32> x = normalise(it, checked, mean, invStd); // [N, H, W, 3]
    VisionTransformer.Output out = VisionTransformer.forwardAnySize(it, params, dims, x);
    Operand<TFloat32> embedding = tf.withName("embedding").identity(out.cls()); // [N, D]
    Operand<TFloat32> patchTokens =
        tf.withName("patch_tokens")
            .slice(out.tokens(), tf.constant(new int[] {0, dims.prefixTokens(), 0}), tf.constant(new int[] {-1, -1, -1})); // [N, h*w, D]
    // the CLS row's attention to the patches only (registers, when there are any, left out)
    Operand<TFloat32> clsAttention =
        it.slice(out.lastAttention(), tf.constant(new int[] {0, 0, 0, dims.prefixTokens()}), tf.constant(new int[] {-1, -1, 1, -1})); // [N, H, 1, h*w]
    Operand<TInt32> grid =
        it.math.floorDiv(
            it.slice(tf.shape(images), tf.constant(new int[] {1}), tf.constant(new int[] {2})),
            tf.constant(dims.patch())); // [2] = h, w
    Operand<TFloat32> attention =
        tf.withName("attention")
            .reshape(clsAttention, it.concat(List.of(tf.constant(new int[] {-1, dims.heads()}), grid), tf.constant(0))); // [N, heads, h, w]

    // image_bytes -> embedding, through its own copy of the forward pass on the same variables
    Ops bt = tf.withSubScope("image_bytes_path");
    Placeholder<TString> bytes =
        tf.withName("image_bytes").placeholder(TString.class, Placeholder.shape(Shape.of(-1)));
    Operand<TFloat32> decoded = ImageBytes.decodeAndResize(bt, bytes, size); // [N, S, S, 3] in [0, 1]
    VisionTransformer.Output bytesOut =
        VisionTransformer.forwardAnySize(bt, params, dims, normalise(bt, decoded, mean, invStd));
    Operand<TFloat32> bytesEmbedding = tf.withName("image_bytes_embedding").identity(bytesOut.cls()); // [N, D]

    signatures =
        List.of(
            Signature.builder(SERVING_DEFAULT).methodName(PREDICT)
                .input("images", images).output("embedding", embedding).build(),
            Signature.builder(IMAGE_BYTES).methodName(PREDICT)
                .input("image_bytes", bytes).output("embedding", bytesEmbedding).build(),
            Signature.builder(PATCH_TOKENS).methodName(PREDICT)
                .input("images", images).output("patch_tokens", patchTokens).build(),
            Signature.builder(ATTENTION).methodName(PREDICT)
                .input("images", images).output("attention", attention).build());
  }

  /** (x - mean) * (1 / std) per channel, x [N, H, W, 3]. */
  private static Operand<TFloat32> normalise(
      Ops tf, Operand<TFloat32> x, float[] mean, float[] invStd) {
    return tf.math.mul(tf.math.sub(x, tf.constant(mean)), tf.constant(invStd));
  }

  /** Copies {@code w} (every backbone parameter, the config's shapes) into the variables. */
  public void load(Session s, Weights w) {
    List<String> problems = new ArrayList<>();
    for (Params.Param p : params.all()) {
      ParamSpec spec = p.spec();
      if (!w.has(spec.name())) {
        problems.add("missing " + spec.name() + Arrays.toString(spec.shape()));
      } else if (!Arrays.equals(w.get(spec.name()).shape(), spec.shape())) {
        problems.add(spec.name() + ": shape " + Arrays.toString(w.get(spec.name()).shape())
            + ", the config needs " + Arrays.toString(spec.shape()));
      }
    }
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException("weights do not fit the config:\n  " + String.join("\n  ", problems));
    }
    List<TFloat32> tensors = new ArrayList<>();
    try {
      Session.Runner r = s.runner().addTarget(loadWeights);
      for (int i = 0; i < weightFeeds.size(); i++) {
        Weights.Tensor t = w.get(params.all().get(i).spec().name());
        TFloat32 tensor = TFloat32.tensorOf(Shape.of(t.shape()), DataBuffers.of(t.values(), true, false));
        tensors.add(tensor);
        r.feed(weightFeeds.get(i), tensor);
      }
      r.run().close();
    } finally {
      tensors.forEach(TFloat32::close);
    }
  }

  /** The four signatures, serving_default first. */
  public List<Signature> signatures() {
    return signatures;
  }

  public Signature signature(String key) {
    return signatures.stream().filter(s -> s.key().equals(key)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no signature " + key));
  }

  /** The backbone variables (tests compare against the training forward on them). */
  Params params() {
    return params;
  }

  public VisionTransformer.Dims dims() {
    return dims;
  }
}
