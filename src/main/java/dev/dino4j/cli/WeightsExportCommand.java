package dev.dino4j.cli;

import dev.dino4j.config.ConfigLoader;
import dev.dino4j.config.DinoConfig;
import dev.dino4j.export.SafetensorsWeights;
import dev.dino4j.export.WeightNames;
import dev.dino4j.model.DinoHead;
import dev.dino4j.model.Weights;
import dev.dino4j.train.CheckpointWeights;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code dino4j export-weights}: one network of a run as a safetensors file in a PyTorch naming. */
@Command(
    name = "export-weights",
    mixinStandardHelpOptions = true,
    description = {
      "Write a run's teacher (or student) weights as safetensors with PyTorch names and layouts.",
      "official (default): backbone + head = the state_dict of DINO's MultiCropWrapper (backbone.*, head.*); "
          + "with --backbone-only the bare names of DINO's/timm's VisionTransformer. "
          + "Both load with load_state_dict(strict=True).",
      "hf / hf-legacy: a Hugging Face ViTModel's names (transformers 5.x / 4.x and model hubs); backbone only."
    })
final class WeightsExportCommand implements Callable<Integer> {

  enum Network { teacher, student }

  @Spec CommandSpec spec;

  @Parameters(index = "0", paramLabel = "RUN_OR_CHECKPOINT",
      description = "A run directory (its latest checkpoint) or a checkpoint folder.")
  Path source;

  @Option(names = {"-o", "--output"}, required = true, description = "The .safetensors file to write.")
  Path output;

  @Option(names = "--network", defaultValue = "teacher",
      description = "teacher (default; what DINO evaluates) or student.")
  Network network;

  @Option(names = "--naming", defaultValue = "official", description = "official (default), hf, hf-legacy (Hugging Face ViTModel) or hf-dinov2 (Dinov2Model).")
  String naming;

  @Option(names = "--backbone-only", description = "Leave the DINO head out.")
  boolean backboneOnly;

  @Option(names = "--force", description = "Replace an existing file.")
  boolean force;

  @Override
  public Integer call() throws IOException {
    WeightNames.Naming n = WeightNames.Naming.parse(naming);
    if (n != WeightNames.Naming.OFFICIAL && !backboneOnly) {
      throw new IllegalArgumentException("--naming " + n.cliName + " holds a backbone only (a Hugging Face ViTModel "
          + "has no DINO head): add --backbone-only, or use --naming official");
    }
    if (Files.exists(output) && !force) {
      throw new IllegalArgumentException(output + " exists; pass --force to replace it");
    }
    CheckpointWeights.Source src = CheckpointWeights.resolve(source);
    DinoConfig cfg = src.config();
    Weights all = CheckpointWeights.read(src.checkpoint(), cfg, network.name());
    Weights w = new Weights();
    all.all().forEach((name, t) -> {
      if (!(backboneOnly && name.startsWith(DinoHead.PREFIX))) {
        w.put(name, t.shape(), t.values());
      }
    });
    DinoConfig.Model m = cfg.model();
    Map<String, String> meta = new LinkedHashMap<>();
    meta.put("dino4j.checkpoint", src.checkpoint().toAbsolutePath().normalize().toString());
    meta.put("dino4j.network", network.name());
    meta.put("dino4j.naming", n.cliName);
    // what a PyTorch user needs to build the module (heads are not visible in the tensors)
    meta.put("dino4j.vit", String.format(Locale.ROOT,
        "patch_size=%d embed_dim=%d depth=%d num_heads=%d mlp_ratio=%s img_size=%d qkv_bias=True layer_norm_eps=1e-6",
        m.patchSize(), m.embedDim(), m.depth(), m.heads(), m.mlpRatio(), cfg.augment().globalSize()));
    meta.put("dino4j.config", ConfigLoader.toYaml(cfg));
    SafetensorsWeights.save(output, w, n, meta);
    PrintWriter out = spec.commandLine().getOut();
    out.printf(Locale.ROOT, "wrote %d tensors (%s, %s naming, %s) from %s to %s (%.1f MB)%n", w.size(), network,
        n.cliName, backboneOnly ? "backbone only" : "backbone + head", src.checkpoint(), output,
        Files.size(output) / 1e6);
    out.println("  ViT: " + meta.get("dino4j.vit"));
    out.flush();
    return 0;
  }
}
