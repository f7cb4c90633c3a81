package dev.dino4j.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.model.VisionTransformer;
import dev.dino4j.model.Weights;
import dev.dino4j.train.CheckpointWeights;
import dev.dino4j.train.Checkpoints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.SavedModelBundle;
import org.tensorflow.Session;
import org.tensorflow.Signature;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.proto.TensorProto;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TString;

/**
 * Writes a trained backbone as a SavedModel in TF Serving's layout:
 *
 * <pre>
 *   &lt;base&gt;/&lt;name&gt;/&lt;version&gt;/
 *     saved_model.pb                       graph + four signatures (tag "serve")
 *     variables/variables.{index,data-*}   the backbone's weights, named as in training
 *     assets.extra/tf_serving_warmup_requests   one PredictionLog per signature (TFRecord)
 *     assets.extra/dino4j.json             config, step, patch, dims, mean/std, source checkpoint
 * </pre>
 *
 * Versions are numbers (TF Serving serves the highest); the default is the next free one, and an
 * existing version is never touched. Everything is written into a hidden temporary folder beside
 * the versions (TF Serving ignores non-numeric names) and renamed into place at the end, so a
 * server polling the folder never sees half a version; on any failure the temporary folder is
 * deleted. The graph is a dedicated {@link InferenceGraph}, never the training session (whose
 * export would carry the student, head, optimizer state and loss).
 */
public final class SavedModelExport {

  private static final Logger LOG = LogManager.getLogger(SavedModelExport.class);
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");

  /** The metadata file's name, under assets.extra/. */
  public static final String METADATA = "dino4j.json";

  /**
   * What to export and where.
   *
   * @param source a run directory (its latest checkpoint) or a checkpoint folder
   * @param base folder of models, e.g. savedmodels
   * @param name model name; null = the run directory's name
   * @param version explicit version (must not exist); null = the next free one
   * @param network "teacher" (default in the CLI) or "student"
   */
  public record Request(Path source, Path base, String name, Long version, String network) {}

  /** A written version. */
  public record Written(Path dir, String name, long version, long globalStep, long bytes, double seconds) {}

  private SavedModelExport() {}

