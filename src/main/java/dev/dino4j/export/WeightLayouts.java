package dev.dino4j.export;

import dev.dino4j.model.Weights;
import java.util.Arrays;
import java.util.List;

/**
 * The tensor layout changes between PyTorch and dino4j (TensorFlow): linear weights are [out, in]
 * in PyTorch and [in, out] here, the patch conv kernel is [out, in, kh, kw] there and [kh, kw,
 * in, out] here, and Hugging Face keeps q, k and v as three [D, D] projections where the official
 * ViT has one fused [3D, D] qkv (rows q | k | v, each heads x head_dim) - which is dino4j's [D,
 * 3D] after the transpose.
 */
public final class WeightLayouts {

  private WeightLayouts() {}

  /** [a, b] -> [b, a]: a PyTorch linear weight [out, in] to TF's [in, out], and back. */
  public static Weights.Tensor transpose(Weights.Tensor t) {
    long[] s = t.shape();
    requireRank(t, 2);
    int rows = (int) s[0];
    int cols = (int) s[1];
    float[] src = t.values();
    float[] out = new float[src.length];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < cols; c++) {
        out[c * rows + r] = src[r * cols + c];
      }
    }
    return new Weights.Tensor(new long[] {cols, rows}, out);
  }

  /** Conv kernel [out, in, kh, kw] (PyTorch) -> [kh, kw, in, out] (TF). */
  public static Weights.Tensor convFromTorch(Weights.Tensor t) {
    requireRank(t, 4);
    long[] s = t.shape();
    int o = (int) s[0];
    int i = (int) s[1];
    int kh = (int) s[2];
    int kw = (int) s[3];
    float[] src = t.values();
    float[] out = new float[src.length];
    for (int a = 0; a < o; a++) {
      for (int b = 0; b < i; b++) {
        for (int y = 0; y < kh; y++) {
          for (int x = 0; x < kw; x++) {
            out[((y * kw + x) * i + b) * o + a] = src[((a * i + b) * kh + y) * kw + x];
          }
        }
      }
    }
    return new Weights.Tensor(new long[] {kh, kw, i, o}, out);
  }

  /** Conv kernel [kh, kw, in, out] (TF) -> [out, in, kh, kw] (PyTorch). */
  public static Weights.Tensor convToTorch(Weights.Tensor t) {
    requireRank(t, 4);
    long[] s = t.shape();
    int kh = (int) s[0];
    int kw = (int) s[1];
    int i = (int) s[2];
    int o = (int) s[3];
    float[] src = t.values();
    float[] out = new float[src.length];
    for (int y = 0; y < kh; y++) {
      for (int x = 0; x < kw; x++) {
        for (int b = 0; b < i; b++) {
          for (int a = 0; a < o; a++) {
            out[((a * i + b) * kh + y) * kw + x] = src[((y * kw + x) * i + b) * o + a];
          }
        }
      }
    }
    return new Weights.Tensor(new long[] {o, i, kh, kw}, out);
  }

  /**
   * Three PyTorch projections q, k, v [D, D] ([out, in]) -> dino4j's fused qkv weight [D, 3D]:
   * column block p holds projection p transposed, as the official fused [3D, D] transposed.
   */
  public static Weights.Tensor fuseQkvWeight(Weights.Tensor q, Weights.Tensor k, Weights.Tensor v) {
    List<Weights.Tensor> parts = List.of(q, k, v);
    for (Weights.Tensor p : parts) {
      requireRank(p, 2);
      if (!Arrays.equals(p.shape(), q.shape())) {
        throw new IllegalArgumentException("q, k and v shapes differ: " + Arrays.toString(q.shape()) + ", "
            + Arrays.toString(k.shape()) + ", " + Arrays.toString(v.shape()));
      }
    }
    int out = (int) q.shape()[0];
    int in = (int) q.shape()[1];
    float[] fused = new float[3 * out * in]; // [in, 3 * out]
    for (int p = 0; p < 3; p++) {
      float[] src = parts.get(p).values();
      for (int r = 0; r < out; r++) {
        for (int c = 0; c < in; c++) {
          fused[c * 3 * out + p * out + r] = src[r * in + c];
        }
      }
    }
    return new Weights.Tensor(new long[] {in, 3L * out}, fused);
  }

  /** q, k, v biases [D] -> [3D]. */
  public static Weights.Tensor fuseQkvBias(Weights.Tensor q, Weights.Tensor k, Weights.Tensor v) {
    for (Weights.Tensor p : List.of(q, k, v)) {
      requireRank(p, 1);
      if (p.shape()[0] != q.shape()[0]) {
        throw new IllegalArgumentException("q, k and v bias lengths differ: " + q.shape()[0] + ", "
            + k.shape()[0] + ", " + v.shape()[0]);
      }
    }
    int n = (int) q.shape()[0];
    float[] out = new float[3 * n];
    System.arraycopy(q.values(), 0, out, 0, n);
    System.arraycopy(k.values(), 0, out, n, n);
    System.arraycopy(v.values(), 0, out, 2 * n, n);
    return new Weights.Tensor(new long[] {3L * n}, out);
  }

  /** dino4j's fused qkv weight [D, 3D] -> q, k, v in PyTorch layout [D, D] each. */
  public static List<Weights.Tensor> splitQkvWeight(Weights.Tensor qkv) {
    requireRank(qkv, 2);
    int in = (int) qkv.shape()[0];
    if (qkv.shape()[1] % 3 != 0) {
      throw new IllegalArgumentException("qkv weight " + Arrays.toString(qkv.shape()) + " has no 3 equal parts");
    }
    int out = (int) qkv.shape()[1] / 3;
    float[] src = qkv.values();
    Weights.Tensor[] parts = new Weights.Tensor[3];
    for (int p = 0; p < 3; p++) {
      float[] dst = new float[out * in];
      for (int r = 0; r < out; r++) {
        for (int c = 0; c < in; c++) {
          dst[r * in + c] = src[c * 3 * out + p * out + r];
        }
      }
      parts[p] = new Weights.Tensor(new long[] {out, in}, dst);
    }
    return List.of(parts);
  }

  /** qkv bias [3D] -> q, k, v biases [D] each. */
  public static List<Weights.Tensor> splitQkvBias(Weights.Tensor qkv) {
    requireRank(qkv, 1);
    int n = (int) qkv.shape()[0] / 3;
    Weights.Tensor[] parts = new Weights.Tensor[3];
    for (int p = 0; p < 3; p++) {
      parts[p] = new Weights.Tensor(new long[] {n}, Arrays.copyOfRange(qkv.values(), p * n, (p + 1) * n));
    }
    return List.of(parts);
  }

  private static void requireRank(Weights.Tensor t, int rank) {
    if (t.shape().length != rank) {
      throw new IllegalArgumentException("expected a rank-" + rank + " tensor, got shape " + Arrays.toString(t.shape()));
    }
  }
}
