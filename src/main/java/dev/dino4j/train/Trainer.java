package dev.dino4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.BadFiles;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.data.MultiCrop;
import dev.dino4j.data.MultiCropBatch;
import dev.dino4j.data.MultiCropLoader;
import dev.dino4j.eval.EvalData;
import dev.dino4j.eval.Knn;
import dev.dino4j.eval.KnnMonitor;
import dev.dino4j.eval.Progress;
import dev.dino4j.model.FusedKernels;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.exceptions.TensorFlowException;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TInt64;

/**
 * The DINO training loop, top to bottom in pipeline order: data, graph, schedules, resume, loop.
 * A run directory holds everything (config.yaml, train.log, metrics.jsonl, tensorboard/,
 * checkpoints/); starting again in the same directory resumes exactly where it stopped.
 *
 * <p>On a {@link Cluster} every worker runs this loop on its shard of each batch; the chief
 * (task 0) owns the run directory's checkpoints, metrics and events, the others log to
 * train-worker&lt;N&gt;.log and take their start state from the chief. train.batch_size is the
 * global batch, so the schedules (and the lr's batch scaling) do not depend on the worker count.
 */
public final class Trainer {

  private static final Logger LOG = LogManager.getLogger(Trainer.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  /** How a run ended. */
  public record Outcome(long globalStep, int epochsDone, float lastLoss, boolean interrupted) {}

  /** A worker of the cluster failed, died or did not answer in time: every worker stops. */
  public static final class WorkerLostException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    WorkerLostException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** A non-finite loss: training stops, the last good checkpoint stays as it was. */
  public static final class DivergedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    DivergedException(String message) {
      super(message);
    }
  }

  private final DinoConfig cfg;
  private final ImageDataset dataset;
  private final Path runDir;
  private final Cluster cluster;
  private volatile boolean stopRequested;
  private StepListener stepListener;

  /**
   * Sees every step as it was trained: the batch fed, the scalars fed and what the step returned.
   * Called on the training thread right after the step, before the next batch is taken (the batch's
   * arrays are reused afterwards) and before a non-finite loss stops the run. The parity harness
   * (dino4j parity-dump) records the steps through it.
   */
  public interface StepListener {
    void stepDone(long globalStep, int epoch, MultiCropBatch batch, DinoGraph.StepInputs in, DinoGraph.StepOutputs out)
        throws IOException;
  }

  public Trainer(DinoConfig cfg, ImageDataset dataset) {
    this(cfg, dataset, Cluster.single());
  }

  /** Worker {@code cluster.task()} of a data-parallel run. */
  public Trainer(DinoConfig cfg, ImageDataset dataset, Cluster cluster) {
    this.cfg = cfg;
    this.dataset = dataset;
    this.runDir = Path.of(cfg.train().outputDir());
    this.cluster = cluster;
  }

  /** Sets the listener that sees every step (one; null for none). */
  public Trainer onStep(StepListener listener) {
    this.stepListener = listener;
    return this;
  }

  /** Asks the loop to checkpoint and return after the current step (Ctrl-C does this). */
  public void requestStop() {
    stopRequested = true;
  }

