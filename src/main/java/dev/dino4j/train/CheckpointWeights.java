package dev.dino4j.train;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.DinoHead;
import dev.dino4j.model.ParamSpec;
import dev.dino4j.model.Params;
import dev.dino4j.model.VisionTransformer;
import dev.dino4j.model.Weights;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;

/**
 * Reads the weights of one network (student or teacher) out of a training checkpoint, and writes
 * a fresh run whose student and teacher start from given weights (weight import).
 */
public final class CheckpointWeights {

  /** A checkpoint folder and the config it was trained with. */
  public record Source(Path checkpoint, DinoConfig config) {}

  private CheckpointWeights() {}

  /**
   * Resolves a run directory (its latest checkpoint) or a checkpoint folder, with a message saying
   * what was expected when it is neither.
   */
  public static Source resolve(Path runOrCheckpoint) {
    Path ckpt;
    if (Files.isRegularFile(runOrCheckpoint.resolve("vars.index"))) {
      ckpt = runOrCheckpoint;
    } else if (Files.isDirectory(runOrCheckpoint.resolve("checkpoints"))) {
      ckpt = new Checkpoints(runOrCheckpoint).latest().orElseThrow(() -> new IllegalArgumentException(
          runOrCheckpoint + " is a run directory without a complete checkpoint (no checkpoints/latest)"));
    } else {
      throw new IllegalArgumentException(runOrCheckpoint
          + " is neither a run directory (with checkpoints/latest) nor a checkpoint folder (with vars.index)");
    }
    return new Source(ckpt, ConfigLoader.fromYaml(Checkpoints.config(ckpt), List.of()));
  }

  /** The parameters of backbone + head for a config, in graph order. */
  public static List<ParamSpec> specs(DinoConfig cfg) {
    VisionTransformer.Dims dims = VisionTransformer.Dims.of(cfg.model(), cfg.augment().globalSize());
    List<ParamSpec> specs = new ArrayList<>(VisionTransformer.params(dims));
    specs.addAll(DinoHead.params(cfg.head(), dims.embedDim()));
    return specs;
  }

  /** Reads {@code scope} ("student" or "teacher") from a checkpoint written with {@code cfg}. */
  public static Weights read(Path checkpoint, DinoConfig cfg, String scope) {
    return read(checkpoint, specs(cfg), scope);
  }

  /** Reads the parameters {@code specs} of {@code scope} from a checkpoint (iBOT's separate head, for one). */
  public static Weights read(Path checkpoint, List<ParamSpec> specs, String scope) {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      Params params = Params.create(tf, scope, specs);
      try (Session s = new Session(g)) {
        try {
          s.restore(checkpoint.resolve("vars").toString());
        } catch (RuntimeException e) {
          throw new IllegalStateException("cannot read " + scope + " weights from " + checkpoint
              + " (corrupt, or written for another architecture?): " + e.getMessage(), e);
        }
        Session.Runner r = s.runner();
        for (Params.Param p : params.all()) {
          r.fetch(p.value());
        }
        Weights w = new Weights();
        try (Result res = r.run()) {
          for (int i = 0; i < params.all().size(); i++) {
            ParamSpec spec = params.all().get(i).spec();
            float[] values = new float[spec.size()];
            ((TFloat32) res.get(i)).copyTo(DataBuffers.of(values, false, false));
            w.put(spec.name(), spec.shape(), values);
          }
        }
        return w;
      }
    }
  }

  /**
   * Writes checkpoint step 0 of a new run in {@code cfg.train().outputDir()}: student and teacher
   * both start from {@code weights} (which must hold every backbone and head parameter with the
   * config's shapes; missing head parameters keep their fresh initialisation when {@code
   * backboneOnly}), optimizer state zero. {@code dino4j train} then resumes from it.
   */
  public static Path writeRun(DinoConfig cfg, Weights weights, boolean backboneOnly) {
    List<String> problems = new ArrayList<>();
    for (ParamSpec spec : specs(cfg)) {
      boolean head = spec.name().startsWith(DinoHead.PREFIX);
      if (!weights.has(spec.name())) {
        if (!(head && backboneOnly)) {
          problems.add("missing " + spec.name() + java.util.Arrays.toString(spec.shape()));
        }
      } else if (!java.util.Arrays.equals(weights.get(spec.name()).shape(), spec.shape())) {
        problems.add(spec.name() + ": shape " + java.util.Arrays.toString(weights.get(spec.name()).shape())
            + ", the config needs " + java.util.Arrays.toString(spec.shape()));
      }
    }
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException("weights do not fit the config:\n  " + String.join("\n  ", problems));
    }
    Path runDir = Path.of(cfg.train().outputDir());
    if (new Checkpoints(runDir).latest().isPresent()) {
      throw new IllegalStateException(runDir + " already holds a checkpoint; import into a new train.output_dir");
    }
    try (Graph g = new Graph()) {
      DinoGraph dino = new DinoGraph(g, cfg);
      Ops tf = Ops.create(g).withSubScope("import");
      List<Placeholder<TFloat32>> feeds = new ArrayList<>();
      List<Op> assigns = new ArrayList<>();
      List<Weights.Tensor> values = new ArrayList<>();
      for (Params net : List.of(dino.student, dino.teacher)) {
        for (Params.Param p : net.all()) {
          if (!weights.has(p.spec().name())) {
            continue;
          }
          Placeholder<TFloat32> ph = tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(p.spec().shape())));
          feeds.add(ph);
          assigns.add(tf.assign(p.variable(), ph));
          values.add(weights.get(p.spec().name()));
        }
      }
      Op importAll = tf.withControlDependencies(assigns).noOp();
      try (Session s = new Session(g)) {
        dino.initialize(s, cfg.train().seed());
        List<TFloat32> tensors = new ArrayList<>();
        try {
          Session.Runner r = s.runner().addTarget(importAll);
          for (int i = 0; i < feeds.size(); i++) {
            Weights.Tensor t = values.get(i);
            TFloat32 tensor = TFloat32.tensorOf(Shape.of(t.shape()), DataBuffers.of(t.values(), true, false));
            tensors.add(tensor);
            r.feed(feeds.get(i), tensor);
          }
          r.run().close();
        } finally {
          tensors.forEach(TFloat32::close);
        }
        return new Checkpoints(runDir).save(s, new Checkpoints.State(0, 0, 0, true), ConfigLoader.toYaml(cfg), 0);
      }
    }
  }
}
