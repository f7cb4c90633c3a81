package dev.dino4j.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.linalg.MatMul;
import org.tensorflow.op.nn.TopK;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Weighted k-nearest-neighbour classification, the DINO k-NN protocol (eval_knn.py): features
 * L2-normalised, similarity = cosine, the k most similar training images vote for their class with
 * weight exp(sim / T), the class with the largest vote is the prediction (top-1), the five largest
 * are top-5.
 *
 * <p>Memory stays bounded whatever the sizes: test features go through in chunks of {@code
 * testChunk} rows, each against training chunks of {@code trainChunk} rows (a [testChunk,
 * trainChunk] similarity block in TensorFlow, then its top-k), keeping a running top-k per test
 * image in Java. 1.2M x 50k at D = 384 needs the training features (1.8 GB) plus one block.
 */
public final class Knn {

  /** Accuracy for one k, in percent. */
  public record Result(int k, double top1, double top5) {}

  /** Defaults of the reference: 10, 20, 100, 200 neighbours, T = 0.07. */
  public static final int[] DEFAULT_KS = {10, 20, 100, 200};

  public static final double DEFAULT_TEMPERATURE = 0.07;

  private Knn() {}

  /** With default chunk sizes (512 test rows x 65536 training rows per block). */
  public static List<Result> evaluate(Features train, Features test, int[] ks, double temperature, Progress progress) {
    return evaluate(train, test, ks, temperature, 512, 65536, progress);
  }

  /**
   * k-NN accuracies of {@code test} against {@code train}, one result per k. The number of classes
   * is taken from the labels of both sets.
   */
  public static List<Result> evaluate(Features train, Features test, int[] ks, double temperature,
      int testChunk, int trainChunk, Progress progress) {
    Neighbours nb = neighbours(train, test, max(ks), testChunk, trainChunk, progress);
    int classes = Math.max(train.numClasses(), test.numClasses());
    return vote(nb, train.labels(), test.labels(), classes, ks, temperature);
  }

  /** The k nearest training rows of each test row: similarities (descending) and indices. */
  public record Neighbours(int rows, int k, float[] sims, int[] indices) {}

