package dev.dino4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToDoubleFunction;
import javax.imageio.ImageIO;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler.LegendPosition;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Pictures of a run from its metrics.jsonl: {@code report.png} (loss, teacher entropy against ln K,
 * KL, k-NN accuracy, lr, weight decay, teacher momentum, teacher temperature, each against the
 * step) and, for several runs, learning curves (the in-training k-NN top-1 against the step, one
 * line per run, baselines as horizontal lines). The trainer writes report.png at the end of a run
 * and after every k-NN check; {@code dino4j report} writes either on demand.
 *
 * <p>XChart draws the panels: line charts with axis titles and legends out of the box, PNG through
 * ImageIO, no native or X11 needs (headless), and a small jar (its PDF backend is left out).
 */
public final class RunReport {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int PANEL_W = 560;
  private static final int PANEL_H = 380;
  private static final int TITLE_H = 56;

  /** One logged step (NaN where a field is absent). */
  record StepPoint(long step, double loss, double entropy, double kl, double lr, double weightDecay,
      double momentum, double teacherTemp) {}

  /** One in-training k-NN check, at the global step after its epoch. */
  record KnnPoint(long step, int k, double top1, double top5) {}

  /** A run's metrics, deduplicated by step (a resumed run logs the steps after its checkpoint again: the last wins). */
  record Metrics(String name, List<StepPoint> steps, List<KnnPoint> knn, int prototypes, double trainSeconds,
      int epochs) {
    long lastStep() {
      long last = steps.isEmpty() ? 0 : steps.get(steps.size() - 1).step();
      return knn.isEmpty() ? last : Math.max(last, knn.get(knn.size() - 1).step());
    }
  }

  static {
    // drawing needs no display; without this a JVM on a desktop would open an AWT toolkit for nothing
    if (System.getProperty("java.awt.headless") == null) {
      System.setProperty("java.awt.headless", "true");
    }
  }

  private RunReport() {}

