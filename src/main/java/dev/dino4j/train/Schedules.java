package dev.dino4j.train;

import dev.dino4j.config.DinoConfig;

/**
 * Per-step (and, for the teacher temperature, per-epoch) schedules, precomputed in Java and fed to
 * the graph as scalars each step, with the reference's exact arithmetic (utils.cosine_scheduler).
 */
public record Schedules(double[] lr, double[] weightDecay, double[] momentum, double[] teacherTemp) {

  /** All schedules of a run with {@code stepsPerEpoch} steps per epoch. */
  public static Schedules of(DinoConfig cfg, int stepsPerEpoch) {
    DinoConfig.Optim o = cfg.optim();
    int epochs = cfg.train().epochs();
    // Linear scaling rule: the configured lr is for a batch of 256.
    double peakLr = o.lr() * cfg.train().batchSize() / 256.0;
    return new Schedules(
        cosine(peakLr, o.minLr(), epochs, stepsPerEpoch, o.warmupEpochs(), 0.0),
        cosine(o.weightDecay(), o.weightDecayEnd(), epochs, stepsPerEpoch, 0, 0.0),
        cosine(o.momentumTeacher(), 1.0, epochs, stepsPerEpoch, 0, 0.0),
        teacherTemperature(
            cfg.loss().warmupTeacherTemp(),
            cfg.loss().teacherTemp(),
            cfg.loss().warmupTeacherTempEpochs(),
            epochs));
  }

  /**
   * Linear warm-up from {@code warmupStart} to {@code base} over {@code warmupEpochs} epochs
   * (numpy.linspace, both ends included), then a half cosine from base towards {@code end} over
   * the remaining steps; the last value stays just above {@code end}, as in the reference.
   */
  public static double[] cosine(
      double base, double end, int epochs, int stepsPerEpoch, int warmupEpochs, double warmupStart) {
    int total = epochs * stepsPerEpoch;
    int warmup = Math.min(warmupEpochs * stepsPerEpoch, total);
    double[] s = new double[total];
    for (int i = 0; i < warmup; i++) {
      s[i] = warmup == 1 ? warmupStart : warmupStart + (base - warmupStart) * i / (warmup - 1);
    }
    int rest = total - warmup;
    for (int i = 0; i < rest; i++) {
      s[warmup + i] = end + 0.5 * (base - end) * (1 + Math.cos(Math.PI * i / rest));
    }
    return s;
  }

  /** Per-epoch teacher temperature: linspace(warmup, final, warmupEpochs) then final. */
  public static double[] teacherTemperature(
      double warmup, double fin, int warmupEpochs, int epochs) {
    double[] t = new double[epochs];
    for (int e = 0; e < epochs; e++) {
      if (e < warmupEpochs) {
        t[e] = warmupEpochs == 1 ? warmup : warmup + (fin - warmup) * e / (warmupEpochs - 1);
      } else {
        t[e] = fin;
      }
    }
    return t;
  }
}
