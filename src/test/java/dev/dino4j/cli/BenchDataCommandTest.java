package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code dino4j bench-data}: bad options exit 2 naming the option, before any work starts. */
class BenchDataCommandTest {

  private static String[] run(Path cache, String... args) {
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new BenchDataCommand());
    cmd.setExecutionExceptionHandler(new Errors());
    cmd.setErr(new PrintWriter(err, true));
    String[] all = new String[args.length + 2];
    all[0] = "--cache";
    all[1] = cache.toString();
    System.arraycopy(args, 0, all, 2, args.length);
    return new String[] {"" + cmd.execute(all), err.toString()};
  }

  @Test
  void badOptionsExit2(@TempDir Path tmp) {
    String[] workers = run(tmp, "--workers", "1,0");
    assertEquals("2", workers[0], workers[1]);
    assertTrue(workers[1].contains("--workers"), workers[1]);
    String[] batch = run(tmp, "--jpegs", "10", "--batch", "20");
    assertEquals("2", batch[0], batch[1]);
    assertTrue(batch[1].contains("--batch") && batch[1].contains("20"), batch[1]);
    String[] steps = run(tmp, "--steps", "-1");
    assertEquals("2", steps[0], steps[1]);
    String[] config = run(tmp, "--crop-config", tmp.resolve("nope.yaml").toString());
    assertEquals("2", config[0], config[1]);
    assertTrue(config[1].contains("nope.yaml"), config[1]);
  }
}
