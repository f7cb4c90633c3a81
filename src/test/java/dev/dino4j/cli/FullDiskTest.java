package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.dino4j.train.Checkpoints;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * A checkpoint that does not fit on its disk (a 200 KiB tmpfs mounted on the run's checkpoints/
 * folder; needs root) stops training with exit code 2 and a message naming the folder and the
 * space needed, leaves the previous checkpoint and latest as they were, and the same command
 * resumes once there is space, ending where an uninterrupted run ends.
 */
@Tag("slow")
class FullDiskTest {

  private static final Path FASHION_MNIST = Path.of("/usr/share/datasets/fashion-mnist");

  private record Run(int code, String err) {}

  private static Run train(Path run) {
    List<String> args = new ArrayList<>(List.of("train", "--config", "configs/fmnist-tiny.yaml", "--output", run.toString()));
    for (String s : KillResumeTest.tinyOverrides()) {
      args.add("--set");
      args.add(s);
    }
    // two epochs, epoch ends only: checkpoints at steps 15 and 30
    args.addAll(List.of("--set", "train.checkpoint_every_steps=0", "--set", "train.epochs=2"));
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new Main());
    cmd.setExecutionExceptionHandler(new Errors());
    cmd.setOut(new PrintWriter(new StringWriter(), true));
    cmd.setErr(new PrintWriter(err, true));
    return new Run(cmd.execute(args.toArray(String[]::new)), err.toString());
  }

  private static String sh(String... cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    return p.waitFor() == 0 ? null : String.join(" ", cmd) + ": " + out.strip();
  }

  @Test
  void aFullDiskStopsWithTheSpaceNeededKeepsLatestAndResumesWhenSpaceIsBack(@TempDir Path tmp) throws Exception {
    assumeTrue(Files.isDirectory(FASHION_MNIST), "Fashion-MNIST not installed (make data)");
    Path run = tmp.resolve("run");
    Path ckpts = run.resolve("checkpoints");
    Files.createDirectories(ckpts);
    // one checkpoint of this model is ~136 KiB: the first fits, the second does not
    String mountError = sh("mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", ckpts.toString());
    assumeTrue(mountError == null, "skipped: cannot mount a small tmpfs to fill (needs root): " + mountError);
    try {
      Run full = train(run);
      assertEquals(2, full.code(), full.err());
      String err = full.err();
      System.out.println("FullDiskTest message: " + err.strip());
      assertTrue(err.contains("checkpoint not written"), err);
      assertTrue(err.contains("cannot write checkpoint ckpt-000000030 in " + ckpts), err);
      assertTrue(err.matches("(?s).*needs about 1\\d\\d KiB \\(\\d+ bytes of variables\\), \\d+ KiB free there.*"), err);
      assertTrue(err.contains(ckpts.resolve("ckpt-000000015") + " and latest are intact"), err);
      Checkpoints c = new Checkpoints(run);
      assertEquals("ckpt-000000015", c.latest().orElseThrow().getFileName().toString());
      try (Stream<Path> s = Files.list(ckpts)) {
        assertEquals(List.of("ckpt-000000015", "latest"), s.map(p -> p.getFileName().toString()).sorted().toList(),
            "the failed write's temp folder is removed, the previous checkpoint kept");
      }

      // space is back: the same command resumes from step 15 and finishes
      String remountError = sh("mount", "-o", "remount,size=4m", ckpts.toString());
      assertNull(remountError);
      Run again = train(run);
      assertEquals(0, again.code(), again.err());
      assertTrue(Files.readString(run.resolve("train.log")).contains("global step 15"));
      Path b = c.latest().orElseThrow();
      assertEquals("ckpt-000000030", b.getFileName().toString());

      Path straight = tmp.resolve("straight");
      assertEquals(0, train(straight).code());
      Path a = new Checkpoints(straight).latest().orElseThrow();
      assertArrayEquals(Files.readAllBytes(a.resolve("vars.data-00000-of-00001")),
          Files.readAllBytes(b.resolve("vars.data-00000-of-00001")), "resumed run ends where an uninterrupted one does");
    } finally {
      sh("umount", ckpts.toString());
    }
  }
}