  public static Written export(Request req) {
    long start = System.nanoTime();
    if (!req.network().equals("teacher") && !req.network().equals("student")) {
      throw new IllegalArgumentException("--network must be teacher or student, got " + req.network());
    }
    if (!Files.exists(req.source())) {
      throw new IllegalArgumentException(req.source() + " does not exist; expected a run directory (with "
          + "checkpoints/latest) or a checkpoint folder (with vars.index)");
    }
    CheckpointWeights.Source src = CheckpointWeights.resolve(req.source());
    String name = req.name() != null ? req.name() : defaultName(req.source());
    if (!NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("model name '" + name + "' must be letters, digits, '.', '_' or '-'"
          + " (it becomes a folder name and part of TF Serving's URL)");
    }
    Path modelDir = req.base().resolve(name);
    try {
      Files.createDirectories(modelDir);
    } catch (IOException e) {
      throw new UncheckedIOException(new IOException("cannot create the model folder " + modelDir
          + " (" + e.getClass().getSimpleName() + ": " + e.getMessage() + "); expected --base to be a writable folder", e));
    }
    if (!Files.isWritable(modelDir)) {
      throw new UncheckedIOException(new IOException(modelDir + " is not writable; expected --base to be a writable folder"));
    }
    long version = req.version() != null ? req.version() : nextVersion(modelDir);
    if (version < 1) {
      throw new IllegalArgumentException("--version must be >= 1, got " + version);
    }
    Path target = modelDir.resolve(Long.toString(version));
    if (Files.exists(target)) {
      throw new IllegalStateException(target + " already exists; versions are never overwritten. Leave out --version"
          + " for the next free one (" + nextVersion(modelDir) + "), or remove that folder first");
    }

    DinoConfig cfg = src.config();
    Weights weights = CheckpointWeights.read(src.checkpoint(), cfg, req.network()); // refuses corrupt / mismatched
    long step = globalStep(src.checkpoint());

    Path tmp;
    try {
      tmp = Files.createTempDirectory(modelDir, ".tmp-" + version + "-");
      if (tmp.getFileSystem().supportedFileAttributeViews().contains("posix")) {
        // temp folders are created owner-only; a TF Serving process running as another user must read it
        Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(new IOException("cannot write in " + modelDir + ": " + e.getMessage(), e));
    }
    try {
      write(tmp, name, version, cfg, weights, req.network(), src.checkpoint(), step);
      if (Files.exists(target)) { // another export took this version meanwhile
        throw new FileAlreadyExistsException(target.toString(), null, "written by another export meanwhile");
      }
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      deleteTree(tmp);
      throw new UncheckedIOException(new IOException("cannot write " + target + ": " + e.getMessage(), e));
    } catch (RuntimeException | Error e) {
      deleteTree(tmp);
      throw e;
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    long bytes = size(target);
    LOG.info("exported the {} of {} (step {}) to {} ({} KiB, {} s)", req.network(), src.checkpoint(), step,
        target, bytes / 1024, String.format("%.1f", seconds));
    return new Written(target, name, version, step, bytes, seconds);
  }

  /** Builds the inference graph, loads the weights, checks every warm-up request runs, and writes it all into dir. */
  private static void write(Path dir, String name, long version, DinoConfig cfg, Weights weights, String network,
      Path checkpoint, long step) throws IOException {
    try (Graph g = new Graph()) {
      InferenceGraph graph = new InferenceGraph(g, cfg, network);
      try (Session s = new Session(g)) {
        graph.load(s, weights);
        List<WarmupRequests.Request> warmup = warmupRequests(cfg.augment().globalSize());
        for (WarmupRequests.Request r : warmup) {
          run(s, graph.signature(r.signature()), r.inputs()); // a request that fails here would fail in TF Serving
        }
        SavedModelBundle.exporter(dir.toString())
            .withSession(s)
            .withSignatures(graph.signatures().toArray(new Signature[0]))
            .export();
        Path extra = Files.createDirectories(dir.resolve("assets.extra"));
        List<byte[]> records = new ArrayList<>();
        for (WarmupRequests.Request r : warmup) {
          records.add(WarmupRequests.predictionLog(name, r));
        }
        WarmupRequests.writeTfRecord(extra.resolve(WarmupRequests.FILE), records);
        JSON.writeValue(extra.resolve(METADATA).toFile(), metadata(cfg, graph.dims(), network, checkpoint, step, version));
      }
    }
  }

  /** One request per signature at the training resolution: grey images, and a PNG for image_bytes. */
  static List<WarmupRequests.Request> warmupRequests(int size) throws IOException {
    float[] grey = new float[2 * size * size * 3];
    java.util.Arrays.fill(grey, 0.5f);
    TensorProto images = WarmupRequests.floatTensor(grey, 2, size, size, 3);
    BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < size; y++) {
      for (int x = 0; x < size; x++) {
        img.setRGB(x, y, ((x * 255 / size) << 16) | ((y * 255 / size) << 8) | 128);
      }
    }
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    ImageIO.write(img, "png", png);
    return List.of(
        new WarmupRequests.Request(InferenceGraph.SERVING_DEFAULT, Map.of("images", images)),
        new WarmupRequests.Request(InferenceGraph.IMAGE_BYTES,
            Map.of("image_bytes", WarmupRequests.stringTensor(List.of(png.toByteArray())))),
        new WarmupRequests.Request(InferenceGraph.PATCH_TOKENS, Map.of("images", images)),
        new WarmupRequests.Request(InferenceGraph.ATTENTION, Map.of("images", images)));
  }

  private static void run(Session s, Signature sig, Map<String, TensorProto> inputs) {
    List<Tensor> feeds = new ArrayList<>();
    try {
      Session.Runner r = s.runner();
      for (Map.Entry<String, TensorProto> e : inputs.entrySet()) {
        Tensor t = tensor(e.getValue());
        feeds.add(t);
        r.feed(sig.getInputs().get(e.getKey()).name, t);
      }
      for (Signature.TensorDescription out : sig.getOutputs().values()) {
        r.fetch(out.name);
      }
      try (Result ignored = r.run()) {
        // ran: the request is valid
      }
    } finally {
      feeds.forEach(Tensor::close);
    }
  }

  private static Tensor tensor(TensorProto p) {
    long[] shape = p.getTensorShape().getDimList().stream().mapToLong(d -> d.getSize()).toArray();
    if (p.getDtype() == org.tensorflow.proto.DataType.DT_STRING) {
      byte[][] v = p.getStringValList().stream().map(b -> b.toByteArray()).toArray(byte[][]::new);
      return TString.tensorOfBytes(NdArrays.vectorOfObjects(v));
    }
    java.nio.FloatBuffer fb = p.getTensorContent().asReadOnlyByteBuffer()
        .order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    float[] v = new float[fb.remaining()];
    fb.get(v);
    return TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(v, true, false));
  }

