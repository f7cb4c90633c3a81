package dev.dino4j.eval;

import java.io.PrintStream;
import java.util.Locale;

/**
 * One-line progress on stderr: bar, steps done, rate, ETA and an optional status (the trainer adds
 * loss and lr). Redrawn in place on a terminal, a plain line every 10 s otherwise (logs, pipes);
 * {@link #QUIET} prints nothing (tests, the in-training k-NN hook). Used by training epochs and by
 * every evaluation pass.
 */
public final class Progress {

  /** A progress that prints nothing. */
  public static final Progress QUIET = new Progress(null, "", 0);

  private static final int WIDTH = 24;
  private final PrintStream out;
  private final String label;
  private final long total;
  private final long first; // steps already done when this progress started (a resumed epoch)
  private final double itemsPerStep; // e.g. the batch size, so the rate reads in images/s
  private final String unit;
  private final boolean interactive = System.console() != null;
  private final long start = System.nanoTime();
  private long lastPrint;

  public Progress(PrintStream out, String label, long total) {
    this(out, label, 0, total, 1, "");
  }

  /** Progress over steps {@code first..total} of which each holds {@code itemsPerStep} {@code unit}s. */
  public Progress(PrintStream out, String label, long first, long total, double itemsPerStep, String unit) {
    this.out = out;
    this.label = label;
    this.first = first;
    this.total = total;
    this.itemsPerStep = itemsPerStep;
    this.unit = unit;
  }

  /** A stderr progress for {@code total} items. */
  public static Progress of(String label, long total) {
    return new Progress(System.err, label, total);
  }

  /** Reports {@code done} of the total items finished. */
  public void update(long done) {
    update(done, "");
  }

  /** Reports {@code done} of the total steps finished, with a status after the rate and ETA. */
  public void update(long done, String status) {
    if (out == null) {
      return;
    }
    long now = System.nanoTime();
    boolean last = done >= total;
    long every = interactive ? 200_000_000L : 10_000_000_000L;
    if (!last && now - lastPrint < every) {
      return;
    }
    lastPrint = now;
    double secs = (now - start) / 1e9;
    long here = done - first;
    double rate = secs > 0 ? here * itemsPerStep / secs : 0;
    double eta = here > 0 ? secs / here * (total - done) : Double.NaN;
    int filled = total == 0 ? WIDTH : (int) (WIDTH * Math.min(done, total) / total);
    String line = String.format(Locale.ROOT, "%s [%s] %d/%d %.1f%s/s ETA %s%s", label,
        "#".repeat(filled) + ".".repeat(WIDTH - filled), done, total, rate, unit.isEmpty() ? "" : " " + unit,
        clock(eta), status.isEmpty() ? "" : " " + status);
    if (interactive) {
      out.print("\r" + line + (last ? "\n" : ""));
    } else {
      out.println(line);
    }
    out.flush();
  }

  /** {@code hh:mm:ss}; {@code --:--:--} for an unknown time. */
  public static String clock(double seconds) {
    if (!Double.isFinite(seconds)) {
      return "--:--:--";
    }
    long s = Math.round(seconds);
    return String.format(Locale.ROOT, "%02d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  }
}
