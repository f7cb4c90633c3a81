package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The README's commands table and docs/cli.md's usage block are checked against the code: every
 * documented {@code bin/dino4j} command runs with {@code --help}, every option written there exists,
 * every command exists in the docs, and every {@code make} target and variable of the table is in
 * the Makefile. A renamed flag breaks the build, not the reader.
 */
class DocumentedCommandsTest {

  private static final Pattern OPTION = Pattern.compile("(?<![\\w.=-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\\w-])");
  private static final Pattern MAKE_CELL = Pattern.compile("^\\| (`make [^|]*`)(?: / `make [^|]*`)* \\|");
  private static final Pattern MAKE_TARGET = Pattern.compile("`make ([a-z][a-z0-9-]*)");
  private static final Pattern MAKE_VAR = Pattern.compile("\\b([A-Z][A-Z_]*)=");

  /** Subcommand name -> the documented lines (continuations joined) of docs/cli.md's usage block. */
  private static Map<String, List<String>> documentedUsage() throws IOException {
    Map<String, List<String>> usage = new LinkedHashMap<>();
    boolean inBlock = false;
    String current = null;
    for (String line : Files.readAllLines(Path.of("docs/cli.md"))) {
      if (line.startsWith("```")) {
        inBlock = !inBlock && line.startsWith("```sh");
        continue;
      }
      if (!inBlock) {
        continue;
      }
      String text = line.replaceAll("\\(.*\\)\\s*$", ""); // a trailing "(...)" is a note, not syntax
      if (line.startsWith("bin/dino4j ")) {
        current = text.split("\\s+")[1];
        usage.computeIfAbsent(current, k -> new ArrayList<>()).add(text);
      } else if (current != null && line.startsWith(" ")) {
        List<String> lines = usage.get(current);
        lines.set(lines.size() - 1, lines.get(lines.size() - 1) + " " + text.strip());
      }
    }
    return usage;
  }

  @Test
  void everyDocumentedOptionExistsAndEveryCommandRunsWithHelp() throws IOException {
    CommandLine cli = new CommandLine(new Main());
    Map<String, List<String>> usage = documentedUsage();
    Set<String> visible = new LinkedHashSet<>();
    cli.getSubcommands().forEach((name, sub) -> {
      if (!sub.getCommandSpec().usageMessage().hidden()) {
        visible.add(name); // hidden ones (parity-dump) are tools of make targets, not user commands
      }
    });
    assertEquals(visible, usage.keySet(), "docs/cli.md documents exactly the CLI's visible commands");
    List<String> problems = new ArrayList<>();
    int checked = 0;
    for (Map.Entry<String, List<String>> e : usage.entrySet()) {
      CommandLine sub = cli.getSubcommands().get(e.getKey());
      for (String line : e.getValue()) {
        Matcher m = OPTION.matcher(line.substring(("bin/dino4j " + e.getKey()).length()));
        while (m.find()) {
          checked++;
          if (sub.getCommandSpec().findOption(m.group(1)) == null) {
            problems.add(e.getKey() + " " + m.group(1) + " (docs/cli.md: " + line.strip() + ")");
          }
        }
      }
      StringWriter out = new StringWriter();
      CommandLine fresh = new CommandLine(new Main());
      fresh.setOut(new PrintWriter(out));
      int code = fresh.execute(e.getKey(), "--help");
      if (code != 0 || !out.toString().contains("Usage: dino4j " + e.getKey())) {
        problems.add(e.getKey() + " --help exited " + code + ": " + out);
      }
    }
    assertTrue(problems.isEmpty(), "documented but not in the code: " + problems);
    assertTrue(checked > 40, "only " + checked + " documented options found: is the usage block still ```sh?");
  }

  @Test
  void everyMakeTargetAndVariableOfTheReadmeTableIsInTheMakefile() throws IOException {
    String makefile = Files.readString(Path.of("Makefile"));
    Set<String> targets = new LinkedHashSet<>();
    Set<String> vars = new LinkedHashSet<>();
    for (String line : Files.readAllLines(Path.of("README.md"))) {
      if (!MAKE_CELL.matcher(line).find()) {
        continue;
      }
      String cell = line.substring(1, line.indexOf(" |", 2));
      Matcher t = MAKE_TARGET.matcher(cell);
      while (t.find()) {
        targets.add(t.group(1));
      }
      Matcher v = MAKE_VAR.matcher(cell);
      while (v.find()) {
        vars.add(v.group(1));
      }
    }
    assertTrue(targets.size() > 15, "only " + targets + " found in the README's commands table");
    List<String> missing = new ArrayList<>();
    for (String target : targets) {
      if (!Pattern.compile("(?m)^" + Pattern.quote(target) + ":").matcher(makefile).find()) {
        missing.add("target " + target);
      }
    }
    for (String var : vars) {
      if (!makefile.contains("$(" + var + ")")) {
        missing.add("variable " + var);
      }
    }
    assertTrue(missing.isEmpty(), "in the README's commands table but not in the Makefile: " + missing);
  }
}