  public Outcome run() {
    try {
      Files.createDirectories(runDir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create run directory " + runDir + ": " + e.getMessage(), e);
    }
    try (RunLog log = cluster.chief() ? RunLog.attach(runDir) : RunLog.attach(runDir, "train-worker" + cluster.task() + ".log")) {
      return train();
    }
  }

  private Outcome train() {
    String configYaml = ConfigLoader.toYaml(cfg);
    LOG.info("run directory {}\nresolved config:\n{}", runDir.toAbsolutePath(), configYaml);
    boolean chief = cluster.chief();
    DinoConfig.Train t = cfg.train();
    int localBatch = cluster.localBatch(t.batchSize());
    if (cluster.distributed()) {
      LOG.info("{} of {} workers {}: {} of each global batch of {}{}", cluster.describe(cluster.task()), cluster.size(),
          cluster.workers(), localBatch, t.batchSize(), chief ? "; chief: writes checkpoints, metrics and events" : "");
    }
    // threads and precision; fails here, before data and graph, if bf16 is asked of a CPU without it
    ConfigProto sessionOptions = SessionOptions.of(t, localBatch);
    Checkpoints checkpoints = new Checkpoints(runDir, t.checkpointEverySteps(), t.checkpointEveryMinutes());
    if (chief) {
      checkpoints.removeUnfinished(); // a write killed last time left a hidden temp folder
    }
    // only the chief reads and writes checkpoints; the others get its variables at start-up
    Optional<Path> resumeFrom = chief ? checkpoints.latest() : Optional.empty();
    resumeFrom.ifPresent(this::checkCompatible);
    if (chief) {
      writeString(runDir.resolve("config.yaml"), configYaml);
    }

    // ---- data: multi-crop views built by worker threads ahead of the graph ----
    MultiCrop multiCrop = new MultiCrop(cfg.augment(), cfg.data().mean(), cfg.data().std());
    BadFiles badFiles = new BadFiles(cfg.data().badFiles());
    try {
      badFiles.requireReadable(dataset); // a dataset of unreadable files fails before the graph
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
    if (chief && !dataset.classes().isEmpty()) {
      writeString(runDir.resolve("classes.txt"), String.join("\n", dataset.classes()) + "\n");
    }
    // After a lost collective the graph and session are left to the process's end, not closed: TF's
    // abort of the step's all-reduce still runs on its own threads and reads the step's state, and
    // freeing that under it crashed a worker's JVM (SIGSEGV in RingAlg::StartAbort, CI 2026-12-03).
    // Graph.close() would also wait forever for the session left open.
    boolean collectiveLost = false;
    Graph graph = new Graph();
    try (MultiCropLoader loader = new MultiCropLoader(dataset, multiCrop, t.batchSize(), cfg.data().workers(),
            cfg.data().prefetch(), t.seed(), badFiles, cluster.task(), cluster.size())) {
      int steps = t.stepsPerEpoch() > 0 ? Math.min(t.stepsPerEpoch(), loader.stepsPerEpoch()) : loader.stepsPerEpoch();

      // ---- graph: student, teacher, loss, AdamW, EMA, center in one step op ----
      long buildStart = System.nanoTime();
      DinoGraph dino = new DinoGraph(graph, cfg, cluster);
      LOG.info("graph built in {} s: student {} parameters ({} trainable tensors), K = {}, {}, {}",
          String.format(Locale.ROOT, "%.1f", (System.nanoTime() - buildStart) / 1e9), dino.student.count(),
          dino.optimizer.trainable().size(), cfg.head().outDim(),
          dino.towers == 1 ? "one tower" : dino.towers + " towers of " + localBatch / dino.towers + " samples, one thread each",
          dino.fusedKernels ? "fused kernels (LayerNorm, GELU, residual, attention, AdamW, EMA)" : "TF's stock ops" + kernelsWhy(cfg.train()));

      // ---- schedules, per step (teacher temperature per epoch) ----
      Schedules sched = Schedules.of(cfg, steps);

      Session session = openSession(graph, sessionOptions);
      try {
        // ---- resume or start fresh (the chief), then every worker takes the chief's variables ----
        Checkpoints.State state;
        if (!chief) {
          state = null; // below, from the chief's step
        } else if (resumeFrom.isPresent()) {
          state = Checkpoints.restore(session, resumeFrom.get());
          long inGraph = dino.globalStep(session);
          if (inGraph != state.globalStep() || state.globalStep() != (long) state.epoch() * steps + state.stepInEpoch()) {
            throw new IllegalStateException("checkpoint " + resumeFrom.get() + " is inconsistent: step " + inGraph
                + " in the graph, " + state + " in state.json, " + steps + " steps per epoch now");
          }
          LOG.info("resumed from {} at epoch {} step {} (global step {})",
              resumeFrom.get(), state.epoch(), state.stepInEpoch(), state.globalStep());
        } else {
          dino.initialize(session, t.seed());
          state = new Checkpoints.State(0, 0, 0, true);
          LOG.info("initialised a new run (seed {})", t.seed());
        }
        if (cluster.distributed()) {
          cluster.awaitPeers();
          long t0 = System.nanoTime();
          try {
            requireSameRun(session, graph);
            dino.copyFromChief(session);
          } catch (TensorFlowException e) {
            throw lost("copying the chief's variables at start-up", e, cluster.startupTimeoutSeconds(), "startup_timeout_s");
          }
          long gs = dino.globalStep(session);
          if (!chief) {
            state = new Checkpoints.State((int) (gs / steps), (int) (gs % steps), gs, gs % steps == 0);
          }
          LOG.info(String.format(Locale.ROOT, "all %d workers hold the chief's variables (global step %d; copied in %.1f s)",
              cluster.size(), gs, (System.nanoTime() - t0) / 1e9));
        }
        if (chief) {
          dino.openSummaries(session, runDir.resolve("tensorboard"));
        }

        // Ctrl-C / SIGTERM: ask the loop to checkpoint, and hold the JVM until it has.
        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
          requestStop();
          try {
            finished.await(5, TimeUnit.MINUTES);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }, "dino4j-interrupt");
        Runtime.getRuntime().addShutdownHook(hook);
        try (BufferedWriter metrics = chief
            ? Files.newBufferedWriter(runDir.resolve("metrics.jsonl"), StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND)
            : new BufferedWriter(Writer.nullWriter())) {
          return loop(session, dino, loader, sched, checkpoints, configYaml, state, steps, metrics);
        } catch (IOException e) {
          throw new UncheckedIOException("cannot write " + runDir.resolve("metrics.jsonl") + ": " + e.getMessage(), e);
        } finally {
          if (chief) {
            try {
              dino.flushSummaries(session);
            } catch (RuntimeException e) {
              LOG.warn("could not flush TensorBoard events: {}", e.getMessage());
            }
          }
          if (chief) {
            RunReport.writeQuietly(runDir, LOG); // also after a stop or a divergence: the curves up to it
          }
          finished.countDown();
          try {
            Runtime.getRuntime().removeShutdownHook(hook);
          } catch (IllegalStateException shuttingDown) {
            // the JVM is exiting because of Ctrl-C: the checkpoint is already written
          }
        }
      } catch (WorkerLostException e) {
        collectiveLost = true;
        throw e;
      } finally {
        if (!collectiveLost) {
          session.close();
        }
      }
    } finally {
      if (!collectiveLost) {
        graph.close();
      }
    }
  }

  private Outcome loop(
      Session session, DinoGraph dino, MultiCropLoader loader, Schedules sched, Checkpoints checkpoints,
      String configYaml, Checkpoints.State start, int steps, BufferedWriter metrics) throws IOException {
    DinoConfig.Train t = cfg.train();
    int epochs = t.epochs();
    int batch = t.batchSize(); // global
    int localBatch = cluster.localBatch(batch);
    boolean chief = cluster.chief();
    float lastLoss = Float.NaN;
    KnnMonitor knn = chief ? knnMonitor() : null;
    Knn.Result lastKnn = null;
    long runStart = System.nanoTime();
    long totalSteps = (long) epochs * steps;
    if (start.epoch() >= epochs) {
      LOG.info("the run has finished all {} epochs; nothing to train (raise train.epochs to go on)", epochs);
    }
    for (int epoch = start.epoch(); epoch < epochs; epoch++) {
      int first = epoch == start.epoch() ? start.stepInEpoch() : 0;
      Progress bar = new Progress(System.err, String.format(Locale.ROOT, "epoch %d/%d", epoch + 1, epochs), first, steps, batch, "img");
      double lossSum = 0;
      long epochStart = System.nanoTime();
      long waitStart = loader.waitNanos();
      try (MultiCropLoader.EpochStream stream = loader.epoch(epoch, first, steps)) {
        for (int s = first; s < steps; s++) {
          MultiCropBatch b = stream.next();
          long gs = (long) epoch * steps + s;
          DinoGraph.StepInputs in = new DinoGraph.StepInputs(
              (float) sched.lr()[(int) gs], (float) sched.weightDecay()[(int) gs], (float) sched.momentum()[(int) gs],
              (float) sched.teacherTemp()[epoch], epoch < cfg.optim().freezeLastLayer(), t.seed(), gs, stopRequested);
          boolean logStep = gs % t.logEvery() == 0;
          DinoGraph.StepOutputs out;
          try {
            out = dino.runStep(session, b.globals(), b.locals(), localBatch, in, logStep && chief);
          } catch (TensorFlowException e) {
            if (!cluster.distributed()) {
              throw e;
            }
            throw lost(String.format(Locale.ROOT, "global step %d (epoch %d, step %d of %d)", gs, epoch, s, steps), e,
                cluster.collectiveTimeoutSeconds(), "collective_timeout_s");
          }
          if (stepListener != null) {
            stepListener.stepDone(gs, epoch, b, in, out);
          }
          if (!Float.isFinite(out.loss()) || !Float.isFinite(out.koleo()) || !Float.isFinite(out.ibot())) {
            throw new DivergedException(String.format(Locale.ROOT,
                "loss is %s at global step %d (epoch %d, step %d of %d); lr %.4g, weight decay %.4g, teacher temperature %.4g, "
                    + "teacher momentum %.6f. Training stopped; the last good checkpoint (%s) is untouched. "
                    + "Lower optim.lr, raise optim.warmup_epochs or check the input data.",
                out.loss(), gs, epoch, s, steps, in.lr(), in.weightDecay(), in.teacherTemp(), in.momentum(),
                checkpoints.latest().map(Path::toString).orElse("none yet")));
          }
          lastLoss = out.loss();
          lossSum += out.loss();
          if (logStep) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("step", gs);
            m.put("epoch", epoch);
            m.put("loss", out.loss());
            m.put("teacher_entropy", out.teacherEntropy());
            m.put("kl", out.kl());
            if (cfg.loss().koleoWeight() > 0) {
              m.put("koleo", out.koleo());
            }
            if (cfg.loss().ibot()) {
              m.put("ibot", out.ibot());
            }
            m.put("lr", in.lr());
            m.put("weight_decay", in.weightDecay());
            m.put("teacher_momentum", in.momentum());
            m.put("teacher_temp", in.teacherTemp());
            metrics.write(JSON.writeValueAsString(m));
            metrics.newLine();
            metrics.flush();
            LOG.info(String.format(Locale.ROOT,
                "step %d (epoch %d, %d/%d): loss %.4f, teacher entropy %.3f, KL %.4f, lr %.3g, wd %.3g, momentum %.5f, teacher temp %.4f",
                gs, epoch + 1, s + 1, steps, out.loss(), out.teacherEntropy(), out.kl(), in.lr(), in.weightDecay(),
                in.momentum(), in.teacherTemp()));
          }
          // the bar's own ETA is the epoch's; the run's counts k-NN checks and checkpoints as well
          long doneHere = gs + 1 - start.globalStep();
          double runEta = (System.nanoTime() - runStart) / 1e9 / doneHere * (totalSteps - gs - 1);
          bar.update(s + 1, String.format(Locale.ROOT, "loss %.4f lr %.2e | run %d/%d steps, ETA %s", out.loss(), in.lr(),
              gs + 1, totalSteps, Progress.clock(runEta)));
          // on a cluster every worker sees the same stop flag (any worker's request), so all stop here
          if (out.stop() || (stopRequested && !cluster.distributed())) {
            if (chief) {
              Path p = checkpoints.save(session, new Checkpoints.State(epoch, s + 1, gs + 1, false), configYaml, t.saveEvery());
              LOG.warn("interrupted: checkpoint {} written at epoch {} step {}; run again to resume", p, epoch, s + 1);
            } else {
              LOG.warn("interrupted at epoch {} step {}: the chief writes the checkpoint", epoch, s + 1);
            }
            return new Outcome(gs + 1, epoch, lastLoss, true);
          }
          // train.checkpoint_every_steps / _minutes; the last step of an epoch saves below anyway
          if (chief && s + 1 < steps && checkpoints.due(gs + 1)) {
            Path p = checkpoints.save(session, new Checkpoints.State(epoch, s + 1, gs + 1, false), configYaml, t.saveEvery());
            LOG.info("checkpoint {} written at epoch {} step {}/{}", p.getFileName(), epoch + 1, s + 1, steps);
          }
        }
      }
      double secs = (System.nanoTime() - epochStart) / 1e9; // training time only, before any evaluation
      double waitShare = (loader.waitNanos() - waitStart) / 1e9 / secs;
      int done = steps - first;
      Path p = chief
          ? checkpoints.save(session, new Checkpoints.State(epoch + 1, 0, (long) (epoch + 1) * steps, true), configYaml, t.saveEvery())
          : null;
      LOG.info(String.format(Locale.ROOT,
          "epoch %d/%d: mean loss %.4f over %d steps, %.1f s, %.1f img/s%s, waiting for data %.1f%% of the time; %s; %s",
          epoch + 1, epochs, lossSum / Math.max(done, 1), done, secs, done * (double) batch / secs,
          cluster.distributed() ? " (all " + cluster.size() + " workers)" : "", 100 * waitShare,
          loader.badFiles().count() == 0 ? "no bad files" : loader.badFiles().count() + " bad file(s) skipped so far (warnings above name them)",
          p == null ? "the chief saves the checkpoint" : "saved " + p.getFileName()));
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("epoch_end", epoch);
      m.put("step", (long) (epoch + 1) * steps);
      m.put("mean_loss", lossSum / Math.max(done, 1));
      m.put("seconds", secs);
      m.put("images_per_s", done * (double) batch / secs);
      m.put("data_wait_share", waitShare);
      m.put("bad_files", loader.badFiles().count());
      if (knn != null && (epoch + 1) % cfg.eval().knnEvery() == 0) {
        long t0 = System.nanoTime();
        Knn.Result r = knn.evaluate(CheckpointWeights.read(p, cfg, "teacher"));
        LOG.info(String.format(Locale.ROOT, "epoch %d: %d-NN of the teacher on %s: top-1 %.2f%%, top-5 %.2f%% (%.1f s)",
            epoch + 1, r.k(), "the test split", r.top1(), r.top5(), (System.nanoTime() - t0) / 1e9));
        m.put("knn_k", r.k());
        m.put("knn_top1", r.top1());
        m.put("knn_top5", r.top5());
        dino.writeEvalScalar(session, "eval/knn_top1", (float) r.top1());
        dino.writeEvalScalar(session, "eval/knn_top5", (float) r.top5());
        lastKnn = r;
      }
      metrics.write(JSON.writeValueAsString(m));
      metrics.newLine();
      metrics.flush();
      if (lastKnn != null && m.containsKey("knn_top1")) {
        RunReport.writeQuietly(runDir, LOG); // a new point on the k-NN curve
      }
      if (chief) {
        dino.flushSummaries(session);
      }
      if (stopRequested && !cluster.distributed()) {
        return new Outcome((long) (epoch + 1) * steps, epoch + 1, lastLoss, true);
      }
    }
    if (chief && start.epoch() < epochs) {
      logSummary(checkpoints, lastKnn, (System.nanoTime() - runStart) / 1e9, totalSteps - start.globalStep());
    }
    return new Outcome((long) epochs * steps, epochs, lastLoss, false);
  }