  /** The {@code k} most cosine-similar training rows for every test row. */
  public static Neighbours neighbours(Features train, Features test, int k, int testChunk, int trainChunk,
      Progress progress) {
    if (train.dim() != test.dim()) {
      throw new IllegalArgumentException("train features have " + train.dim() + " dims, test features "
          + test.dim() + "; extract both with the same network");
    }
    if (testChunk < 1 || trainChunk < 1) {
      throw new IllegalArgumentException("chunk sizes must be >= 1, got " + testChunk + ", " + trainChunk);
    }
    Features tr = train.l2Normalized();
    Features te = test.l2Normalized();
    int d = tr.dim();
    int kk = Math.min(k, tr.count());
    int rows = te.count();
    float[] bestSim = new float[rows * kk];
    int[] bestIdx = new int[rows * kk];
    Arrays.fill(bestSim, Float.NEGATIVE_INFINITY);
    Arrays.fill(bestIdx, -1);
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> q = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, d))); // [C, D]
      Placeholder<TFloat32> m = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, d))); // [M, D]
      Placeholder<TInt32> kIn = tf.placeholder(TInt32.class, Placeholder.shape(Shape.scalar()));
      Operand<TFloat32> sims = tf.linalg.matMul(q, m, MatMul.transposeB(true)); // [C, M]
      TopK<TFloat32, TInt32> top = tf.nn.topK(sims, kIn, TInt32.class, TopK.sorted(true)); // [C, k] each
      List<TFloat32> trainChunks = new ArrayList<>();
      try (Session s = new Session(g)) {
        for (int start = 0; start < tr.count(); start += trainChunk) {
          int n = Math.min(trainChunk, tr.count() - start);
          trainChunks.add(TFloat32.tensorOf(Shape.of(n, d),
              DataBuffers.of(Arrays.copyOfRange(tr.values(), start * d, (start + n) * d), true, false)));
        }
        float[] chunkSim = new float[testChunk * kk];
        int[] chunkIdx = new int[testChunk * kk];
        for (int ts = 0; ts < rows; ts += testChunk) {
          int c = Math.min(testChunk, rows - ts);
          try (TFloat32 qT = TFloat32.tensorOf(Shape.of(c, d),
              DataBuffers.of(Arrays.copyOfRange(te.values(), ts * d, (ts + c) * d), true, false))) {
            for (int j = 0; j < trainChunks.size(); j++) {
              int base = j * trainChunk;
              int n = (int) trainChunks.get(j).shape().get(0);
              int kc = Math.min(kk, n);
              try (TInt32 kT = TInt32.scalarOf(kc);
                  org.tensorflow.Result res = s.runner().feed(q, qT).feed(m, trainChunks.get(j)).feed(kIn, kT)
                      .fetch(top.values()).fetch(top.indices()).run()) {
                ((TFloat32) res.get(0)).copyTo(DataBuffers.of(chunkSim, false, false));
                ((TInt32) res.get(1)).copyTo(DataBuffers.of(chunkIdx, false, false));
              }
              for (int r = 0; r < c; r++) {
                merge(bestSim, bestIdx, (ts + r) * kk, kk, chunkSim, chunkIdx, r * kc, kc, base);
              }
            }
          }
          progress.update(ts + c);
        }
      } finally {
        trainChunks.forEach(TFloat32::close);
      }
    }
    return new Neighbours(rows, kk, bestSim, bestIdx);
  }

  /**
   * Merges a chunk's sorted top list into a row's running sorted top list (both descending); on
   * equal similarity the running list (earlier training rows) goes first, as one big top-k would
   * order them.
   */
  private static void merge(float[] bestSim, int[] bestIdx, int off, int k, float[] sim, int[] idx, int soff,
      int sk, int base) {
    float[] ms = new float[k];
    int[] mi = new int[k];
    int a = 0;
    int b = 0;
    for (int o = 0; o < k; o++) {
      boolean takeA = b >= sk || (a < k && bestSim[off + a] >= sim[soff + b]);
      if (takeA) {
        ms[o] = bestSim[off + a];
        mi[o] = bestIdx[off + a];
        a++;
      } else {
        ms[o] = sim[soff + b];
        mi[o] = base + idx[soff + b];
        b++;
      }
    }
    System.arraycopy(ms, 0, bestSim, off, k);
    System.arraycopy(mi, 0, bestIdx, off, k);
  }

  /** The weighted vote for each k over precomputed neighbours. */
  public static List<Result> vote(Neighbours nb, int[] trainLabels, int[] testLabels, int classes, int[] ks,
      double temperature) {
    if (!(temperature > 0)) {
      throw new IllegalArgumentException("temperature must be > 0, got " + temperature);
    }
    List<Result> out = new ArrayList<>();
    double[] votes = new double[classes];
    for (int k : ks) {
      int kk = Math.min(k, nb.k());
      long top1 = 0;
      long top5 = 0;
      int counted = 0;
      for (int r = 0; r < nb.rows(); r++) {
        int truth = testLabels[r];
        if (truth < 0) {
          continue; // unlabelled test image
        }
        counted++;
        Arrays.fill(votes, 0);
        for (int j = 0; j < kk; j++) {
          int i = nb.indices()[r * nb.k() + j];
          int label = trainLabels[i];
          if (label >= 0) {
            votes[label] += Math.exp(nb.sims()[r * nb.k() + j] / temperature);
          }
        }
        int rank = rank(votes, truth);
        if (rank == 0) {
          top1++;
        }
        if (rank < 5) {
          top5++;
        }
      }
      double n = Math.max(counted, 1);
      out.add(new Result(k, 100.0 * top1 / n, 100.0 * top5 / n));
    }
    return out;
  }

  /**
   * Place of class {@code truth} when classes are sorted by vote, descending; a tie is broken
   * towards the lower class index (deterministic, like a stable sort).
   */
  static int rank(double[] votes, int truth) {
    int rank = 0;
    double v = votes[truth];
    for (int c = 0; c < votes.length; c++) {
      if (votes[c] > v || (votes[c] == v && c < truth)) {
        rank++;
      }
    }
    return rank;
  }

  /** Parses "10,20,100,200" into positive ks. */
  public static int[] parseKs(String text) {
    String[] parts = text.split(",");
    int[] ks = new int[parts.length];
    for (int i = 0; i < parts.length; i++) {
      try {
        ks[i] = Integer.parseInt(parts[i].trim());
      } catch (NumberFormatException e) {
        ks[i] = 0;
      }
      if (ks[i] < 1) {
        throw new IllegalArgumentException("--k '" + text + "': each k must be a positive integer, as in 10,20,100,200");
      }
    }
    return ks;
  }

  static int max(int[] ks) {
    int m = 1;
    for (int k : ks) {
      m = Math.max(m, k);
    }
    return m;
  }

  /** The table the commands print: one row per k. */
  public static String table(String title, List<Result> results) {
    StringBuilder sb = new StringBuilder(title).append('\n');
    sb.append(String.format(java.util.Locale.ROOT, "  %5s  %7s  %7s%n", "k", "top-1", "top-5"));
    for (Result r : results) {
      sb.append(String.format(java.util.Locale.ROOT, "  %5d  %6.2f%%  %6.2f%%%n", r.k(), r.top1(), r.top5()));
    }
    return sb.toString();
  }
}
