package dev.dino4j.eval;

import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.model.Layers;
import dev.dino4j.model.Params;
import dev.dino4j.model.VisionTransformer;
import dev.dino4j.model.Weights;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * A frozen backbone-only graph (no DINO head) that turns batches of normalised images into feature
 * vectors. The weights are loaded once into variables under the scope {@code backbone}; the image
 * side stays dynamic in the batch dimension.
 *
 * <p>Features: the final-norm CLS token ({@link Pooling#CLS}, k-NN), or for the linear probe the
 * final-norm CLS tokens of the last {@code n} blocks concatenated, optionally followed by the
 * average of the last block's normed patch tokens (the reference's eval_linear.py).
 */
public final class FeatureExtractor implements AutoCloseable {

  /** Which tokens make the feature. {@code lastBlocks = 1, avgPool = false} is the CLS output. */
  public record Pooling(int lastBlocks, boolean avgPool) {
    public static final Pooling CLS = new Pooling(1, false);
  }

  /** How one dataset image becomes the [S, S, 3] network input at {@code dst[off ..]}. */
  @FunctionalInterface
  public interface View {
    void apply(dev.dino4j.data.Image img, int index, float[] dst, int off);
  }

  private final Graph graph;
  private final Session session;
  private final Placeholder<TFloat32> images;
  private final Operand<TFloat32> features; // [B, F]
  private final Operand<TFloat32> clsAttention; // [B, H, N] last block, CLS row, patches only
  private final int size;
  private final int dim;
  private final VisionTransformer.Dims dims;

  /**
   * @param cfg the config the weights were trained with (model sizes, global size)
   * @param weights backbone weights by official name (extra head weights are ignored)
   * @param size input side in px (the training global size for evaluation; other multiples of
   *     the patch size resample the position embedding)
   */
  public FeatureExtractor(DinoConfig cfg, Weights weights, Pooling pooling, int size) {
    dims = VisionTransformer.Dims.of(cfg.model(), cfg.augment().globalSize());
    if (size % dims.patch() != 0) {
      throw new IllegalArgumentException("image size " + size + " is not a multiple of the patch size " + dims.patch());
    }
    if (pooling.lastBlocks() < 1 || pooling.lastBlocks() > dims.depth()) {
      throw new IllegalArgumentException("last blocks = " + pooling.lastBlocks() + " must be in [1, depth = "
          + dims.depth() + "]");
    }
    this.size = size;
    graph = new Graph();
    try {
      Ops tf = Ops.create(graph);
      Params params = Params.create(tf, "backbone", VisionTransformer.params(dims));
      Ops load = tf.withSubScope("load");
      List<Op> assigns = new ArrayList<>();
      List<Placeholder<TFloat32>> feeds = new ArrayList<>();
      for (Params.Param p : params.all()) {
        Placeholder<TFloat32> ph = load.placeholder(TFloat32.class, Placeholder.shape(Shape.of(p.spec().shape())));
        feeds.add(ph);
        assigns.add(load.assign(p.variable(), ph));
      }
      images = tf.withName("images").placeholder(TFloat32.class,
          Placeholder.shape(Shape.of(-1, size, size, 3))); // [B, S, S, 3]
      VisionTransformer.Output out = VisionTransformer.forward(tf, params, dims, images, size, null);
      features = pool(tf, params, out, pooling);
      int patches = (size / dims.patch()) * (size / dims.patch());
      // the CLS row's attention to the patches only (not to itself or the registers)
      clsAttention = tf.slice(out.lastAttention(), tf.constant(new int[] {0, 0, 0, dims.prefixTokens()}),
          tf.constant(new int[] {-1, -1, 1, patches})); // [B, H, 1, N]
      dim = (int) features.shape().get(1);
      session = new Session(graph);
      Session.Runner r = session.runner();
      List<TFloat32> tensors = new ArrayList<>();
      try {
        for (int i = 0; i < feeds.size(); i++) {
          Params.Param p = params.all().get(i);
          Weights.Tensor t = weights.get(p.spec().name());
          if (!java.util.Arrays.equals(t.shape(), p.spec().shape())) {
            throw new IllegalArgumentException(p.spec().name() + ": weights have shape "
                + java.util.Arrays.toString(t.shape()) + ", the config needs " + java.util.Arrays.toString(p.spec().shape()));
          }
          TFloat32 tensor = TFloat32.tensorOf(Shape.of(t.shape()), DataBuffers.of(t.values(), true, false));
          tensors.add(tensor);
          r.feed(feeds.get(i), tensor);
          r.addTarget(assigns.get(i));
        }
        r.run().close();
      } finally {
        tensors.forEach(TFloat32::close);
      }
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  private Operand<TFloat32> pool(Ops tf, Params w, VisionTransformer.Output out, Pooling pooling) {
    if (pooling.equals(Pooling.CLS)) {
      return out.cls(); // [B, D]
    }
    int d = dims.embedDim();
    List<Operand<TFloat32>> parts = new ArrayList<>();
    List<Operand<TFloat32>> blocks = out.blockOutputs();
    Operand<TFloat32> lastNormed = null;
    for (int i = blocks.size() - pooling.lastBlocks(); i < blocks.size(); i++) {
      Operand<TFloat32> normed = Layers.layerNorm(tf, blocks.get(i), w.get("norm.weight"), w.get("norm.bias"),
          VisionTransformer.LN_EPS); // [B, P+N, D]
      parts.add(tf.reshape(tf.slice(normed, tf.constant(new int[] {0, 0, 0}), tf.constant(new int[] {-1, 1, -1})),
          tf.constant(new long[] {-1, d}))); // [B, D]
      lastNormed = normed;
    }
    if (pooling.avgPool()) {
      Operand<TFloat32> patches = tf.slice(lastNormed, tf.constant(new int[] {0, dims.prefixTokens(), 0}),
          tf.constant(new int[] {-1, -1, -1})); // [B, N, D]: the patches, not CLS or the registers
      parts.add(tf.math.mean(patches, tf.constant(1))); // [B, D]
    }
    Operand<TFloat32> cat = parts.size() == 1 ? parts.get(0) : tf.concat(parts, tf.constant(1)); // [B, F]
    return tf.ensureShape(cat, Shape.of(-1, (long) d * parts.size()));
  }

  /** Feature width F. */
  public int dim() {
    return dim;
  }

  /** Input side S, px. */
  public int size() {
    return size;
  }

  public VisionTransformer.Dims dims() {
    return dims;
  }

  /** Features of {@code batch} images // [batch, S, S, 3] -> [batch, F]. */
  public float[] run(float[] pixels, int batch) {
    float[] out = new float[batch * dim];
    try (TFloat32 in = TFloat32.tensorOf(Shape.of(batch, size, size, 3), DataBuffers.of(pixels, true, false));
        Result res = session.runner().feed(images, in).fetch(features).run()) {
      ((TFloat32) res.get(0)).copyTo(DataBuffers.of(out, false, false));
    }
    return out;
  }

  /** The last block's CLS-to-patch attention // [batch, S, S, 3] -> [batch, H, N]. */
  public float[] lastAttention(float[] pixels, int batch) {
    int n = (size / dims.patch()) * (size / dims.patch());
    float[] out = new float[batch * dims.heads() * n];
    try (TFloat32 in = TFloat32.tensorOf(Shape.of(batch, size, size, 3), DataBuffers.of(pixels, true, false));
        Result res = session.runner().feed(images, in).fetch(clsAttention).run()) {
      ((TFloat32) res.get(0)).copyTo(DataBuffers.of(out, false, false));
    }
    return out;
  }

  /**
   * Features of the first {@code limit} images of {@code data} (all when limit <= 0) in batches of
   * {@code batchSize}; the next batch is decoded and resized on another thread while the graph
   * runs the current one.
   */
  public Features extract(ImageDataset data, int limit, View view, int batchSize, Progress progress) {
    int n = limit > 0 ? Math.min(limit, data.size()) : data.size();
    return extract(data, indices(n), view, batchSize, progress);
  }

  /** Features of the images {@code indices} of {@code data}, in that order. */
  public Features extract(ImageDataset data, int[] indices, View view, int batchSize, Progress progress) {
    return extractWith(data, indices, view, batchSize, progress, this::run, dim, size);
  }

  /**
   * The batching loop shared with the raw-pixel baseline: {@code net} maps a batch of views
   * [b, S, S, 3] to features [b, F].
   */
  static Features extractWith(ImageDataset data, int[] indices, View view, int batchSize, Progress progress,
      java.util.function.BiFunction<float[], Integer, float[]> net, int dim, int size) {
    int n = indices.length;
    float[] values = new float[Math.multiplyExact(n, dim)];
    int[] labels = new int[n];
    int pixelsPerImage = size * size * 3;
    ExecutorService prep = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "eval-views");
      t.setDaemon(true);
      return t;
    });
    try {
      Future<float[]> next = prep.submit(() -> views(data, indices, 0, Math.min(batchSize, n), view, pixelsPerImage));
      for (int start = 0; start < n; start += batchSize) {
        int b = Math.min(batchSize, n - start);
        float[] batch = next.get();
        int nextStart = start + b;
        if (nextStart < n) {
          int nb = Math.min(batchSize, n - nextStart);
          next = prep.submit(() -> views(data, indices, nextStart, nb, view, pixelsPerImage));
        }
        float[] f = net.apply(batch, b);
        System.arraycopy(f, 0, values, start * dim, b * dim);
        for (int i = 0; i < b; i++) {
          labels[start + i] = data.label(indices[start + i]);
        }
        progress.update(start + b);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("feature extraction interrupted", e);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof UncheckedIOException u) {
        throw u;
      }
      if (c instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(c.getMessage(), c);
    } finally {
      prep.shutdownNow();
    }
    return new Features(n, dim, values, labels);
  }

  private static float[] views(ImageDataset data, int[] indices, int start, int b, View view, int pixels) {
    float[] batch = new float[b * pixels];
    for (int i = 0; i < b; i++) {
      int idx = indices[start + i];
      try {
        view.apply(data.image(idx), idx, batch, i * pixels);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return batch;
  }

  static int[] indices(int n) {
    int[] idx = new int[n];
    for (int i = 0; i < n; i++) {
      idx[i] = i;
    }
    return idx;
  }

  @Override
  public void close() {
    if (session != null) {
      session.close();
    }
    graph.close();
  }
}