  /** What a finished run gives and where it is, and the next command. */
  private void logSummary(Checkpoints checkpoints, Knn.Result knn, double seconds, long stepsTrained) {
    String dir = runDir.toString();
    LOG.info(String.format(Locale.ROOT, "%n==== run finished: %s ====%n"
            + "  trained     %d steps in %s (this start; %.1f img/s over all of it, evaluation and checkpoints included)%n"
            + "  k-NN        %s%n"
            + "  checkpoint  %s%n"
            + "  report      %s (loss, entropy, KL, k-NN, schedules against the step)%n"
            + "  TensorBoard tensorboard --logdir %s%n"
            + "  next        make export RUN=%s   (or: bin/dino4j export %s; full-test-set k-NN: make eval RUN=%s)",
        dir, stepsTrained, Progress.clock(seconds), stepsTrained * cfg.train().batchSize() / Math.max(seconds, 1e-9),
        knn == null ? "no in-training check (eval.knn_every = 0): run make eval RUN=" + dir
            : String.format(Locale.ROOT, "%d-NN of the teacher, top-1 %.2f%%, top-5 %.2f%% (the in-training check: %s)",
                knn.k(), knn.top1(), knn.top5(), knnScope()),
        checkpoints.latest().map(Path::toString).orElse("none"), runDir.resolve("report.png"),
        runDir.resolve("tensorboard"), dir, dir, dir));
  }

