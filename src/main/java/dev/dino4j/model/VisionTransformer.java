package dev.dino4j.model;

import dev.dino4j.config.DinoConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.StridedSlice;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TInt64;

/**
 * Pre-norm Vision Transformer as in the DINO reference (vision_transformer.py): conv patch
 * embedding, CLS token, learned position embedding (bicubic-resampled to other grids), blocks of
 * LayerNorm -> multi-head self-attention (qkv bias) and LayerNorm -> MLP (exact GELU), stochastic
 * depth, final LayerNorm; the output is the normalised CLS token.
 */
public final class VisionTransformer {

  /** LayerNorm epsilon of the reference ViT. */
  public static final float LN_EPS = 1e-6f;

  /**
   * Sizes of one backbone. {@code nativeGrid} is the patch grid the position embedding is stored
   * for (global crop size / patch); other grids are resampled from it, with {@code
   * interpolateOffset} ({@link PosEmbed}: 0 timm / Hugging Face, 0.1 the official DINO / DINOv2 code).
   * DINOv2's options: {@code registers} extra learned tokens after the CLS token (0: none), and
   * LayerScale on both residual branches of every block when {@code layerScaleInit} > 0 (its
   * initial value).
   */
  public record Dims(int embedDim, int depth, int heads, int mlpHidden, int patch, int nativeGrid,
      double interpolateOffset, int registers, double layerScaleInit, boolean convStem) {

    public Dims(int embedDim, int depth, int heads, int mlpHidden, int patch, int nativeGrid) {
      this(embedDim, depth, heads, mlpHidden, patch, nativeGrid, 0, 0, 0);
    }

    public Dims(int embedDim, int depth, int heads, int mlpHidden, int patch, int nativeGrid,
        double interpolateOffset, int registers, double layerScaleInit) {
      this(embedDim, depth, heads, mlpHidden, patch, nativeGrid, interpolateOffset, registers, layerScaleInit, false);
    }

    /**
     * The conv stem's widths: log2(p) stride-2 3x3 convolutions from 3 channels through D/p,
     * doubling, to D/2 (then the 1x1 projection to D). Empty for the patch projection.
     */
    public int[] stemWidths() {
      if (!convStem) {
        return new int[0];
      }
      int stages = Integer.numberOfTrailingZeros(patch);
      int[] widths = new int[stages];
      for (int j = 0; j < stages; j++) {
        widths[j] = embedDim >> (stages - j);
      }
      return widths;
    }

    /** The tokens before the patches: CLS, then the registers. */
    public int prefixTokens() {
      return 1 + registers;
    }

    public boolean layerScale() {
      return layerScaleInit > 0;
    }

    public static Dims of(DinoConfig.Model m, int imageSize) {
      return new Dims(
          m.embedDim(),
          m.depth(),
          m.heads(),
          (int) Math.round(m.embedDim() * m.mlpRatio()),
          m.patchSize(),
          imageSize / m.patchSize(),
          m.interpolateOffset(),
          m.registers(),
          m.layerscaleInit(),
          m.convStem());
    }

    public int headDim() {
      return embedDim / heads;
    }
  }

  /**
   * Stochastic depth for one forward pass: block i drops its residual branch per sample with
   * probability rates[i]. Randomness comes from a stateless op seeded by a fed [2] int64 seed plus
   * a per-pass/per-block offset, so a step is reproducible from (run seed, step) alone - resuming
   * from a checkpoint replays exactly the same masks.
   *
   * <p>Data-parallel shards: worker {@code shard} of {@code shards} holds samples [shard * b,
   * (shard + 1) * b) of each of the pass's {@code views} views. It draws the masks of the whole
   * global batch and keeps its own rows, so N workers drop exactly the paths one worker would.
   */
  public record DropPath(double[] rates, Operand<TInt64> seed, int pass, int views, int shards, int shard,
      Operand<TInt32> batch, Operand<TInt32> rows) {

    public DropPath(double[] rates, Operand<TInt64> seed, int pass, int views, int shards, int shard) {
      this(rates, seed, pass, views, shards, shard, null, null);
    }

    /** One process holding the whole batch. */
    public DropPath(double[] rates, Operand<TInt64> seed, int pass) {
      this(rates, seed, pass, 1, 1, 0);
    }

    /**
     * The same draws for a sub-batch: the rows {@code rows} [Bs] of the pass's batch of {@code
     * batch} [1] samples; each kept row drops exactly what it drops in the full pass.
     */
    public DropPath rowsOf(Operand<TInt32> batch, Operand<TInt32> rows) {
      return new DropPath(rates, seed, pass, views, shards, shard, batch, rows);
    }

    /** Rates rising linearly from 0 to maxRate over the blocks, as the reference. */
    public static double[] linearRates(int depth, double maxRate) {
      double[] r = new double[depth];
      for (int i = 0; i < depth; i++) {
        r[i] = depth == 1 ? 0 : maxRate * i / (depth - 1);
      }
      return r;
    }
  }

  /**
   * Which ops a backbone is built from. STOCK: TF's own (exports, feature extraction). FUSED:
   * dino4j's {@link FusedKernels} for the LayerNorms, the MLP's bias + GELU, the residual
   * branches' bias + drop path + add, the attention's batched matmuls (oneDNN, forward and
   * backward) and its softmax's gradient. FUSED_BF16: also the qkv bias + head layout + split as
   * one op, which pays in a bf16 graph (step time 0.96) but not in fp32 (1.03, against oneDNN's
   * fused matmul + bias and transpose there).
   */
  public enum Kernels {
    STOCK,
    FUSED,
    FUSED_BF16;

    /** The training graph's choice: stock, or fused for this precision ("fp32" or "bf16"). */
    public static Kernels of(boolean fused, String precision) {
      return !fused ? STOCK : "bf16".equals(precision) ? FUSED_BF16 : FUSED;
    }
  }

  /**
   * Forward outputs: the CLS feature [B, D], all final tokens [B, T, D] (T = P + N: CLS, the R
   * registers, the N patches; P = 1 + R), the last block's attention [B, H, T, T], and every
   * block's output tokens before the final norm, one [B, T, D] per block (the reference's get_intermediate_layers applies the final norm to
   * them; the linear probe concatenates the last blocks' normed CLS tokens).
   */
  public record Output(
      Operand<TFloat32> cls,
      Operand<TFloat32> tokens,
      Operand<TFloat32> lastAttention,
      List<Operand<TFloat32>> blockOutputs) {}

