package dev.dino4j.train;

import dev.dino4j.config.DinoConfig;
import java.nio.file.Path;
import java.util.List;

/**
 * One worker of a test cluster in its own JVM, so a test can kill it like a crashed machine or
 * put it in a network namespace of its own: {@code ClusterWorkerMain RUN_DIR host:port,host:port
 * TASK COLLECTIVE_TIMEOUT_S [EPOCHS STEPS_PER_EPOCH CHECKPOINT_EVERY_STEPS]}. Trains the {@link
 * DistributedTrainerTest} config on synthetic images (by default 1 epoch of 1000 steps); exits 0
 * when the run ends, 3 when it stopped because another worker was lost.
 */
public final class ClusterWorkerMain {

  private ClusterWorkerMain() {}

  public static void main(String[] args) {
    Path dir = Path.of(args[0]);
    Cluster c = new Cluster(List.of(args[1].split(",")), Integer.parseInt(args[2]), Double.parseDouble(args[3]), 120);
    int epochs = args.length > 4 ? Integer.parseInt(args[4]) : 1;
    int steps = args.length > 5 ? Integer.parseInt(args[5]) : 1000;
    int every = args.length > 6 ? Integer.parseInt(args[6]) : 0;
    try {
      new Trainer(config(dir, epochs, steps, every), new TrainerTest.Synthetic(8000, Integer.MAX_VALUE), c).run();
    } catch (Trainer.WorkerLostException e) {
      System.out.println("WORKER LOST: " + e.getMessage());
      System.exit(3);
    }
    System.exit(0);
  }

  /** {@link DistributedTrainerTest#config} (batch 8) with a mid-epoch checkpoint every {@code every} steps. */
  static DinoConfig config(Path dir, int epochs, int steps, int every) {
    DinoConfig c = DistributedTrainerTest.config(dir, epochs, steps, 8);
    DinoConfig.Train t = c.train();
    return new DinoConfig(c.data(), c.augment(), c.model(), c.head(), c.loss(), c.optim(),
        new DinoConfig.Train(t.epochs(), t.batchSize(), t.seed(), t.stepsPerEpoch(), t.outputDir(), t.logEvery(),
            t.saveEvery(), every, 0, t.precision(), t.threads(), t.towers(), t.kernels()),
        c.eval());
  }
}
