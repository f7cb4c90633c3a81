package dev.dino4j.train;

import java.nio.file.Path;
import java.util.List;

/**
 * One worker of a test cluster in its own JVM, so a test can kill it like a crashed machine:
 * {@code ClusterWorkerMain RUN_DIR host:port,host:port TASK COLLECTIVE_TIMEOUT_S}. Trains the
 * {@link DistributedTrainerTest} config on synthetic images for many steps.
 */
public final class ClusterWorkerMain {

  private ClusterWorkerMain() {}

  public static void main(String[] args) {
    Path dir = Path.of(args[0]);
    Cluster c = new Cluster(List.of(args[1].split(",")), Integer.parseInt(args[2]), Double.parseDouble(args[3]), 120);
    new Trainer(DistributedTrainerTest.config(dir, 1, 1000, 8), new TrainerTest.Synthetic(8000, Integer.MAX_VALUE), c).run();
    System.exit(0);
  }
}