  private VisionTransformer() {}

  /** The backbone's parameters with official names, TF layouts and the reference init. */
  public static List<ParamSpec> params(Dims d) {
    int dim = d.embedDim();
    int p = d.patch();
    int n = d.nativeGrid() * d.nativeGrid();
    double convBound = 1.0 / Math.sqrt(3.0 * p * p); // PyTorch's default Conv2d init, kept by the reference
    List<ParamSpec> s = new ArrayList<>();
    s.add(ParamSpec.of("cls_token", Init.truncNormal02(), 1, 1, dim));
    s.add(ParamSpec.of("pos_embed", Init.truncNormal02(), 1, 1 + n, dim));
    if (d.registers() > 0) { // DINOv2: normal(std 1e-6), i.e. ~0, learned from there
      s.add(ParamSpec.of("register_tokens", new Init.TruncatedNormal(1e-6, -2.0, 2.0), 1, d.registers(), dim));
    }
    if (d.convStem()) {
      // PyTorch's default Conv2d init (uniform, bound 1/sqrt(fan_in)) for each convolution, as the patch projection
      int in = 3;
      int[] widths = d.stemWidths();
      for (int j = 0; j < widths.length; j++) {
        double bound = 1.0 / Math.sqrt(9.0 * in);
        s.add(ParamSpec.of("patch_embed.stem." + j + ".weight", new Init.Uniform(bound), 3, 3, in, widths[j]));
        s.add(ParamSpec.of("patch_embed.stem." + j + ".bias", new Init.Uniform(bound), widths[j]));
        in = widths[j];
      }
      double bound = 1.0 / Math.sqrt(in);
      s.add(ParamSpec.of("patch_embed.proj.weight", new Init.Uniform(bound), 1, 1, in, dim));
      s.add(ParamSpec.of("patch_embed.proj.bias", new Init.Uniform(bound), dim));
    } else {
      s.add(ParamSpec.of("patch_embed.proj.weight", new Init.Uniform(convBound), p, p, 3, dim));
      s.add(ParamSpec.of("patch_embed.proj.bias", new Init.Uniform(convBound), dim));
    }
    for (int i = 0; i < d.depth(); i++) {
      String b = "blocks." + i + ".";
      s.add(ParamSpec.of(b + "norm1.weight", new Init.Constant(1f), dim));
      s.add(ParamSpec.of(b + "norm1.bias", new Init.Zeros(), dim));
      s.add(ParamSpec.of(b + "attn.qkv.weight", Init.truncNormal02(), dim, 3L * dim));
      s.add(ParamSpec.of(b + "attn.qkv.bias", new Init.Zeros(), 3L * dim));
      s.add(ParamSpec.of(b + "attn.proj.weight", Init.truncNormal02(), dim, dim));
      s.add(ParamSpec.of(b + "attn.proj.bias", new Init.Zeros(), dim));
      if (d.layerScale()) {
        s.add(ParamSpec.of(b + "ls1.gamma", new Init.Constant((float) d.layerScaleInit()), dim));
      }
      s.add(ParamSpec.of(b + "norm2.weight", new Init.Constant(1f), dim));
      s.add(ParamSpec.of(b + "norm2.bias", new Init.Zeros(), dim));
      s.add(ParamSpec.of(b + "mlp.fc1.weight", Init.truncNormal02(), dim, d.mlpHidden()));
      s.add(ParamSpec.of(b + "mlp.fc1.bias", new Init.Zeros(), d.mlpHidden()));
      s.add(ParamSpec.of(b + "mlp.fc2.weight", Init.truncNormal02(), d.mlpHidden(), dim));
      s.add(ParamSpec.of(b + "mlp.fc2.bias", new Init.Zeros(), dim));
      if (d.layerScale()) {
        s.add(ParamSpec.of(b + "ls2.gamma", new Init.Constant((float) d.layerScaleInit()), dim));
      }
    }
    s.add(ParamSpec.of("norm.weight", new Init.Constant(1f), dim));
    s.add(ParamSpec.of("norm.bias", new Init.Zeros(), dim));
    return s;
  }

  /**
   * Builds the forward pass for square images of side {@code size} (the training graph: every
   * token count is a constant).
   *
   * @param images [B, size, size, 3] normalised RGB
   * @param dropPath stochastic depth, or null (teacher, evaluation)
   */
  public static Output forward(
      Ops tf, Params w, Dims d, Operand<TFloat32> images, int size, DropPath dropPath) {
    return forward(tf, w, d, images, size, dropPath, Kernels.STOCK);
  }

  /**
   * As {@link #forward(Ops, Params, Dims, Operand, int, DropPath)}, built from {@code kernels}.
   */
  public static Output forward(
      Ops tf, Params w, Dims d, Operand<TFloat32> images, int size, DropPath dropPath, Kernels kernels) {
    int grid = size / d.patch();
    TokenShape shape = TokenShape.fixed(grid * grid, d.prefixTokens());
    return forward(tf, w, d, images, shape, positionEmbedding(tf, w.get("pos_embed"), d, grid), dropPath, kernels, false, null, null);
  }

  /**
   * The normalised CLS feature [B, D] alone, for the training step: the same function and gradient
   * as {@code forward(...).cls()}, with the last block computed for the CLS row only. Nothing
   * after the last block reads the other rows, so that block needs keys and values for every
   * token but its query, attention, projection and MLP for the CLS row only: 10 of its 12 D^2
   * multiply-adds per token, and all but one row of its attention, are never computed (config A's
   * step: 13% fewer matmul FLOPs, {@link Flops}; the full forward computes them and throws them
   * away).
   *
   * @param images [B, size, size, 3] normalised RGB
   * @param dropPath stochastic depth, or null (teacher); the same masks as {@code forward}'s
   */
  public static Operand<TFloat32> clsFeature(
      Ops tf, Params w, Dims d, Operand<TFloat32> images, int size, DropPath dropPath, Kernels kernels) {
    int grid = size / d.patch();
    return forward(tf, w, d, images, TokenShape.fixed(grid * grid, d.prefixTokens()), positionEmbedding(tf, w.get("pos_embed"), d, grid),
            dropPath, kernels, true, null, null)
        .cls();
  }

