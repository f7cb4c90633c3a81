package dev.dino4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.tensorflow.Graph;
import org.tensorflow.Server;
import org.tensorflow.Session;
import org.tensorflow.proto.ClusterDef;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.JobDef;
import org.tensorflow.proto.ServerDef;

/**
 * The workers of a synchronous data-parallel run and which one this process is.
 *
 * <p>Between-graph replication: every worker builds the same graph, reads its own shard of each
 * global batch, and the graph averages the gradients (and the teacher's batch statistic for the
 * center) over all workers with TF collective ops ({@link AllReduce}), so every worker applies the
 * same update and the replicas stay identical. Each worker runs a TF gRPC server; its session
 * talks to its own server ({@link RemoteSession}); the collectives talk worker to worker. Task 0
 * is the chief: it leads the collective groups, writes checkpoints, metrics and TensorBoard
 * events, and at start-up its variables are copied to every other worker.
 *
 * <pre>
 *   # cluster.yaml: worker i listens on workers[i]
 *   workers: [host0:2222, host1:2222]
 *   collective_timeout_s: 300   # optional: a step waits at most this long for the other workers
 *   startup_timeout_s: 600      # optional: how long to wait for every worker to come up
 * </pre>
 *
 * or TF_CONFIG, TensorFlow's format: {@code {"cluster": {"worker": ["host0:2222", "host1:2222"]},
 * "task": {"type": "worker", "index": 0}}}.
 */
public record Cluster(List<String> workers, int task, double collectiveTimeoutSeconds, double startupTimeoutSeconds) {

  private static final Logger LOG = LogManager.getLogger(Cluster.class);

  /**
   * A step's collectives wait this long for the slowest worker: longer than any step, checkpoint
   * or k-NN evaluation the chief runs between steps, short enough that a dead worker is noticed.
   */
  public static final double DEFAULT_COLLECTIVE_TIMEOUT_S = 300;

  /** Workers start at different times and build their graphs at different speeds. */
  public static final double DEFAULT_STARTUP_TIMEOUT_S = 600;

  static final String JOB = "worker";

  /** TF's gRPC servers run until the process ends: {@code Server.stop()} is not implemented. */
  private static final Set<Server> SERVERS = ConcurrentHashMap.newKeySet();

  public Cluster {
    workers = List.copyOf(workers);
    if (workers.isEmpty()) {
      throw new IllegalArgumentException("a cluster needs at least one worker address (host:port)");
    }
    for (String w : workers) {
      int colon = w.lastIndexOf(':');
      if (colon <= 0 || !w.substring(colon + 1).matches("\\d{1,5}")) {
        throw new IllegalArgumentException("worker address '" + w + "' is not host:port");
      }
    }
    if (task < 0 || task >= workers.size()) {
      throw new IllegalArgumentException(
          "task " + task + " is not a worker of this cluster: expected 0.." + (workers.size() - 1) + " for " + workers);
    }
    if (!(collectiveTimeoutSeconds > 0) || !(startupTimeoutSeconds > 0)) {
      throw new IllegalArgumentException("collective_timeout_s and startup_timeout_s must be > 0, got "
          + collectiveTimeoutSeconds + " and " + startupTimeoutSeconds);
    }
  }

  /** One process, no servers, no collectives: the plain in-process session. */
  public static Cluster single() {
    return new Cluster(List.of("localhost:0"), 0, DEFAULT_COLLECTIVE_TIMEOUT_S, DEFAULT_STARTUP_TIMEOUT_S);
  }