  private String knnScope() {
    DinoConfig.Eval e = cfg.eval();
    return (e.knnTrainLimit() == 0 ? "all" : "first " + e.knnTrainLimit()) + " training images as the bank, "
        + (e.knnTestLimit() == 0 ? "all" : "first " + e.knnTestLimit()) + " test images";
  }

  /** k-NN on the data's test split every eval.knn_every epochs, or null when off. */
  private KnnMonitor knnMonitor() {
    DinoConfig.Eval e = cfg.eval();
    if (e.knnEvery() <= 0) {
      return null;
    }
    try {
      return new KnnMonitor(cfg, EvalData.open(cfg, "train", null), EvalData.open(cfg, "test", null),
          e.knnTrainLimit(), e.knnTestLimit(), e.knnK(), e.knnTemperature());
    } catch (IOException ex) {
      throw new UncheckedIOException("eval.knn_every is set but the labelled train/test splits of data.path cannot be opened: "
          + ex.getMessage(), ex);
    }
  }

  /** Resuming with a different network or batch would silently train something else. */
  private void checkCompatible(Path ckpt) {
    DinoConfig saved = ConfigLoader.fromYaml(Checkpoints.config(ckpt), java.util.List.of());
    StringBuilder diff = new StringBuilder();
    if (!saved.model().equals(cfg.model())) {
      diff.append("\n  model: checkpoint ").append(saved.model()).append(", now ").append(cfg.model());
    }
    if (!saved.head().equals(cfg.head())) {
      diff.append("\n  head: checkpoint ").append(saved.head()).append(", now ").append(cfg.head());
    }
    if (saved.augment().globalSize() != cfg.augment().globalSize()
        || saved.augment().localSize() != cfg.augment().localSize()
        || saved.augment().localCrops() != cfg.augment().localCrops()) {
      diff.append("\n  augment crop sizes/counts differ");
    }
    if (saved.train().batchSize() != cfg.train().batchSize() || saved.train().epochs() != cfg.train().epochs()
        || saved.train().stepsPerEpoch() != cfg.train().stepsPerEpoch()) {
      diff.append("\n  train.batch_size / epochs / steps_per_epoch differ (the schedules would change)");
    }
    if (diff.length() > 0) {
      throw new IllegalStateException("run directory " + runDir + " holds a checkpoint of a different run (" + ckpt
          + "):" + diff + "\nUse another train.output_dir, or the same config to resume.");
    }
  }