  /**
   * The training step's forward for iBOT, with the patches where {@code masks} is 1 replaced by
   * the learned {@code mask_token} before the position embedding (DINOv2's
   * prepare_tokens_with_masks); {@code masks} null: no masking (the teacher). The CLS feature of
   * every view comes from the CLS-only last block, as in {@link #clsFeature}; the final tokens
   * only for the views {@code patchViews}, the ones iBOT reads patches of: the last block runs in
   * full for them alone (with the same stochastic depth), which at DINOv2's mask share of 0.5
   * leaves half the global views' patch rows uncomputed.
   *
   * @param images [B, size, size, 3] normalised RGB
   * @param masks [B, N] floats, 1 = masked, or null
   * @param patchViews [Bm] ascending rows of {@code images} whose final tokens are wanted
   * @return cls [B, D]; tokens [Bm, T, D] of the views {@code patchViews}; their last attention
   */
  public static Output maskedForward(
      Ops tf, Params w, Dims d, Operand<TFloat32> images, int size, DropPath dropPath, Kernels kernels,
      Operand<TFloat32> masks, Operand<TInt32> patchViews) {
    int grid = size / d.patch();
    return forward(tf, w, d, images, TokenShape.fixed(grid * grid, d.prefixTokens()),
        positionEmbedding(tf, w.get("pos_embed"), d, grid), dropPath, kernels, false, masks, patchViews);
  }

  /** iBOT's learned mask token [1, D] (DINOv2's backbone parameter; zeros at init, as there). */
  public static ParamSpec maskTokenSpec(Dims d) {
    return ParamSpec.of(MASK_TOKEN, new Init.Zeros(), 1, d.embedDim());
  }

  public static final String MASK_TOKEN = "mask_token";

  /**
   * Builds the forward pass for any batch and any image size read at run time (the export graph):
   * height and width may differ and must be multiples of the patch (an in-graph assertion fails
   * otherwise, rather than letting the patch embedding drop the remainder). The position
   * embedding is resampled in the graph with the same arithmetic as {@link PosEmbed#gridMatrix},
   * so at a fixed size this equals {@link #forward(Ops, Params, Dims, Operand, int, DropPath)}.
   * No stochastic depth.
   *
   * @param images [B, H, W, 3] normalised RGB
   */
  public static Output forwardAnySize(Ops tf, Params w, Dims d, Operand<TFloat32> images) {
    Operand<TInt32> hw =
        tf.slice(tf.shape(images), tf.constant(new int[] {1}), tf.constant(new int[] {2})); // [2] = H, W
    Operand<TInt32> patch = tf.constant(d.patch());
    Operand<TBool> divisible =
        tf.reduceAll(
            tf.math.equal(tf.math.floorMod(hw, patch), tf.constant(new int[] {0, 0})),
            tf.constant(0));
    Operand<TFloat32> checked =
        tf.withControlDependencies(
                List.of(
                    tf.assertThat(
                        divisible,
                        List.of(
                            tf.constant(
                                "image height and width must be multiples of the patch size "
                                    + d.patch() + "; got [H, W] ="),
                            hw))))
            .identity(images);
    Operand<TInt32> grid = tf.math.floorDiv(hw, patch); // [2] = gh, gw
    Operand<TInt32> gh = tf.reshape(tf.slice(grid, tf.constant(new int[] {0}), tf.constant(new int[] {1})), tf.constant(new int[0]));
    Operand<TInt32> gw = tf.reshape(tf.slice(grid, tf.constant(new int[] {1}), tf.constant(new int[] {1})), tf.constant(new int[0]));
    Operand<TInt64> patches = tf.dtypes.cast(tf.reshape(tf.math.mul(gh, gw), tf.constant(new int[] {1})), TInt64.class); // [1]
    TokenShape shape = TokenShape.dynamic(tf, patches, d.prefixTokens());
    return forward(tf, w, d, checked, shape, positionEmbedding(tf, w.get("pos_embed"), d, gh, gw), null, Kernels.STOCK, false, null, null);
  }

  /**
   * Reshape targets that mention the token count: written as constants in the training graph
   * (exactly the graph trained so far), read from the running tensors in the export graph. In
   * {@code dims}, {@link #TOKENS} stands for P + N (P: CLS and registers) and {@link #PATCHES} for N.
   */
  private interface TokenShape {
    long TOKENS = -2;
    long PATCHES = -3;

    Operand<TInt64> of(Ops tf, long... dims);

    static TokenShape fixed(int patches, int prefix) {
      return (tf, dims) -> {
        long[] out = dims.clone();
        for (int i = 0; i < out.length; i++) {
          out[i] = out[i] == TOKENS ? patches + prefix : out[i] == PATCHES ? patches : out[i];
        }
        return tf.constant(out);
      };
    }

    static TokenShape dynamic(Ops scope, Operand<TInt64> patches, int prefix) {
      Operand<TInt64> tokens = scope.math.add(patches, scope.constant(new long[] {prefix})); // [1]
      return (tf, dims) -> {
        List<Operand<TInt64>> parts = new ArrayList<>();
        for (long dim : dims) {
          parts.add(dim == TOKENS ? tokens : dim == PATCHES ? patches : tf.constant(new long[] {dim}));
        }
        return tf.concat(parts, tf.constant(0));
      };
    }
  }