  private static Map<String, Object> metadata(DinoConfig cfg, VisionTransformer.Dims d, String network,
      Path checkpoint, long step, long version) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("format", "dino4j-savedmodel/1");
    m.put("network", network);
    m.put("version", version);
    m.put("source_checkpoint", checkpoint.toAbsolutePath().normalize().toString());
    m.put("training_step", step);
    m.put("image_size", cfg.augment().globalSize());
    m.put("patch_size", d.patch());
    m.put("embed_dim", d.embedDim());
    m.put("depth", d.depth());
    m.put("heads", d.heads());
    m.put("mean", cfg.data().mean());
    m.put("std", cfg.data().std());
    Map<String, Object> sigs = new LinkedHashMap<>();
    sigs.put(InferenceGraph.SERVING_DEFAULT, Map.of("inputs", Map.of("images", "float32 [N, H, W, 3] RGB in [0, 1]; H, W multiples of patch_size"),
        "outputs", Map.of("embedding", "float32 [N, embed_dim]: CLS token after the final norm")));
    sigs.put(InferenceGraph.IMAGE_BYTES, Map.of("inputs", Map.of("image_bytes", "string [N]: encoded JPEG/PNG/BMP/GIF, resized to image_size"),
        "outputs", Map.of("embedding", "float32 [N, embed_dim]")));
    sigs.put(InferenceGraph.PATCH_TOKENS, Map.of("inputs", Map.of("images", "as serving_default"),
        "outputs", Map.of("patch_tokens", "float32 [N, h*w, embed_dim], h = H / patch_size, w = W / patch_size")));
    sigs.put(InferenceGraph.ATTENTION, Map.of("inputs", Map.of("images", "as serving_default"),
        "outputs", Map.of("attention", "float32 [N, heads, h, w]: last block's CLS-to-patch attention")));
    m.put("signatures", sigs);
    m.put("config", ConfigLoader.toMap(cfg));
    m.put("exported_at", Instant.now().toString());
    return m;
  }

  /** The run directory's name: RUN or RUN/checkpoints/ckpt-N -> RUN. */
  static String defaultName(Path source) {
    Path p = Checkpoints.runDirOf(source);
    return p.getFileName() == null ? "model" : p.getFileName().toString();
  }

  /** 1 + the highest numeric version folder, 1 when there is none. */
  static long nextVersion(Path modelDir) {
    long max = 0;
    try (Stream<Path> s = Files.list(modelDir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        String n = p.getFileName().toString();
        if (n.matches("[0-9]{1,18}")) {
          max = Math.max(max, Long.parseLong(n));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + modelDir + ": " + e.getMessage(), e);
    }
    return max + 1;
  }

  private static long globalStep(Path checkpoint) {
    Path state = checkpoint.resolve("state.json");
    if (!Files.isRegularFile(state)) {
      return -1;
    }
    try {
      return Checkpoints.readState(checkpoint).globalStep();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + state + ": " + e.getMessage(), e);
    }
  }

  private static long size(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
    } catch (IOException e) {
      return -1;
    }
  }

  private static void deleteTree(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      LOG.warn("could not delete the temporary folder {}: {}", dir, e.getMessage());
    }
  }
}