  /** The in-process session, or on a cluster a session on this worker's TF server. */
  private Session openSession(Graph graph, ConfigProto config) {
    return cluster.distributed() ? cluster.openSession(graph, config) : new Session(graph, config);
  }

  /**
   * Every worker must train the same recipe on the same dataset, or the replicas would silently
   * differ (a different lr) or the all-reduce fail obscurely (a different model). Each worker puts
   * a fingerprint of both in its own slot of a vector, one all-reduce sums them, and each compares
   * every slot with the chief's. Keys that may differ per worker (paths, threads, logging, the
   * chief's evaluation) are left out.
   */
  private void requireSameRun(Session session, Graph graph) {
    Map<String, Map<String, Object>> recipe = ConfigLoader.toMap(cfg);
    recipe.remove("eval");
    for (String k : List.of("path", "workers", "prefetch")) {
      recipe.get("data").remove(k);
    }
    for (String k : List.of("output_dir", "threads", "log_every", "save_every", "checkpoint_every_steps",
        "checkpoint_every_minutes")) { // only the chief writes checkpoints
      recipe.get("train").remove(k);
    }
    long[] slots = new long[cluster.size()];
    slots[cluster.task()] = fingerprint(recipe + " images " + dataset.size());
    Ops tf = Ops.create(graph).withSubScope("same_run_check");
    Operand<TInt64> all = AllReduce.reduce(tf, cluster, tf.constant(slots), AllReduce.SAME_RUN, "Id",
        cluster.startupTimeoutSeconds());
    try (Result r = session.runner().fetch(all).run()) {
      TInt64 t = (TInt64) r.get(0);
      for (int i = 1; i < cluster.size(); i++) {
        if (t.getLong(i) != t.getLong(0)) {
          throw new IllegalStateException(cluster.describe(i) + " trains a different recipe or dataset than the chief ("
              + "model, head, augment, loss, optim, train.batch_size/epochs/steps_per_epoch/seed, data.source/split/"
              + "mean/std or the number of images differ; this worker: " + recipe + ", " + dataset.size()
              + " images). Start every worker with the same config and data.");
        }
      }
    }
  }