  /**
   * The forward pass; with {@code clsOnly} the last block runs for the CLS row only (see
   * {@link #clsFeature}) and the output holds the CLS feature alone.
   */
  private static Output forward(
      Ops tf, Params w, Dims d, Operand<TFloat32> images, TokenShape shape, Operand<TFloat32> pos,
      DropPath dropPath, Kernels kernels, boolean clsOnly, Operand<TFloat32> masks, Operand<TInt32> patchViews) {
    boolean fused = kernels != Kernels.STOCK;
    int dim = d.embedDim();
    Operand<TFloat32> patches = d.convStem() ? convStem(tf, w, d, images, fused) : patchProjection(tf, w, d, images); // [B*N, D]
    patches = tf.reshape(patches, shape.of(tf, -1, TokenShape.PATCHES, dim)); // [B, N, D]
    if (masks != null) {
      // where(mask, mask_token, patch) as patch + m (token - patch): the token's gradient is the sum over masked rows
      Operand<TFloat32> m = tf.expandDims(masks, tf.constant(-1)); // [B, N, 1]
      Operand<TFloat32> token = tf.reshape(w.get(MASK_TOKEN), tf.constant(new long[] {1, 1, dim})); // [1, 1, D]
      patches = tf.math.add(patches, tf.math.mul(m, tf.math.sub(token, patches))); // [B, N, D]
    }

    // CLS token broadcast to the (dynamic) batch: zeros [B, 1, D] + cls_token.
    Operand<TFloat32> firstPatch =
        tf.stopGradient(tf.slice(patches, tf.constant(new int[] {0, 0, 0}), tf.constant(new int[] {-1, 1, -1})));
    Operand<TFloat32> cls =
        tf.math.add(tf.math.mul(firstPatch, tf.constant(0f)), w.get("cls_token")); // [B, 1, D]
    Operand<TFloat32> x = tf.concat(List.of(cls, patches), tf.constant(1)); // [B, 1+N, D]
    x = tf.math.add(x, pos); // [B, 1+N, D]
    if (d.registers() > 0) {
      // DINOv2: the registers go after the CLS token, AFTER the position embedding (they have none)
      Operand<TFloat32> firstRows =
          tf.stopGradient(tf.slice(patches, tf.constant(new int[] {0, 0, 0}), tf.constant(new int[] {-1, 1, -1}))); // [B, 1, D]
      Operand<TFloat32> registers =
          tf.math.add(tf.math.mul(firstRows, tf.constant(0f)), w.get("register_tokens")); // [B, R, D]
      Operand<TFloat32> clsRow = tf.slice(x, tf.constant(new int[] {0, 0, 0}), tf.constant(new int[] {-1, 1, -1})); // [B, 1, D]
      Operand<TFloat32> patchRows = tf.slice(x, tf.constant(new int[] {0, 1, 0}), tf.constant(new int[] {-1, -1, -1})); // [B, N, D]
      x = tf.concat(List.of(clsRow, registers, patchRows), tf.constant(1)); // [B, 1+R+N, D]
    }

    Operand<TFloat32> attention = null;
    List<Operand<TFloat32>> blockOutputs = new ArrayList<>();
    // Beside the matmuls, the step's time goes to passes over the big activations, so every
    // constant factor and affine map that can move onto a small weight tensor does: the LayerNorm
    // gains and shifts fold into the qkv and fc1 weights, the attention scale into q's columns,
    // GELU's two 1/sqrt(2) into fc1 and fc2. (Measured: docs/performance.md, "Performance levers".)
    int fullBlocks = clsOnly || patchViews != null ? d.depth() - 1 : d.depth();
    for (int i = 0; i < fullBlocks; i++) {
      Ops bt = tf.withSubScope("block" + i);
      String b = "blocks." + i + ".";
      Operand<TFloat32> h = normalize(bt, x, fused); // [B, T, D]; norm1's affine is in qkv
      AttentionOut a = attention(bt, w, b, d, h, shape, kernels);
      attention = a.weights();
      x = residual(bt, x, a.out(), dim, dim, layerScaled(bt, w, b, "attn.proj", "ls1", d), shape, dropPath, i, fused);
      x = mlp(bt, w, b, d, x, shape, dropPath, i, fused);
      blockOutputs.add(x); // [B, T, D]
    }
    if (clsOnly || patchViews != null) {
      int i = d.depth() - 1;
      Ops bt = tf.withSubScope("block" + i);
      String b = "blocks." + i + ".";
      TokenShape oneToken = TokenShape.fixed(0, 1); // T = 1: the CLS row
      Operand<TFloat32> last = x; // [B, T, D]: the last block's input
      Operand<TFloat32> h = normalize(bt, x, fused); // [B, T, D]: keys and values need every row
      Operand<TFloat32> clsOut = clsAttention(bt, w, b, d, h, shape, fused); // [B, 1, D]
      x = bt.slice(x, bt.constant(new int[] {0, 0, 0}), bt.constant(new int[] {-1, 1, -1})); // [B, 1, D]
      x = residual(bt, x, clsOut, dim, dim, layerScaled(bt, w, b, "attn.proj", "ls1", d), oneToken, dropPath, i, fused);
      x = mlp(bt, w, b, d, x, oneToken, dropPath, i, fused); // [B, 1, D]
      Operand<TFloat32> clsRow = tf.reshape(x, tf.constant(new long[] {-1, dim})); // [B, D]
      Operand<TFloat32> clsFeature = Layers.layerNorm(tf, clsRow, w.get("norm.weight"), w.get("norm.bias"), LN_EPS); // [B, D]
      if (patchViews == null) {
        return new Output(clsFeature, null, null, List.copyOf(blockOutputs));
      }
      // iBOT: every token of the last block only for the views that have masked patches; the
      // others need their CLS row alone (the path above), so their patch rows are not computed
      Ops pt = tf.withSubScope("block" + i + "_patches");
      Operand<TInt32> batch = pt.slice(pt.shape(last), pt.constant(new int[] {0}), pt.constant(new int[] {1})); // [1]
      DropPath sub = dropPath == null ? null : dropPath.rowsOf(batch, patchViews);
      Operand<TFloat32> y = pt.gather(last, patchViews, pt.constant(0)); // [Bm, T, D]
      // the CLS path's normalised input, gathered: its LayerNorm is not computed twice
      AttentionOut a = attention(pt, w, b, d, pt.gather(h, patchViews, pt.constant(0)), shape, kernels);
      y = residual(pt, y, a.out(), dim, dim, layerScaled(pt, w, b, "attn.proj", "ls1", d), shape, sub, i, fused);
      y = mlp(pt, w, b, d, y, shape, sub, i, fused); // [Bm, T, D]
      return new Output(clsFeature, Layers.layerNorm(tf, y, w.get("norm.weight"), w.get("norm.bias"), LN_EPS), a.weights(),
          List.copyOf(blockOutputs));
    }
    // LayerNorm is per token, so the CLS feature needs only the CLS row normalised; the training
    // step never fetches the other tokens, and TF does not run what nothing asks for.
    Operand<TFloat32> clsRow =
        tf.reshape(
            tf.slice(x, tf.constant(new int[] {0, 0, 0}), tf.constant(new int[] {-1, 1, -1})),
            tf.constant(new long[] {-1, dim})); // [B, D]
    Operand<TFloat32> clsOut = Layers.layerNorm(tf, clsRow, w.get("norm.weight"), w.get("norm.bias"), LN_EPS); // [B, D]
    x = Layers.layerNorm(tf, x, w.get("norm.weight"), w.get("norm.bias"), LN_EPS); // [B, T, D]
    return new Output(clsOut, x, attention, List.copyOf(blockOutputs));
  }

