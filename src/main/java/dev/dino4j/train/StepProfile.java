package dev.dino4j.train;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.tensorflow.proto.DeviceStepStats;
import org.tensorflow.proto.NodeExecStats;
import org.tensorflow.proto.RunMetadata;

/**
 * Where a traced step's kernel time goes: TF's full trace of one step ({@link RunMetadata}'s step
 * stats), summed by kernel type (the op Grappler actually ran, e.g. {@code _MklMatMul}, parsed from
 * the timeline label) and by part of the graph (student forward, backward, teacher, loss,
 * optimizer). Times are kernel compute times (op start to op end), so with towers or inter-op
 * threads they add up to more than the step's wall time: read the shares.
 */
public final class StepProfile {

  /** One row: a kernel type or a part of the graph, its kernel launches and summed time. */
  public record Row(String name, int count, double micros) {}

  private final Map<String, Row> byOp = new LinkedHashMap<>();
  private final Map<String, Row> byPart = new LinkedHashMap<>();
  private double totalMicros;
  private int steps;

  /** Adds one traced step. */
  public void add(RunMetadata metadata) {
    steps++;
    for (DeviceStepStats dev : metadata.getStepStats().getDevStatsList()) {
      for (NodeExecStats n : dev.getNodeStatsList()) {
        double us = Math.max(0, n.getOpEndRelMicros() - n.getOpStartRelMicros());
        if (n.getNodeName().equals("_SOURCE") || n.getNodeName().equals("_SINK")) {
          continue;
        }
        totalMicros += us;
        merge(byOp, opType(n), us);
        merge(byPart, part(n.getNodeName()), us);
      }
    }
  }

  private static void merge(Map<String, Row> m, String key, double us) {
    m.merge(key, new Row(key, 1, us), (a, b) -> new Row(a.name(), a.count() + 1, a.micros() + b.micros()));
  }

  /** The kernel type from the timeline label "name = Op(inputs)", else the node name's last part. */
  static String opType(NodeExecStats n) {
    String label = n.getTimelineLabel();
    int eq = label.indexOf(" = ");
    int paren = label.indexOf('(', Math.max(eq, 0));
    if (eq >= 0 && paren > eq) {
      return label.substring(eq + 3, paren);
    }
    String name = n.getNodeName();
    return name.substring(name.lastIndexOf('/') + 1);
  }

  /**
   * The part of the graph a node belongs to, from its name: anything under a gradients scope is
   * the backward pass; otherwise the first scope (towers' "tower_N/" prefix dropped).
   */
  static String part(String nodeName) {
    String lower = nodeName.toLowerCase(Locale.ROOT);
    if (lower.startsWith("gradients") || lower.contains("/gradients") || lower.contains("_grad")) {
      return "backward";
    }
    String name = nodeName.replaceFirst("^tower_\\d+/", "");
    int slash = name.indexOf('/');
    return slash > 0 ? name.substring(0, slash) : "(top level)";
  }

  /** Rows by kernel type, largest first. */
  public List<Row> byOp() {
    return sorted(byOp);
  }

  /** Rows by part of the graph, largest first. */
  public List<Row> byPart() {
    return sorted(byPart);
  }

  private static List<Row> sorted(Map<String, Row> m) {
    List<Row> rows = new ArrayList<>(m.values());
    rows.sort(Comparator.comparingDouble(Row::micros).reversed());
    return rows;
  }

  /** Kernel time of all traced steps, microseconds. */
  public double totalMicros() {
    return totalMicros;
  }

  /** Traced steps added. */
  public int steps() {
    return steps;
  }

  /** The two tables as text: the top {@code topOps} kernel types, then every part. */
  public String format(int topOps) {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "kernel time per step %.1f ms over %d traced step(s) (summed over threads)%n",
        totalMicros / 1e3 / Math.max(1, steps), steps));
    sb.append(String.format(Locale.ROOT, "%-40s %8s %10s %7s%n", "kernel", "launches", "ms/step", "share"));
    List<Row> ops = byOp();
    double rest = 0;
    int restCount = 0;
    for (int i = 0; i < ops.size(); i++) {
      Row r = ops.get(i);
      if (i < topOps) {
        sb.append(line(r.name(), r.count(), r.micros()));
      } else {
        rest += r.micros();
        restCount += r.count();
      }
    }
    if (ops.size() > topOps) {
      sb.append(line("(" + (ops.size() - topOps) + " other kernel types)", restCount, rest));
    }
    sb.append(String.format(Locale.ROOT, "%n%-40s %8s %10s %7s%n", "part of the graph", "launches", "ms/step", "share"));
    for (Row r : byPart()) {
      sb.append(line(r.name(), r.count(), r.micros()));
    }
    return sb.toString();
  }

  private String line(String name, int count, double micros) {
    int s = Math.max(1, steps);
    return String.format(Locale.ROOT, "%-40s %8d %10.1f %6.1f%%%n", name, count / s, micros / 1e3 / s,
        totalMicros > 0 ? 100 * micros / totalMicros : 0);
  }
}