  /** Reads RUN/metrics.jsonl (and RUN/config.yaml for K); a line that is not JSON names the file and line. */
  static Metrics read(Path runDir) throws IOException {
    Path file = runDir.resolve("metrics.jsonl");
    List<String> lines;
    try {
      lines = Files.readAllLines(file);
    } catch (NoSuchFileException e) {
      throw new NoSuchFileException(file.toString(), null, "no metrics.jsonl: is " + runDir + " a run directory?");
    }
    TreeMap<Long, StepPoint> steps = new TreeMap<>();
    TreeMap<Long, KnnPoint> knn = new TreeMap<>();
    TreeMap<Long, Double> epochSeconds = new TreeMap<>(); // by epoch: a resumed run's record of an epoch wins
    long lastStep = -1;
    int epochs = 0;
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).strip();
      if (line.isEmpty()) {
        continue;
      }
      JsonNode n;
      try {
        n = JSON.readTree(line);
      } catch (IOException e) {
        if (i == lines.size() - 1) {
          continue; // a line cut short by a kill: the rest of the file is good
        }
        throw new IOException(file + " line " + (i + 1) + " is not JSON: " + e.getMessage(), e);
      }
      if (n.has("epoch_end")) {
        epochs = Math.max(epochs, n.get("epoch_end").asInt() + 1);
        if (n.has("seconds")) {
          epochSeconds.put(n.get("epoch_end").asLong(), n.get("seconds").asDouble());
        }
        if (n.has("knn_top1")) {
          // "step" is written since the report exists; older files: the last logged step before it
          long step = n.has("step") ? n.get("step").asLong() : lastStep;
          knn.put(step, new KnnPoint(step, n.path("knn_k").asInt(20), n.get("knn_top1").asDouble(),
              n.path("knn_top5").asDouble(Double.NaN)));
        }
      } else if (n.has("step")) {
        long step = n.get("step").asLong();
        lastStep = step;
        steps.put(step, new StepPoint(step, num(n, "loss"), num(n, "teacher_entropy"), num(n, "kl"), num(n, "lr"),
            num(n, "weight_decay"), num(n, "teacher_momentum"), num(n, "teacher_temp")));
      }
    }
    int prototypes = 0;
    Path config = runDir.resolve("config.yaml");
    if (Files.exists(config)) {
      DinoConfig cfg = ConfigLoader.fromYaml(Files.readString(config), List.of());
      prototypes = cfg.head().outDim();
    }
    return new Metrics(runDir.toAbsolutePath().normalize().getFileName().toString(), List.copyOf(steps.values()),
        List.copyOf(knn.values()), prototypes, epochSeconds.values().stream().mapToDouble(Double::doubleValue).sum(),
        epochs);
  }

  /** What a run's training cost: epochs finished, the last logged step, and the epochs' seconds, each epoch once. */
  public record Training(int epochs, long lastLoggedStep, double seconds) {}

  /** {@link Training} of RUN from its metrics.jsonl, read as the report reads it (a resumed epoch counted once). */
  public static Training training(Path runDir) throws IOException {
    Metrics m = read(runDir);
    long last = m.steps().isEmpty() ? 0 : m.steps().get(m.steps().size() - 1).step();
    return new Training(m.epochs(), last, m.trainSeconds());
  }

  private static double num(JsonNode n, String field) {
    JsonNode v = n.get(field);
    return v == null || !v.isNumber() ? Double.NaN : v.asDouble();
  }

  /** Writes RUN/report.png and returns its path. */
  public static Path write(Path runDir) throws IOException {
    Metrics m = read(runDir);
    Path out = runDir.resolve("report.png");
    savePng(render(m), out);
    return out;
  }

  /**
   * Learning curves of several runs: in-training k-NN top-1 against the step, one line per run,
   * each baseline (a label and a top-1 in %) as a horizontal line.
   */
  public static Path writeCurves(List<Path> runs, Map<String, Double> baselines, Path out) throws IOException {
    List<Metrics> all = new ArrayList<>();
    for (Path run : runs) {
      all.add(read(run));
    }
    long maxStep = all.stream().mapToLong(Metrics::lastStep).max().orElse(1);
    int k = all.stream().flatMap(m -> m.knn().stream()).mapToInt(KnnPoint::k).findFirst().orElse(20);
    XYChart c = chart(1100, 700, "Learning curves: in-training " + k + "-NN top-1 of the teacher", "step",
        "top-1 accuracy (%)");
    c.getStyler().setLegendPosition(LegendPosition.InsideSE);
    boolean any = false;
    java.util.Set<String> names = new java.util.HashSet<>();
    for (int i = 0; i < all.size(); i++) {
      Metrics m = all.get(i);
      // two runs of one name (runs/a/demo, runs/b/demo) need distinct legend entries
      String name = names.add(m.name()) ? m.name() : runs.get(i).toString();
      if (!m.knn().isEmpty()) {
        line(c, name, m.knn(), KnnPoint::step, KnnPoint::top1).setMarker(SeriesMarkers.CIRCLE);
        any = true;
      }
    }
    for (Map.Entry<String, Double> b : baselines.entrySet()) {
      horizontal(c, b.getKey(), b.getValue(), maxStep);
    }
    if (!any) {
      throw new IllegalArgumentException("none of " + runs + " has in-training k-NN checks in metrics.jsonl "
          + "(eval.knn_every = 0?): nothing to draw");
    }
    BufferedImage img = new BufferedImage(1100, 700, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    c.paint(g, 1100, 700);
    g.dispose();
    savePng(img, out);
    return out;
  }

  /**
   * The in-training k-NN top-1 of several runs as a Markdown table: one row per run, one column per
   * checked step (the union over the runs; a run not checked at a step has an empty cell), so a
   * table in the docs is printed from the runs' metrics.jsonl rather than copied by hand. The last
   * column is the training time, the sum of the finished epochs' seconds (the trainer's, without the
   * k-NN checks): time between a stop and its resume is not in it, nor an unfinished epoch, and an
   * epoch resumed mid-way counts only its time after the resume.
   */
  public static String knnTable(List<Path> runs) throws IOException {
    List<Metrics> all = new ArrayList<>();
    for (Path run : runs) {
      all.add(read(run));
    }
    TreeMap<Long, Integer> columns = new TreeMap<>();
    all.forEach(m -> m.knn().forEach(p -> columns.put(p.step(), p.k())));
    if (columns.isEmpty()) {
      throw new IllegalArgumentException("none of " + runs + " has in-training k-NN checks in metrics.jsonl "
          + "(eval.knn_every = 0?): no table");
    }
    int k = columns.firstEntry().getValue();
    StringBuilder t = new StringBuilder("| run (" + k + "-NN top-1 @ step) |");
    StringBuilder rule = new StringBuilder("|---|");
    for (long step : columns.keySet()) {
      t.append(" @").append(step).append(" |");
      rule.append("---|");
    }
    t.append(" training time |");
    rule.append("---|");
    t.append('\n').append(rule).append('\n');
    java.util.Set<String> names = new java.util.HashSet<>();
    for (int i = 0; i < all.size(); i++) {
      Metrics m = all.get(i);
      t.append("| ").append(names.add(m.name()) ? m.name() : runs.get(i).toString()).append(" |");
      java.util.Map<Long, Double> top1 = new java.util.HashMap<>();
      m.knn().forEach(p -> top1.put(p.step(), p.top1()));
      for (long step : columns.keySet()) {
        Double v = top1.get(step);
        t.append(v == null ? " |" : String.format(java.util.Locale.ROOT, " %.2f%% |", v));
      }
      long minutes = Math.round(m.trainSeconds() / 60);
      t.append(String.format(java.util.Locale.ROOT, " %d h %02d min |", minutes / 60, minutes % 60)).append('\n');
    }
    return t.toString();
  }

  static BufferedImage render(Metrics m) {
    List<StepPoint> s = m.steps();
    long maxStep = Math.max(1, m.lastStep());
    List<Panel> panels = new ArrayList<>();
    panels.add(panel("DINO loss", "loss (nats)", c -> line(c, "loss", s, StepPoint::step, StepPoint::loss)));
    panels.add(panel("Teacher entropy per sample", "entropy (nats)", c -> {
      line(c, "teacher entropy", s, StepPoint::step, StepPoint::entropy);
      if (m.prototypes() > 0) {
        horizontal(c, String.format(Locale.ROOT, "ln K = %.2f (uniform collapse)", Math.log(m.prototypes())),
            Math.log(m.prototypes()), maxStep);
      }
    }));
    panels.add(panel("KL(teacher || student)", "KL (nats)", c -> line(c, "KL", s, StepPoint::step, StepPoint::kl)));
    if (m.knn().isEmpty()) {
      panels.add(new Panel("k-NN of the teacher", null,
          "no k-NN checks in this run (eval.knn_every = 0, or none reached yet)"));
    } else {
      int k = m.knn().get(0).k();
      panels.add(panel(k + "-NN accuracy of the teacher (test split)", "accuracy (%)", c -> {
        c.getStyler().setLegendPosition(LegendPosition.InsideSE);
        line(c, "top-1", m.knn(), KnnPoint::step, KnnPoint::top1).setMarker(SeriesMarkers.CIRCLE);
        line(c, "top-5", m.knn(), KnnPoint::step, KnnPoint::top5).setMarker(SeriesMarkers.CIRCLE);
      }));
    }
    panels.add(panel("Learning rate", "lr", c -> {
      c.getStyler().setYAxisDecimalPattern("0.0E0");
      line(c, "lr", s, StepPoint::step, StepPoint::lr);
    }));
    panels.add(panel("Weight decay", "weight decay", c -> line(c, "weight decay", s, StepPoint::step,
        StepPoint::weightDecay)));
    panels.add(panel("Teacher EMA momentum", "momentum", c -> line(c, "momentum", s, StepPoint::step,
        StepPoint::momentum)));
    panels.add(panel("Teacher temperature", "temperature", c -> line(c, "teacher temp", s, StepPoint::step,
        StepPoint::teacherTemp)));

    int cols = 4;
    int rows = (panels.size() + cols - 1) / cols;
    BufferedImage img = new BufferedImage(cols * PANEL_W, TITLE_H + rows * PANEL_H, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, img.getWidth(), img.getHeight());
    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 22));
    g.drawString(title(m), 16, 36);
    for (int i = 0; i < panels.size(); i++) {
      Graphics2D p = (Graphics2D) g.create((i % cols) * PANEL_W, TITLE_H + (i / cols) * PANEL_H, PANEL_W, PANEL_H);
      panels.get(i).paint(p, s.isEmpty() && panels.get(i).message == null);
      p.dispose();
    }
    g.dispose();
    return img;
  }

  private static String title(Metrics m) {
    StringBuilder t = new StringBuilder("dino4j run ").append(m.name());
    t.append(String.format(Locale.ROOT, ": through step %,d", m.lastStep()));
    if (!m.steps().isEmpty()) {
      t.append(String.format(Locale.ROOT, ", last loss %.3f", m.steps().get(m.steps().size() - 1).loss()));
    }
    if (!m.knn().isEmpty()) {
      KnnPoint last = m.knn().get(m.knn().size() - 1);
      t.append(String.format(Locale.ROOT, ", last %d-NN top-1 %.2f%% (step %d)", last.k(), last.top1(), last.step()));
    }
    return t.toString();
  }

  /** One panel: a chart, or a message where there is nothing to plot. */
  private record Panel(String title, XYChart chart, String message) {
    void paint(Graphics2D g, boolean empty) {
      if (chart != null && !empty) {
        chart.paint(g, PANEL_W, PANEL_H);
        return;
      }
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, PANEL_W, PANEL_H);
      g.setColor(Color.DARK_GRAY);
      g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
      g.drawString(title, 20, 40);
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
      g.drawString(message != null ? message : "no logged steps yet", 20, PANEL_H / 2);
    }
  }

  private static Panel panel(String title, String yTitle, java.util.function.Consumer<XYChart> fill) {
    XYChart c = chart(PANEL_W, PANEL_H, title, "step", yTitle);
    fill.accept(c);
    return new Panel(title, c, null);
  }

  private static XYChart chart(int w, int h, String title, String xTitle, String yTitle) {
    XYChart c = new XYChartBuilder().width(w).height(h).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
    c.getStyler().setLegendPosition(LegendPosition.InsideNE);
    c.getStyler().setChartBackgroundColor(Color.WHITE);
    c.getStyler().setPlotBackgroundColor(Color.WHITE);
    c.getStyler().setPlotGridLinesColor(new Color(225, 225, 225));
    c.getStyler().setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
    c.getStyler().setAxisTitleFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
    c.getStyler().setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    c.getStyler().setLegendFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    c.getStyler().setXAxisDecimalPattern("#,###");
    c.getStyler().setYAxisDecimalPattern("0.####");
    c.getStyler().setMarkerSize(6);
    return c;
  }

  /** A series of the points whose y is finite; an empty one gets a single NaN-free placeholder. */
  private static <T> XYSeries line(XYChart c, String name, List<T> points, ToDoubleFunction<T> x,
      ToDoubleFunction<T> y) {
    List<Double> xs = new ArrayList<>();
    List<Double> ys = new ArrayList<>();
    for (T p : points) {
      double v = y.applyAsDouble(p);
      if (Double.isFinite(v)) {
        xs.add(x.applyAsDouble(p));
        ys.add(v);
      }
    }
    if (xs.isEmpty()) {
      xs.add(0.0);
      ys.add(0.0);
      name = name + " (not logged)";
    }
    XYSeries series = c.addSeries(name, xs, ys);
    series.setMarker(SeriesMarkers.NONE);
    return series;
  }

  private static void horizontal(XYChart c, String name, double y, long maxStep) {
    XYSeries s = c.addSeries(name, new double[] {0, maxStep}, new double[] {y, y});
    s.setMarker(SeriesMarkers.NONE);
    s.setLineStyle(SeriesLines.DASH_DASH);
  }

  /** Temp file + rename, so a reader (or a kill) never sees half a PNG. */
  private static void savePng(BufferedImage img, Path out) throws IOException {
    Path dir = out.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    Path tmp = Files.createTempFile(dir, ".report-", ".png.tmp");
    try {
      if (!ImageIO.write(img, "png", tmp.toFile())) {
        throw new IOException("no PNG writer in this JVM");
      }
      Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
  }

  /** As {@link #write}, for the trainer: a report that cannot be drawn is a warning, never a stopped run. */
  static void writeQuietly(Path runDir, org.apache.logging.log4j.Logger log) {
    try {
      Path p = write(runDir);
      log.debug("wrote {}", p);
    } catch (IOException | RuntimeException | LinkageError e) {
      log.warn("could not write {}: {}", runDir.resolve("report.png"), e.toString());
    }
  }
}