  /**
   * The reference's stride-p convolution, written as the matmul it is: space-to-depth lays each
   * p x p patch out as one row of p*p*3 values in the filter's (row, column, channel) order, so
   * the [p, p, 3, D] filter is that matmul's weight as it stands. Not Conv2D: TF 2.18's oneDNN
   * bf16 convolution returned wrong and non-deterministic values on an AMD EPYC with
   * AVX512-BF16 (48-81% of outputs off, some runs inf/NaN: training diverged), where its bf16
   * matmul is right (docs/design.md, "Precision").
   *
   * @param images [B, H, W, 3]
   * @return [B*N, D], the patches in row-major grid order
   */
  private static Operand<TFloat32> patchProjection(Ops tf, Params w, Dims d, Operand<TFloat32> images) {
    int patchValues = d.patch() * d.patch() * 3;
    Operand<TFloat32> rows =
        tf.reshape(tf.nn.spaceToDepth(images, (long) d.patch()), tf.constant(new long[] {-1, patchValues})); // [B*N, p*p*3]
    Operand<TFloat32> filter =
        tf.reshape(w.get("patch_embed.proj.weight"), tf.constant(new long[] {patchValues, d.embedDim()})); // [p*p*3, D]
    return tf.nn.biasAdd(tf.linalg.matMul(rows, filter), w.get("patch_embed.proj.bias")); // [B*N, D]
  }

  /**
   * The conv stem ({@code model.stem: conv}): log2(p) times a 3x3 convolution of stride 2 and
   * padding 1 with exact GELU, then a 1x1 projection to D, so each token sees a (2p-1)-px
   * neighbourhood through overlapping windows instead of its own p x p patch. Each convolution is
   * im2col and one matmul (pad, nine stride-2 slices, concat: Conv2D is avoided for the reason in
   * {@link #patchProjection}); the nine slices in (row, column) order and the channels within each
   * are the [3, 3, C, C'] filter's row-major layout.
   *
   * @param images [B, H, W, 3], H and W multiples of p
   * @return [B*N, D], the patches in row-major grid order
   */
  private static Operand<TFloat32> convStem(Ops tf, Params w, Dims d, Operand<TFloat32> images, boolean fused) {
    float invSqrt2 = (float) (1 / Math.sqrt(2));
    Operand<TFloat32> x = images; // [B, H, W, C]
    int in = 3;
    float inputScale = 1f; // the previous GELU's output is sqrt 2 GELU: its 1 / sqrt 2 goes into this filter
    int[] widths = d.stemWidths();
    for (int j = 0; j < widths.length; j++) {
      int out = widths[j];
      Operand<TInt32> hw = tf.slice(tf.shape(x), tf.constant(new int[] {1}), tf.constant(new int[] {2})); // [2] = H, W
      Operand<TFloat32> padded = tf.pad(x, tf.constant(new int[][] {{0, 0}, {1, 1}, {1, 1}, {0, 0}}), tf.constant(0f)); // [B, H+2, W+2, C]
      List<Operand<TFloat32>> taps = new ArrayList<>(9);
      for (int dy = 0; dy < 3; dy++) {
        for (int dx = 0; dx < 3; dx++) {
          // rows dy, dy + 2, ..., dy + H - 2 of the padded map: output row i reads input rows 2i - 1 + dy
          Operand<TInt32> begin = tf.constant(new int[] {0, dy, dx, 0});
          Operand<TInt32> end = tf.concat(List.of(tf.constant(new int[] {0}),
              tf.math.add(hw, tf.constant(new int[] {dy - 1, dx - 1})), tf.constant(new int[] {0})), tf.constant(0)); // [4]
          taps.add(tf.stridedSlice(padded, begin, end, tf.constant(new int[] {1, 2, 2, 1}),
              StridedSlice.beginMask(9L), StridedSlice.endMask(9L))); // [B, H/2, W/2, C]
        }
      }
      Operand<TFloat32> cols = tf.concat(taps, tf.constant(3)); // [B, H/2, W/2, 9C]
      Operand<TInt32> outShape = tf.concat(List.of(tf.slice(tf.shape(cols), tf.constant(new int[] {0}), tf.constant(new int[] {3})),
          tf.constant(new int[] {out})), tf.constant(0)); // [4] = B, H/2, W/2, C'
      // u = z / sqrt 2 (filter and bias scaled), so that u + u erf(u) = sqrt 2 GELU(z), as in the MLP
      Operand<TFloat32> filter = tf.math.mul(tf.reshape(w.get("patch_embed.stem." + j + ".weight"),
          tf.constant(new long[] {9L * in, out})), tf.constant(inputScale * invSqrt2)); // [9C, C']
      Operand<TFloat32> bias = tf.math.mul(w.get("patch_embed.stem." + j + ".bias"), tf.constant(invSqrt2)); // [C']
      Operand<TFloat32> z = tf.linalg.matMul(tf.reshape(cols, tf.constant(new long[] {-1, 9L * in})), filter); // [B*H/2*W/2, C']
      Operand<TFloat32> h;
      if (fused) {
        h = FusedKernels.biasGelu(tf, z, bias); // [rows, C'] = sqrt 2 GELU
      } else {
        Operand<TFloat32> u = tf.nn.biasAdd(z, bias);
        h = tf.math.mul(u, tf.math.add(tf.math.erf(u), tf.constant(1f))); // [rows, C'] = sqrt 2 GELU
      }
      x = tf.reshape(h, outShape); // [B, H/2, W/2, C']
      inputScale = invSqrt2;
      in = out;
    }
    Operand<TFloat32> proj = tf.math.mul(tf.reshape(w.get("patch_embed.proj.weight"),
        tf.constant(new long[] {in, d.embedDim()})), tf.constant(inputScale)); // [C, D]
    return tf.nn.biasAdd(tf.linalg.matMul(tf.reshape(x, tf.constant(new long[] {-1, in})), proj),
        w.get("patch_embed.proj.bias")); // [B*N, D]
  }