  /** Why train.kernels chose TF's stock ops, for the log line. */
  private static String kernelsWhy(DinoConfig.Train t) {
    if ("stock".equals(t.kernels())) {
      return " (train.kernels: stock)";
    }
    return FusedKernels.available() ? " (ops spread over several threads)" : " (" + FusedKernels.problem() + ")";
  }

  private static long fingerprint(String s) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
      return ByteBuffer.wrap(h).getLong();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A TF error during a collective step, as a message that says what to do. */
  private WorkerLostException lost(String when, RuntimeException e, double timeout, String key) {
    // a collective cannot tell which peer failed; with two workers it can only be the other one
    List<String> others = new ArrayList<>();
    for (int t = 0; t < cluster.size(); t++) {
      if (t != cluster.task()) {
        others.add(cluster.describe(t));
      }
    }
    String other = others.size() == 1 ? others.get(0) : "one of " + String.join(", ", others);
    return new WorkerLostException(String.format(Locale.ROOT,
        "%s of %d stopped at %s: %s%nAnother worker (%s) died, is unreachable, failed, or did not reach the same step "
            + "within %.0f s (cluster %s); every worker stops. Restart all %d workers with the same command: they resume "
            + "from the chief's last checkpoint%s.",
        cluster.describe(cluster.task()), cluster.size(), when, firstLine(e.getMessage()), other, timeout, key, cluster.size(),
        cluster.chief() ? new Checkpoints(runDir).latest().map(p -> " (" + p + ")").orElse(" (none yet: from the start)") : ""),
        e);
  }

  /** The line of a TF message that says what happened ("UNAVAILABLE: ..."), not where. */
  private static String firstLine(String s) {
    if (s == null) {
      return "(no message)";
    }
    for (String line : s.split("\n")) {
      String l = line.strip();
      if (!l.isEmpty() && !l.startsWith("From /job:")) {
        return l.length() > 300 ? l.substring(0, 300) + "..." : l;
      }
    }
    return s.strip();
  }


  private static void writeString(Path p, String s) {
    try {
      Files.writeString(p, s, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + p + ": " + e.getMessage(), e);
    }
  }
}
