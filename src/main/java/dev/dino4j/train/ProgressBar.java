package dev.dino4j.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * One-line progress for an epoch on stderr: bar, step, images/s, loss, lr, ETA. On a terminal the
 * line is redrawn in place; when stderr is a file or pipe a plain line is printed every 10 s.
 */
public final class ProgressBar {

  private static final int WIDTH = 24;
  private final PrintStream out;
  private final String label;
  private final int total;
  private final int batchSize;
  private final boolean interactive;
  private final long startNanos = System.nanoTime();
  private final int startStep;
  private long lastPrint;

  public ProgressBar(PrintStream out, String label, int startStep, int total, int batchSize) {
    this.out = out;
    this.label = label;
    this.startStep = startStep;
    this.total = total;
    this.batchSize = batchSize;
    this.interactive = System.console() != null;
  }

  /** Reports that {@code done} steps of the epoch are complete. */
  public void update(int done, float loss, double lr) {
    long now = System.nanoTime();
    boolean last = done == total;
    if (!interactive && !last && now - lastPrint < 10_000_000_000L) {
      return;
    }
    if (interactive && !last && now - lastPrint < 200_000_000L) {
      return;
    }
    lastPrint = now;
    double secs = (now - startNanos) / 1e9;
    int stepsHere = done - startStep;
    double rate = secs > 0 ? stepsHere * (double) batchSize / secs : 0;
    double eta = stepsHere > 0 ? secs / stepsHere * (total - done) : Double.NaN;
    int filled = total == 0 ? WIDTH : (int) ((long) WIDTH * done / total);
    String bar = "#".repeat(filled) + ".".repeat(WIDTH - filled);
    String line =
        String.format(Locale.ROOT, "%s [%s] %d/%d %.1f img/s loss %.4f lr %.2e ETA %s",
            label, bar, done, total, rate, loss, lr, clock(eta));
    if (interactive) {
      out.print("\r" + line + (last ? "\n" : ""));
    } else {
      out.println(line);
    }
    out.flush();
  }

  static String clock(double seconds) {
    if (!Double.isFinite(seconds)) {
      return "--:--:--";
    }
    long s = Math.round(seconds);
    return String.format(Locale.ROOT, "%02d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  }
}