  /** x + drop_path(MLP(LayerNorm(x))) for block {@code b} (index i), x [B, T, D]. */
  private static Operand<TFloat32> mlp(
      Ops bt, Params w, String b, Dims d, Operand<TFloat32> x, TokenShape shape, DropPath dropPath, int i,
      boolean fused) {
    int dim = d.embedDim();
    float invSqrt2 = (float) (1 / Math.sqrt(2));
    Operand<TFloat32> h = normalize(bt, x, fused); // [B, T, D]; norm2's affine is in fc1
    // Exact GELU(z) = 0.5 z (1 + erf(z / sqrt 2)) = (u + u erf(u)) / sqrt 2 with u = z / sqrt 2:
    // fc1 computes u directly and fc2's weight takes the outer 1 / sqrt 2, which leaves 3 passes
    // over the [B*T, 4D] hidden activations instead of 5 (and a shorter gradient).
    Layers.Linear fc1 =
        linear(w, b + "mlp.fc1").afterAffine(bt, w.get(b + "norm2.weight"), w.get(b + "norm2.bias"))
            .scaled(bt, bt.constant(invSqrt2));
    if (fused) {
      Operand<TFloat32> z = bt.linalg.matMul(bt.reshape(h, bt.constant(new long[] {-1, dim})), fc1.weight()); // [B*T, 4D]
      h = FusedKernels.biasGelu(bt, z, fc1.bias()); // [B*T, 4D] = sqrt 2 GELU
    } else {
      Operand<TFloat32> u = linearTokens(bt, h, shape, dim, d.mlpHidden(), fc1); // [B, T, 4D]
      h = bt.math.mul(u, bt.math.add(bt.math.erf(u), bt.constant(1f))); // [B, T, 4D] = sqrt 2 GELU(z)
    }
    Layers.Linear fc2 = layerScaled(bt, w, b, "mlp.fc2", "ls2", d).inputScaled(bt, invSqrt2);
    return residual(bt, x, h, d.mlpHidden(), dim, fc2, shape, dropPath, d.depth() + i, fused);
  }

  private static Operand<TFloat32> normalize(Ops tf, Operand<TFloat32> x, boolean fused) {
    return fused ? FusedKernels.normalize(tf, x) : Layers.normalize(tf, x, LN_EPS);
  }

  private static Layers.Linear linear(Params w, String prefix) {
    return new Layers.Linear(w.get(prefix + ".weight"), w.get(prefix + ".bias"));
  }

  /**
   * A residual branch's output layer, times the block's LayerScale gamma [D] when there is one:
   * gamma (h W + b) = h (W gamma) + b gamma, folded into the small weight, so LayerScale costs no
   * pass over the activations and the fused residual op stays as it is.
   */
  private static Layers.Linear layerScaled(Ops bt, Params w, String b, String layer, String ls, Dims d) {
    Layers.Linear l = linear(w, b + layer);
    return d.layerScale() ? l.scaled(bt, w.get(b + ls + ".gamma")) : l;
  }

  /** {@link Layers#linearTokens} with the token count from {@code shape}: [B, T, in] -> [B, T, out]. */
  private static Operand<TFloat32> linearTokens(
      Ops tf, Operand<TFloat32> x, TokenShape shape, long in, long out, Layers.Linear l) {
    Operand<TFloat32> flat = tf.reshape(x, tf.constant(new long[] {-1, in})); // [B*T, in]
    Operand<TFloat32> y = Layers.linear(tf, flat, l); // [B*T, out]
    return tf.reshape(y, shape.of(tf, -1, TokenShape.TOKENS, out)); // [B, T, out]
  }

  /**
   * pos_embed [1, 1+N0, D] for a grid of side {@code grid}: unchanged when it is the native grid,
   * else the patch part multiplied by the bicubic resampling matrix of {@link PosEmbed}.
   */
  public static Operand<TFloat32> positionEmbedding(
      Ops tf, Operand<TFloat32> posEmbed, Dims d, int grid) {
    int g0 = d.nativeGrid();
    if (grid == g0) {
      return posEmbed;
    }
    int dim = d.embedDim();
    Operand<TFloat32> clsPos =
        tf.slice(posEmbed, tf.constant(new int[] {0, 0, 0}), tf.constant(new int[] {1, 1, dim})); // [1, 1, D]
    Operand<TFloat32> patchPos =
        tf.reshape(
            tf.slice(posEmbed, tf.constant(new int[] {0, 1, 0}), tf.constant(new int[] {1, g0 * g0, dim})),
            tf.constant(new long[] {g0 * g0, dim})); // [N0, D]
    float[] m = PosEmbed.gridMatrix(g0, g0, grid, grid, d.interpolateOffset()); // [N, N0]
    Operand<TFloat32> matrix =
        tf.constant(
            org.tensorflow.ndarray.Shape.of(grid * grid, g0 * g0),
            org.tensorflow.ndarray.buffer.DataBuffers.of(m, true, false));
    Operand<TFloat32> resampled =
        tf.reshape(tf.linalg.matMul(matrix, patchPos), tf.constant(new long[] {1, grid * grid, dim})); // [1, N, D]
    return tf.concat(List.of(clsPos, resampled), tf.constant(1)); // [1, 1+N, D]
  }

