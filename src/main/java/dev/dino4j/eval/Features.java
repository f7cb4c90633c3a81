package dev.dino4j.eval;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Feature vectors of a labelled image set: {@code values} [count, dim] row-major, {@code labels}
 * [count] in [0, numClasses) (or -1 for unlabelled images).
 */
public record Features(int count, int dim, float[] values, int[] labels) {

  public Features {
    if ((long) count * dim != values.length || labels.length != count) {
      throw new IllegalArgumentException("features [" + count + ", " + dim + "] need " + (long) count * dim
          + " values and " + count + " labels, got " + values.length + " and " + labels.length);
    }
  }

  /** 1 + the largest label (0 when unlabelled). */
  public int numClasses() {
    int max = -1;
    for (int l : labels) {
      max = Math.max(max, l);
    }
    return max + 1;
  }

  /** Row {@code i} copied out. */
  public float[] row(int i) {
    float[] r = new float[dim];
    System.arraycopy(values, i * dim, r, 0, dim);
    return r;
  }

  /** A copy with every row scaled to unit L2 norm (rows of norm < 1e-12 are left as they are). */
  public Features l2Normalized() {
    float[] v = values.clone();
    for (int i = 0; i < count; i++) {
      double s = 0;
      for (int j = i * dim; j < (i + 1) * dim; j++) {
        s += (double) v[j] * v[j];
      }
      double n = Math.sqrt(s);
      if (n > 1e-12) {
        float inv = (float) (1.0 / n);
        for (int j = i * dim; j < (i + 1) * dim; j++) {
          v[j] *= inv;
        }
      }
    }
    return new Features(count, dim, v, labels);
  }

  /** Writes {@code <prefix>-features.npy} (float32 [N, D]) and {@code <prefix>-labels.npy} (int32 [N]). */
  public void save(Path dir, String prefix) throws IOException {
    Files.createDirectories(dir);
    Npy.write(dir.resolve(prefix + "-features.npy"), values, count, dim);
    Npy.write(dir.resolve(prefix + "-labels.npy"), labels, count);
  }

  /** Whether {@link #save} output for {@code prefix} exists in {@code dir}. */
  public static boolean exists(Path dir, String prefix) {
    return Files.isRegularFile(dir.resolve(prefix + "-features.npy"))
        && Files.isRegularFile(dir.resolve(prefix + "-labels.npy"));
  }

  /** Reads what {@link #save} wrote (or numpy arrays of the same dtypes and shapes). */
  public static Features load(Path dir, String prefix) throws IOException {
    Path fp = dir.resolve(prefix + "-features.npy");
    Path lp = dir.resolve(prefix + "-labels.npy");
    Npy.Array f = Npy.read(fp);
    Npy.Array l = Npy.read(lp);
    if (f.floats() == null || f.shape().length != 2) {
      throw new IOException(fp + ": expected a float32 [N, D] array, got shape "
          + java.util.Arrays.toString(f.shape()));
    }
    if (l.ints() == null || l.shape().length != 1 || l.rows() != f.rows()) {
      throw new IOException(lp + ": expected int32 [" + f.rows() + "] labels, got shape "
          + java.util.Arrays.toString(l.shape()));
    }
    return new Features(f.rows(), f.cols(), f.floats(), l.ints());
  }
}
