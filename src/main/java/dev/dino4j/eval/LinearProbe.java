package dev.dino4j.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

/**
 * The linear evaluation protocol (eval_linear.py): a linear classifier on frozen features,
 * SGD with momentum, lr cosine-annealed per epoch to 0 (CosineAnnealingLR), test accuracy after
 * every epoch, the best top-1 reported.
 *
 * <p>Resumable: after each epoch the classifier, its momentum buffers, the epoch and the best
 * accuracy go to {@code <output>/checkpoints/epoch-NNNN/} (a hidden temporary folder renamed into
 * place, then {@code latest} replaced by an atomic rename, as the training checkpoints); a new run
 * in the same folder continues after the last complete epoch, and refuses a folder written with
 * other settings. Per-epoch lines go to {@code <output>/linear.jsonl}.
 */
public final class LinearProbe {

  private static final Logger LOG = LogManager.getLogger(LinearProbe.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Training settings. {@code lr} is the actual peak lr (already scaled by batch / 256). */
  public record Options(int epochs, int batchSize, double lr, double momentum, double weightDecay, long seed) {
    public Options {
      if (epochs < 1 || batchSize < 1 || !(lr > 0) || momentum < 0 || momentum >= 1 || weightDecay < 0) {
        throw new IllegalArgumentException("linear probe needs epochs >= 1, batch >= 1, lr > 0, momentum in [0, 1),"
            + " weight decay >= 0; got " + epochs + ", " + batchSize + ", " + lr + ", " + momentum + ", " + weightDecay);
      }
    }
  }

  /**
   * Training features for one epoch: {@code features(epoch, indices)} returns [indices.length, F]
   * (recomputed with fresh augmentation, or rows of a cache).
   */
  public interface Source {
    int size();

    int dim();

    int label(int index);

    int numClasses();

    float[] features(int epoch, int[] indices);
  }

  /** Cached features: the same rows every epoch (the {@code --no-augment} mode). */
  public static Source cached(Features f) {
    return new Source() {
      public int size() {
        return f.count();
      }

      public int dim() {
        return f.dim();
      }

      public int label(int index) {
        return f.labels()[index];
      }

      public int numClasses() {
        return f.numClasses();
      }

      public float[] features(int epoch, int[] indices) {
        float[] out = new float[indices.length * f.dim()];
        for (int i = 0; i < indices.length; i++) {
          System.arraycopy(f.values(), indices[i] * f.dim(), out, i * f.dim(), f.dim());
        }
        return out;
      }
    };
  }

  /** The outcome: best and last accuracies (percent) and the epoch of the best. */
  public record Result(double bestTop1, double bestTop5, int bestEpoch, double lastTop1, int epochs) {}

  private LinearProbe() {}

  /** lr of epoch {@code e}: CosineAnnealingLR(T_max = epochs, eta_min = 0), stepped per epoch. */
  static double lr(Options o, int e) {
    return o.lr() * 0.5 * (1 + Math.cos(Math.PI * e / o.epochs()));
  }

  /**
   * Trains (or resumes) and returns the best test accuracy. {@code output} may be null (no
   * checkpoints, no log); {@code key} describes features and settings so that a resume with other
   * ones is refused.
   */
  public static Result train(Source src, Features test, Options o, Path output, String key, boolean showProgress)
      throws IOException {
    int classes = Math.max(src.numClasses(), test.numClasses());
    int epoch0 = 0;
    double best1 = 0;
    double best5 = 0;
    int bestEpoch = -1;
    double last1 = 0;
    if (output != null) {
      Files.createDirectories(output);
    }
    try (LinearClassifier clf = new LinearClassifier(src.dim(), classes, o.momentum(), o.weightDecay())) {
      Path latest = output == null ? null : latest(output);
      if (latest != null) {
        Map<?, ?> state = JSON.readValue(latest.resolve("state.json").toFile(), Map.class);
        if (!key.equals(state.get("key"))) {
          throw new IllegalStateException(output + " holds a linear probe trained with other settings:\n  stored: "
              + state.get("key") + "\n  now:    " + key + "\nuse a new --output folder");
        }
        clf.set(new LinearClassifier.State(
            Npy.read(latest.resolve("weight.npy")).floats(), Npy.read(latest.resolve("bias.npy")).floats(),
            Npy.read(latest.resolve("momentum_weight.npy")).floats(),
            Npy.read(latest.resolve("momentum_bias.npy")).floats()));
        epoch0 = ((Number) state.get("epoch")).intValue() + 1;
        best1 = ((Number) state.get("best_top1")).doubleValue();
        best5 = ((Number) state.get("best_top5")).doubleValue();
        bestEpoch = ((Number) state.get("best_epoch")).intValue();
        last1 = ((Number) state.get("last_top1")).doubleValue();
        LOG.info("resuming the linear probe from {} (epoch {} of {} done, best top-1 {})", latest, epoch0, o.epochs(),
            best1);
      } else {
        clf.initialize(o.seed());
      }
      int n = src.size();
      int[] labels = new int[n];
      for (int i = 0; i < n; i++) {
        labels[i] = src.label(i);
      }
      for (int e = epoch0; e < o.epochs(); e++) {
        long t0 = System.nanoTime();
        int[] order = shuffled(n, o.seed(), e);
        float lr = (float) lr(o, e);
        Progress p = showProgress ? Progress.of(String.format(Locale.ROOT, "linear epoch %d/%d", e + 1, o.epochs()), n)
            : Progress.QUIET;
        double lossSum = 0;
        int steps = 0;
        // features in blocks of 32 batches: augmented views are recomputed through the backbone
        int block = o.batchSize() * 32;
        for (int bs = 0; bs < n; bs += block) {
          int[] idx = java.util.Arrays.copyOfRange(order, bs, Math.min(n, bs + block));
          float[] feats = src.features(e, idx);
          for (int s = 0; s < idx.length; s += o.batchSize()) {
            int b = Math.min(o.batchSize(), idx.length - s);
            float[] xs = java.util.Arrays.copyOfRange(feats, s * src.dim(), (s + b) * src.dim());
            int[] ys = new int[b];
            for (int i = 0; i < b; i++) {
              ys[i] = labels[idx[s + i]];
            }
            float loss = clf.step(xs, ys, b, lr);
            if (!Float.isFinite(loss)) {
              throw new IllegalStateException("linear probe loss is " + loss + " at epoch " + e + " (lr " + lr
                  + "); lower --lr");
            }
            lossSum += loss;
            steps++;
          }
          p.update(Math.min(n, bs + block));
        }
        double[] acc = clf.accuracy(test);
        last1 = acc[0];
        if (acc[0] > best1 || bestEpoch < 0) {
          best1 = acc[0];
          best5 = acc[1];
          bestEpoch = e;
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        LOG.info(String.format(Locale.ROOT, "linear epoch %d/%d: loss %.4f, lr %.2e, test top-1 %.2f%% top-5 %.2f%%"
            + " (best %.2f%% at epoch %d), %.1f s", e + 1, o.epochs(), lossSum / steps, lr, acc[0], acc[1], best1,
            bestEpoch + 1, secs));
        if (output != null) {
          Map<String, Object> state = new LinkedHashMap<>();
          state.put("epoch", e);
          state.put("loss", lossSum / steps);
          state.put("lr", (double) lr);
          state.put("top1", acc[0]);
          state.put("top5", acc[1]);
          state.put("best_top1", best1);
          state.put("best_top5", best5);
          state.put("best_epoch", bestEpoch);
          state.put("last_top1", last1);
          state.put("seconds", secs);
          Files.writeString(output.resolve("linear.jsonl"), JSON.writeValueAsString(state) + "\n",
              StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
          state.put("key", key);
          save(output, e, clf.get(), state);
        }
      }
    }
    return new Result(best1, best5, bestEpoch + 1, last1, o.epochs());
  }

  /** The permutation of epoch {@code e}: Fisher-Yates from (seed, epoch), the same on resume. */
  static int[] shuffled(int n, long seed, int epoch) {
    int[] order = FeatureExtractor.indices(n);
    SplittableRandom rng = new SplittableRandom(seed * 1_000_003L + epoch);
    for (int i = n - 1; i > 0; i--) {
      int j = rng.nextInt(i + 1);
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    return order;
  }

  /** The newest complete checkpoint of an output folder, or null. */
  static Path latest(Path output) throws IOException {
    Path pointer = output.resolve("checkpoints").resolve("latest");
    if (!Files.isRegularFile(pointer)) {
      return null;
    }
    Path dir = output.resolve("checkpoints").resolve(Files.readString(pointer).trim());
    if (!Files.isRegularFile(dir.resolve("state.json"))) {
      throw new IOException(pointer + " names " + dir + ", which holds no state.json; delete " + output
          + " to start over");
    }
    return dir;
  }

  private static void save(Path output, int epoch, LinearClassifier.State s, Map<String, Object> state)
      throws IOException {
    Path ckpts = output.resolve("checkpoints");
    Files.createDirectories(ckpts);
    String name = String.format(Locale.ROOT, "epoch-%04d", epoch);
    Path tmp = Files.createTempDirectory(ckpts, ".tmp-" + name);
    Npy.write(tmp.resolve("weight.npy"), s.weight(), s.weight().length / s.bias().length, s.bias().length);
    Npy.write(tmp.resolve("bias.npy"), s.bias(), s.bias().length);
    Npy.write(tmp.resolve("momentum_weight.npy"), s.weightMomentum(), s.weight().length / s.bias().length,
        s.bias().length);
    Npy.write(tmp.resolve("momentum_bias.npy"), s.biasMomentum(), s.bias().length);
    Files.writeString(tmp.resolve("state.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(state));
    Path dest = ckpts.resolve(name);
    deleteTree(dest);
    Files.move(tmp, dest, StandardCopyOption.ATOMIC_MOVE);
    Path pointerTmp = ckpts.resolve(".latest.tmp");
    Files.writeString(pointerTmp, name + "\n");
    Files.move(pointerTmp, ckpts.resolve("latest"), StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
    try (Stream<Path> old = Files.list(ckpts)) { // keep only the newest
      for (Path p : old.filter(p -> p.getFileName().toString().startsWith("epoch-") && !p.equals(dest)).toList()) {
        deleteTree(p);
      }
    }
  }

  private static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(p)) {
      for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(q);
      }
    }
  }
}