  /**
   * pos_embed [1, 1+N0, D] for a grid of gh x gw patches known only at run time: the patch part
   * multiplied by {@link PosEmbed#gridMatrix(Ops, int, int, Operand, Operand)}, built in the graph
   * with the same arithmetic as the Java matrix. At the native grid that matrix is exactly the
   * identity (the cubic weights at t = 0 are 0, 1, 0, 0 in floating point too), so the native
   * grid gives the stored embedding bit for bit.
   */
  public static Operand<TFloat32> positionEmbedding(
      Ops tf, Operand<TFloat32> posEmbed, Dims d, Operand<TInt32> gh, Operand<TInt32> gw) {
    int g0 = d.nativeGrid();
    int dim = d.embedDim();
    Operand<TFloat32> clsPos =
        tf.slice(posEmbed, tf.constant(new int[] {0, 0, 0}), tf.constant(new int[] {1, 1, dim})); // [1, 1, D]
    Operand<TFloat32> patchPos =
        tf.reshape(
            tf.slice(posEmbed, tf.constant(new int[] {0, 1, 0}), tf.constant(new int[] {1, g0 * g0, dim})),
            tf.constant(new long[] {g0 * g0, dim})); // [N0, D]
    Operand<TFloat32> matrix = PosEmbed.gridMatrix(tf, g0, g0, gh, gw, d.interpolateOffset()); // [gh*gw, N0]
    Operand<TFloat32> resampled =
        tf.reshape(tf.linalg.matMul(matrix, patchPos), tf.constant(new long[] {1, -1, dim})); // [1, N, D]
    return tf.concat(List.of(clsPos, resampled), tf.constant(1)); // [1, 1+N, D]
  }

  /**
   * Block b's qkv layer for normalised input: norm1's gain and shift fold into its weights, and the
   * softmax scale 1/sqrt(hd) into q's columns, so neither costs a pass over [B, N, D] or [B, H, N, N].
   */
  private static Layers.Linear qkv(Ops tf, Params w, String b, Dims d) {
    int dim = d.embedDim();
    float[] columnScale = new float[3 * dim];
    Arrays.fill(columnScale, 0, dim, (float) (1.0 / Math.sqrt(d.headDim())));
    Arrays.fill(columnScale, dim, 3 * dim, 1f);
    return linear(w, b + "attn.qkv").afterAffine(tf, w.get(b + "norm1.weight"), w.get(b + "norm1.bias"))
        .scaled(tf, tf.constant(columnScale));
  }

  private record AttentionOut(Operand<TFloat32> out, Operand<TFloat32> weights) {}

  private static AttentionOut attention(
      Ops tf, Params w, String b, Dims d, Operand<TFloat32> x, TokenShape shape, Kernels kernels) {
    boolean fused = kernels != Kernels.STOCK;
    int dim = d.embedDim();
    int heads = d.heads();
    int hd = d.headDim();
    Layers.Linear qkvLayer = qkv(tf, w, b, d);
    List<Operand<TFloat32>> parts = new ArrayList<>();
    if (kernels == Kernels.FUSED_BF16) {
      // the matmul without its bias; bias, head layout and split as one op (and one gradient op)
      Operand<TFloat32> z = tf.linalg.matMul(tf.reshape(x, tf.constant(new long[] {-1, dim})), qkvLayer.weight()); // [B*N, 3D]
      z = tf.reshape(z, shape.of(tf, -1, TokenShape.TOKENS, 3, heads, hd)); // [B, N, 3, H, hd]
      for (Operand<TFloat32> part : FusedKernels.qkvHeads(tf, z, qkvLayer.bias())) {
        parts.add(tf.reshape(part, shape.of(tf, -1, heads, TokenShape.TOKENS, hd))); // [B, H, N, hd]
      }
    } else {
      Operand<TFloat32> qkv = linearTokens(tf, x, shape, dim, 3L * dim, qkvLayer); // [B, N, 3D], q scaled
      parts.addAll(splitHeads(tf, qkv, shape, 3, d)); // q, k, v [B, H, N, hd]
    }
    Operand<TFloat32> scores = batchMatMul(tf, parts.get(0), parts.get(1), true, fused); // [B, H, N, N], already scaled
    Operand<TFloat32> attn = fused ? FusedKernels.softmax(tf, scores) : tf.nn.softmax(scores); // [B, H, N, N]
    Operand<TFloat32> out = batchMatMul(tf, attn, parts.get(2), false, fused); // [B, H, N, hd]
    out = tf.linalg.transpose(out, tf.constant(new int[] {0, 2, 1, 3})); // [B, N, H, hd]
    out = tf.reshape(out, shape.of(tf, -1, TokenShape.TOKENS, dim)); // [B, N, D], before attn.proj
    return new AttentionOut(out, attn);
  }
  /**
   * z [B*T, count*D] (or [B, T, count*D]), whose columns are count parts of heads x hd, as count
   * tensors [B, H, T, hd].
   */
  private static List<Operand<TFloat32>> splitHeads(Ops tf, Operand<TFloat32> z, TokenShape shape, int count, Dims d) {
    int heads = d.heads();
    int hd = d.headDim();
    z = tf.reshape(z, shape.of(tf, -1, TokenShape.TOKENS, count, heads, hd)); // [B, T, count, H, hd]
    z = tf.linalg.transpose(z, tf.constant(new int[] {2, 0, 3, 1, 4})); // [count, B, H, T, hd]
    List<Operand<TFloat32>> parts = new ArrayList<>();
    // split, not slice: Split's gradient is a Concat, Slice's a zero-Pad per part plus an AddN
    for (Operand<TFloat32> part : tf.split(tf.constant(0), z, (long) count)) {
      parts.add(tf.reshape(part, shape.of(tf, -1, heads, TokenShape.TOKENS, hd))); // [B, H, T, hd]
    }
    return parts;
  }