  /** Reads a cluster file (keys: workers, collective_timeout_s, startup_timeout_s). */
  public static Cluster fromYaml(Path file, int task) {
    JsonNode root;
    try {
      root = new YAMLMapper().readTree(file.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read cluster file " + file + ": " + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("cluster file " + file + " must be a mapping with a 'workers' list");
    }
    for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!List.of("workers", "collective_timeout_s", "startup_timeout_s").contains(k)) {
        throw new IllegalArgumentException("unknown key '" + k + "' in cluster file " + file
            + "; allowed: workers, collective_timeout_s, startup_timeout_s");
      }
    }
    return new Cluster(addresses(root.get("workers"), "workers in " + file), task,
        seconds(root, "collective_timeout_s", DEFAULT_COLLECTIVE_TIMEOUT_S, file),
        seconds(root, "startup_timeout_s", DEFAULT_STARTUP_TIMEOUT_S, file));
  }

  /** Parses TensorFlow's TF_CONFIG: one job named "worker"; the task is "worker" number index. */
  public static Cluster fromTfConfig(String json) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(json);
    } catch (IOException e) {
      throw new IllegalArgumentException("TF_CONFIG is not valid JSON: " + e.getMessage(), e);
    }
    JsonNode cluster = root.path("cluster");
    for (Iterator<String> it = cluster.fieldNames(); it.hasNext(); ) {
      String job = it.next();
      if (!job.equals(JOB)) {
        throw new IllegalArgumentException("TF_CONFIG job '" + job + "' is not supported: dino4j runs one job, 'worker' "
            + "(every worker trains; task 0 is the chief)");
      }
    }
    JsonNode task = root.path("task");
    if (!task.path("type").asText(JOB).equals(JOB) || !task.path("index").canConvertToInt()) {
      throw new IllegalArgumentException("TF_CONFIG task must be {\"type\": \"worker\", \"index\": N}, got " + task);
    }
    return new Cluster(addresses(cluster.get(JOB), "TF_CONFIG cluster.worker"), task.get("index").asInt(),
        DEFAULT_COLLECTIVE_TIMEOUT_S, DEFAULT_STARTUP_TIMEOUT_S);
  }

  public int size() {
    return workers.size();
  }

  /** More than one worker: gradients are all-reduced. */
  public boolean distributed() {
    return workers.size() > 1;
  }

  /** Task 0 leads the collectives and owns the run directory's checkpoints and metrics. */
  public boolean chief() {
    return task == 0;
  }

  /** This worker's share of a global batch; the global batch must split evenly. */
  public int localBatch(int globalBatch) {
    if (globalBatch % size() != 0) {
      throw new IllegalArgumentException("train.batch_size " + globalBatch + " is the global batch and must split evenly over "
          + size() + " workers; use a multiple of " + size());
    }
    return globalBatch / size();
  }

  /** The CPU every op of this worker runs on (collectives need an explicit device). */
  public String device() {
    return deviceOf(task);
  }

  static String deviceOf(int task) {
    return "/job:" + JOB + "/replica:0/task:" + task + "/device:CPU:0";
  }

  /** Names this worker in messages: "worker 1 (localhost:2223)". */
  public String describe(int t) {
    return "worker " + t + " (" + workers.get(t) + ")";
  }

  /**
   * Session config for a worker: {@code base} (threads) plus what collectives need. The group
   * leader assigns collective step ids and group membership; the device filter keeps this
   * worker's master from placing anything on, or waiting for, the other workers' devices.
   */
  ConfigProto sessionConfig(ConfigProto base) {
    return base.toBuilder()
        .clearDeviceFilters()
        .addDeviceFilters("/job:" + JOB + "/task:" + task)
        .setExperimental(base.getExperimental().toBuilder().setCollectiveGroupLeader("/job:" + JOB + "/replica:0/task:0"))
        .build();
  }

  /**
   * Starts this worker's gRPC server (once per process and address) and opens a session on it.
   * The server's default config carries the group leader too: the worker's collective executor
   * reads it from there, not from the session.
   */
  public Session openSession(Graph graph, ConfigProto base) {
    ConfigProto config = sessionConfig(base);
    startServer(config);
    return RemoteSession.open(graph, "grpc://" + workers.get(task), config);
  }

  private synchronized void startServer(ConfigProto config) {
    JobDef.Builder job = JobDef.newBuilder().setName(JOB);
    for (int i = 0; i < workers.size(); i++) {
      job.putTasks(i, workers.get(i));
    }
    ServerDef def = ServerDef.newBuilder().setCluster(ClusterDef.newBuilder().addJob(job)).setJobName(JOB)
        .setTaskIndex(task).setProtocol("grpc").setDefaultSessionConfig(config).build();
    Server server;
    try {
      server = new Server(def);
      server.start();
    } catch (RuntimeException e) {
      throw new IllegalStateException("cannot start the TF server of " + describe(task) + " (is the port in use?): "
          + e.getMessage(), e);
    }
    SERVERS.add(server); // never closed: TF cannot stop a started gRPC server, it ends with the process
    LOG.info("{} of {}: TF gRPC server up at {}", describe(task), size(), workers.get(task));
  }

  /**
   * Waits until every other worker's port accepts a connection, or fails naming the missing ones
   * after startup_timeout_s. Run before the first collective: a worker whose group leader never
   * answers would otherwise retry forever inside TF.
   */
  public void awaitPeers() {
    long deadline = System.nanoTime() + (long) (startupTimeoutSeconds * 1e9);
    List<Integer> missing = new ArrayList<>();
    for (int i = 0; i < size(); i++) {
      if (i != task) {
        missing.add(i);
      }
    }
    long lastLog = System.nanoTime();
    while (!missing.isEmpty()) {
      missing.removeIf(this::reachable);
      if (missing.isEmpty()) {
        break;
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(String.format(Locale.ROOT,
            "%s: %s not reachable after %.0f s (cluster startup_timeout_s); start every worker of %s",
            describe(task), String.join(", ", missing.stream().map(this::describe).toList()), startupTimeoutSeconds, workers));
      }
      if (System.nanoTime() - lastLog > 10e9) {
        LOG.info("waiting for {}", missing.stream().map(this::describe).toList());
        lastLog = System.nanoTime();
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for the other workers", e);
      }
    }
  }

  private boolean reachable(int t) {
    String w = workers.get(t);
    int colon = w.lastIndexOf(':');
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(w.substring(0, colon), Integer.parseInt(w.substring(colon + 1))), 1000);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static List<String> addresses(JsonNode list, String where) {
    if (list == null || !list.isArray() || list.isEmpty()) {
      throw new IllegalArgumentException(where + " must be a non-empty list of host:port");
    }
    List<String> out = new ArrayList<>();
    for (JsonNode n : list) {
      if (!n.isTextual()) {
        throw new IllegalArgumentException(where + ": '" + n + "' is not a host:port string");
      }
      out.add(n.asText());
    }
    return out;
  }

  private static double seconds(JsonNode root, String key, double fallback, Path file) {
    JsonNode n = root.get(key);
    if (n == null) {
      return fallback;
    }
    if (!n.isNumber() || !(n.asDouble() > 0)) {
      throw new IllegalArgumentException(key + " in " + file + " must be a number of seconds > 0, got " + n);
    }
    return n.asDouble();
  }
}
