package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dino4j.config.ConfigLoader;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunReportTest {

  @TempDir Path dir;

  /** A run's metrics as the trainer writes them: steps every 10, an epoch end with k-NN every 30 steps. */
  private Path run(String name, double knnOffset, boolean resumedTwice) throws IOException {
    Path run = Files.createDirectories(dir.resolve(name));
    StringBuilder lines = new StringBuilder();
    for (int step = 0; step < 90; step += 10) {
      lines.append(stepLine(step, 8 - step / 30.0));
      if ((step + 10) % 30 == 0) {
        int epoch = (step + 10) / 30 - 1;
        lines.append(String.format(java.util.Locale.ROOT,
            "{\"epoch_end\":%d,\"step\":%d,\"mean_loss\":7.0,\"seconds\":1250.0,\"knn_k\":20,\"knn_top1\":%.2f,\"knn_top5\":%.2f}%n",
            epoch, step + 10, 50 + 10 * epoch + knnOffset, 90.0 + epoch));
      }
      if (resumedTwice && step == 40) {
        // a kill after step 40, a resume from the checkpoint at 30: steps 30 and 40 are logged again
        lines.append(stepLine(30, 1.5)).append(stepLine(40, 1.25));
      }
    }
    lines.append("{\"step\":90,\"loss\":"); // the line a kill cut short
    Files.writeString(run.resolve("metrics.jsonl"), lines);
    Files.writeString(run.resolve("config.yaml"), ConfigLoader.toYaml(
        ConfigLoader.fromYaml("", List.of("head.out_dim=4096"))));
    return run;
  }

  private static String stepLine(int step, double loss) {
    return String.format(java.util.Locale.ROOT,
        "{\"step\":%d,\"epoch\":%d,\"loss\":%.4f,\"teacher_entropy\":%.3f,\"kl\":0.5,\"lr\":%.6f,"
            + "\"weight_decay\":0.04,\"teacher_momentum\":0.996,\"teacher_temp\":0.04}%n",
        step, step / 30, loss, 7.0 - step / 100.0, 1e-5 * step);
  }

  @Test
  void readsTheLastRecordOfEachStepAndTheKnnChecks() throws IOException {
    RunReport.Metrics m = RunReport.read(run("a", 0, true));
    assertEquals(List.of(0L, 10L, 20L, 30L, 40L, 50L, 60L, 70L, 80L), m.steps().stream().map(RunReport.StepPoint::step).toList());
    assertEquals(1.5, m.steps().get(3).loss(), 1e-9, "the resumed run's step 30 wins over the first one");
    assertEquals(1.25, m.steps().get(4).loss(), 1e-9);
    assertEquals(List.of(30L, 60L, 90L), m.knn().stream().map(RunReport.KnnPoint::step).toList());
    assertEquals(70.0, m.knn().get(2).top1(), 1e-9);
    assertEquals(4096, m.prototypes());
    assertEquals(90, m.lastStep());
  }

  @Test
  void writesAReadableReportPng() throws IOException {
    Path run = run("a", 0, false);
    Path png = RunReport.write(run);
    assertEquals(run.resolve("report.png"), png);
    BufferedImage img = ImageIO.read(png.toFile());
    assertEquals(4 * 560, img.getWidth());
    assertEquals(56 + 2 * 380, img.getHeight());
    assertTrue(distinctColours(img) > 20, "the panels hold lines, text and legends, not a blank image");
    try (var files = Files.list(run)) {
      assertFalse(files.anyMatch(f -> f.getFileName().toString().endsWith(".tmp")), "no temp file left");
    }
  }

  @Test
  void aRunWithoutKnnStillGetsAReport() throws IOException {
    Path run = Files.createDirectories(dir.resolve("noknn"));
    Files.writeString(run.resolve("metrics.jsonl"), stepLine(0, 8) + stepLine(10, 7));
    RunReport.Metrics m = RunReport.read(run);
    assertTrue(m.knn().isEmpty());
    assertEquals(0, m.prototypes(), "no config.yaml: no ln K line");
    assertTrue(Files.size(RunReport.write(run)) > 1000);
  }

  @Test
  void learningCurvesOfSeveralRuns() throws IOException {
    Path out = RunReport.writeCurves(List.of(run("a", 0, false), run("b", 2, false)), Map.of("raw pixels", 84.59),
        dir.resolve("curves.png"));
    BufferedImage img = ImageIO.read(out.toFile());
    assertEquals(1100, img.getWidth());
    assertTrue(distinctColours(img) > 20);
    Path noKnn = Files.createDirectories(dir.resolve("none"));
    Files.writeString(noKnn.resolve("metrics.jsonl"), stepLine(0, 8));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> RunReport.writeCurves(List.of(noKnn), Map.of(), dir.resolve("x.png")));
    assertTrue(e.getMessage().contains("eval.knn_every"), e.getMessage());
  }

  @Test
  void knnTableHasARowPerRunAndAColumnPerCheckedStep() throws IOException {
    Path a = run("a", 0, true);
    Path b = run("b", 2.5, false);
    // run c was checked at other steps: its own columns appear, and a and b leave them empty; its
    // epoch 0 was logged twice (a resume), and only the last record's seconds count
    Path c = Files.createDirectories(dir.resolve("c"));
    Files.writeString(c.resolve("metrics.jsonl"), stepLine(0, 8)
        + "{\"epoch_end\":0,\"step\":45,\"seconds\":100,\"knn_k\":20,\"knn_top1\":61.125,\"knn_top5\":95}\n"
        + "{\"epoch_end\":0,\"step\":45,\"seconds\":30,\"knn_k\":20,\"knn_top1\":61.125,\"knn_top5\":95}\n");
    assertEquals(String.join("\n",
        "| run (20-NN top-1 @ step) | @30 | @45 | @60 | @90 | training time |",
        "|---|---|---|---|---|---|",
        "| a | 50.00% | | 60.00% | 70.00% | 1 h 03 min |",
        "| b | 52.50% | | 62.50% | 72.50% | 1 h 03 min |",
        "| c | | 61.13% | | | 0 h 01 min |",
        ""), RunReport.knnTable(List.of(a, b, c)));
    Path none = Files.createDirectories(dir.resolve("none"));
    Files.writeString(none.resolve("metrics.jsonl"), stepLine(0, 8));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RunReport.knnTable(List.of(none)));
    assertTrue(e.getMessage().contains("no table"), e.getMessage());
  }

  @Test
  void aDamagedLineNamesTheFileAndLine() throws IOException {
    Path run = Files.createDirectories(dir.resolve("bad"));
    Files.writeString(run.resolve("metrics.jsonl"), stepLine(0, 8) + "not json\n" + stepLine(10, 7));
    IOException e = assertThrows(IOException.class, () -> RunReport.read(run));
    assertTrue(e.getMessage().contains("metrics.jsonl line 2"), e.getMessage());
    IOException missing = assertThrows(IOException.class, () -> RunReport.read(dir.resolve("nothing")));
    assertTrue(missing.getMessage().contains("run directory"), missing.getMessage());
  }

  private static int distinctColours(BufferedImage img) {
    java.util.Set<Integer> colours = new java.util.HashSet<>();
    for (int y = 0; y < img.getHeight(); y += 3) {
      for (int x = 0; x < img.getWidth(); x += 3) {
        colours.add(img.getRGB(x, y));
      }
    }
    return colours.size();
  }
}