  /**
   * The CLS row's self-attention [B, 1, D] (before attn.proj) from the normalised tokens x [B, T, D]:
   * its query against every token's key and value.
   */
  private static Operand<TFloat32> clsAttention(
      Ops tf, Params w, String b, Dims d, Operand<TFloat32> x, TokenShape shape, boolean fused) {
    int dim = d.embedDim();
    int heads = d.heads();
    int hd = d.headDim();
    Layers.Linear qkvLayer = qkv(tf, w, b, d);
    Operand<TInt64> sizes = tf.constant(new long[] {dim, 2L * dim}); // q | k, v columns
    List<org.tensorflow.Output<TFloat32>> weights = tf.splitV(qkvLayer.weight(), sizes, tf.constant(1), 2L).output(); // [D, D], [D, 2D]
    List<org.tensorflow.Output<TFloat32>> biases = tf.splitV(qkvLayer.bias(), sizes, tf.constant(0), 2L).output(); // [D], [2D]
    Operand<TFloat32> xCls =
        tf.reshape(
            tf.slice(x, tf.constant(new int[] {0, 0, 0}), tf.constant(new int[] {-1, 1, -1})),
            tf.constant(new long[] {-1, dim})); // [B, D]
    Operand<TFloat32> q = Layers.linear(tf, xCls, weights.get(0), biases.get(0)); // [B, D], scaled
    q = tf.reshape(q, tf.constant(new long[] {-1, heads, 1, hd})); // [B, H, 1, hd]
    Operand<TFloat32> kv =
        Layers.linear(tf, tf.reshape(x, tf.constant(new long[] {-1, dim})), weights.get(1), biases.get(1)); // [B*T, 2D]
    List<Operand<TFloat32>> parts = splitHeads(tf, kv, shape, 2, d); // k, v [B, H, T, hd]
    Operand<TFloat32> scores = batchMatMul(tf, q, parts.get(0), true, fused); // [B, H, 1, T]
    Operand<TFloat32> attn = fused ? FusedKernels.softmax(tf, scores) : tf.nn.softmax(scores); // [B, H, 1, T]
    Operand<TFloat32> out = batchMatMul(tf, attn, parts.get(1), false, fused); // [B, H, 1, hd]
    return tf.reshape(out, tf.constant(new long[] {-1, 1, dim})); // [B, 1, D]: heads in order, as the transpose would
  }

  /** a @ b over the batch axes (b transposed when adjY): oneDNN's, forward and backward, when fused. */
  private static Operand<TFloat32> batchMatMul(
      Ops tf, Operand<TFloat32> a, Operand<TFloat32> b, boolean adjY, boolean fused) {
    if (fused) {
      return FusedKernels.batchMatMul(tf, a, b, adjY);
    }
    return tf.train.batchMatMul(a, b, TFloat32.class, org.tensorflow.op.train.BatchMatMul.adjY(adjY));
  }

  /** Per-sample residual drop: x / keep * floor(keep + U[0,1)), the reference's drop_path. */
  private static Operand<TFloat32> dropPath(Ops tf, Operand<TFloat32> x, DropPath dp, int slot) {
    Operand<TFloat32> scale = dropPathScale(tf, x, dp, slot);
    return scale == null ? x : tf.math.mul(x, scale);
  }

  /** floor(keep + U[0,1)) / keep per sample of x, [B, 1, 1]; null where nothing is dropped. */
  private static Operand<TFloat32> dropPathScale(Ops tf, Operand<TFloat32> x, DropPath dp, int slot) {
    if (dp == null) {
      return null;
    }
    double rate = dp.rates()[slot % dp.rates().length];
    if (rate <= 0) {
      return null;
    }
    float keep = (float) (1 - rate);
    Operand<TInt32> batch = dp.batch() != null ? dp.batch()
        : tf.slice(tf.shape(x), tf.constant(new int[] {0}), tf.constant(new int[] {1})); // [1]
    Operand<TInt32> maskShape = tf.concat(List.of(batch, tf.constant(new int[] {1, 1})), tf.constant(0));
    Operand<TInt64> seed =
        tf.math.add(dp.seed(), tf.constant(new long[] {0, 1_000_003L * dp.pass() + slot}));
    Operand<TFloat32> u;
    if (dp.shards() == 1) {
      u = tf.random.statelessRandomUniform(maskShape, seed); // [B, 1, 1]
    } else {
      // the global batch's draws (stateless: element i is the same whatever the shape), view-major
      // [views, shards * b]; this shard's b columns of each view
      Operand<TFloat32> all =
          tf.random.statelessRandomUniform(tf.math.mul(batch, tf.constant(new int[] {dp.shards()})), seed); // [shards * B]
      all = tf.reshape(all, tf.constant(new int[] {dp.views(), dp.shards(), -1})); // [views, shards, b]
      u = tf.slice(all, tf.constant(new int[] {0, dp.shard(), 0}), tf.constant(new int[] {-1, 1, -1})); // [views, 1, b]
      u = tf.reshape(u, maskShape); // [B, 1, 1]
    }
    if (dp.rows() != null) {
      u = tf.gather(u, dp.rows(), tf.constant(0)); // [Bs, 1, 1]: the sub-batch's own draws
    }
    // floor(keep + u) / keep on [B, 1, 1], then one multiply over x rather than a divide and a multiply
    return tf.stopGradient(tf.math.div(tf.math.floor(tf.math.add(u, tf.constant(keep))), tf.constant(keep))); // [B, 1, 1]
  }

  /**
   * x + drop_path(in W + b): a residual branch's output layer, added to the stream x [B, T, D].
   * Fused: the matmul without its bias, then bias, drop-path scale and add as one op (one pass over
   * [B, T, D] forward and one back, instead of three each).
   */
  private static Operand<TFloat32> residual(
      Ops tf, Operand<TFloat32> x, Operand<TFloat32> in, long inDim, long dim, Layers.Linear l, TokenShape shape,
      DropPath dp, int slot, boolean fused) {
    if (!fused) {
      return tf.math.add(x, dropPath(tf, linearTokens(tf, in, shape, inDim, dim, l), dp, slot));
    }
    Operand<TFloat32> z = tf.linalg.matMul(tf.reshape(in, tf.constant(new long[] {-1, inDim})), l.weight()); // [B*T, D]
    z = tf.reshape(z, shape.of(tf, -1, TokenShape.TOKENS, dim)); // [B, T, D]
    Operand<TFloat32> scale = dropPathScale(tf, x, dp, slot); // [B, 1, 1]
    return FusedKernels.biasScaleResidual(tf, x, z, l.bias(), scale == null ? tf.constant(new float[] {1f}) : scale);
  }
}
