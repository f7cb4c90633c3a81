package dev.dino4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.data.EvalViews;
import dev.dino4j.data.ImageDataset;
import dev.dino4j.export.SavedModelExport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.SignatureDef;
import org.tensorflow.types.TFloat32;

/**
 * Features from an exported SavedModel's {@code serving_default} signature: the graph a server
 * runs, not a rebuild from weights, so a k-NN score of the export checks the export itself. Images
 * go in as the signature expects them, RGB in [0, 1] (the graph normalises); the centre view is
 * the one the checkpoint evaluation uses.
 */
public final class SavedModelFeatures implements AutoCloseable {

  private final Path dir;
  private final SavedModelBundle bundle;
  private final DinoConfig config;
  private final String input;
  private final String output;
  private final int dim;
  private final int size;

  private SavedModelFeatures(Path dir) throws IOException {
    this.dir = dir;
    Path meta = dir.resolve("assets.extra").resolve(SavedModelExport.METADATA);
    if (!Files.isRegularFile(meta)) {
      throw new IOException(
          meta + ": missing; k-NN of a SavedModel needs one exported by dino4j export");
    }
    JsonNode m = new ObjectMapper().readTree(meta.toFile());
    // JSON is YAML: the exported config goes through the strict loader like any recipe.
    this.config = ConfigLoader.fromYaml(m.get("config").toString(), List.of());
    this.dim = m.get("embed_dim").asInt();
    this.size = m.get("image_size").asInt();
    this.bundle = SavedModelBundle.load(dir.toString(), "serve");
    SignatureDef sig = bundle.metaGraphDef().getSignatureDefMap().get("serving_default");
    if (sig == null || !sig.getInputsMap().containsKey("images")
        || !sig.getOutputsMap().containsKey("embedding")) {
      bundle.close();
      throw new IOException(dir + ": no serving_default signature with images -> embedding");
    }
    this.input = sig.getInputsMap().get("images").getName();
    this.output = sig.getOutputsMap().get("embedding").getName();
  }

  /**
   * Opens a version folder ({@code savedmodels/NAME/3}) or a model folder, taking its highest
   * numeric version as TF Serving does.
   */
  public static SavedModelFeatures open(Path path) throws IOException {
    return new SavedModelFeatures(
        locate(path).orElseThrow(() -> new IOException(
            path + ": no saved_model.pb here or in a numeric version folder below")));
  }

  /** The SavedModel folder {@code path} names, if it names one. */
  public static Optional<Path> locate(Path path) {
    if (Files.isRegularFile(path.resolve("saved_model.pb"))) {
      return Optional.of(path);
    }
    if (!Files.isDirectory(path)) {
      return Optional.empty();
    }
    try (Stream<Path> versions = Files.list(path)) {
      return versions
          .filter(p -> p.getFileName().toString().matches("\\d+"))
          .filter(p -> Files.isRegularFile(p.resolve("saved_model.pb")))
          .max((a, b) -> Long.compare(
              Long.parseLong(a.getFileName().toString()),
              Long.parseLong(b.getFileName().toString())));
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /** The config the model was exported with (model sizes, image size, mean/std, data). */
  public DinoConfig config() {
    return config;
  }

  public Path dir() {
    return dir;
  }

  /** CLS features of the first {@code limit} images (0 = all) of {@code data}. */
  public Features extract(ImageDataset data, int limit, int batchSize, Progress progress) {
    int n = limit > 0 ? Math.min(limit, data.size()) : data.size();
    float[] zero = {0f, 0f, 0f};
    float[] one = {1f, 1f, 1f};
    FeatureExtractor.View view =
        (img, index, dst, off) -> EvalViews.centre(img, size, zero, one, dst, off);
    return FeatureExtractor.extractWith(
        data, FeatureExtractor.indices(n), view, batchSize, progress, this::run, dim, size);
  }

  /** serving_default on a batch [b, S, S, 3] in [0, 1]; returns [b, dim]. */
  float[] run(float[] pixels, int b) {
    try (TFloat32 in = TFloat32.tensorOf(Shape.of(b, size, size, 3), DataBuffers.of(pixels, true, false));
        Result r = bundle.session().runner().feed(input, in).fetch(output).run()) {
      float[] f = new float[b * dim];
      ((TFloat32) r.get(0)).copyTo(DataBuffers.of(f, false, false));
      return f;
    }
  }

  @Override
  public void close() {
    bundle.close();
  }
}
