package dev.dino4j.model;

import dev.dino4j.config.DinoConfig;

/**
 * Analytic matmul FLOPs (2 per multiply-add) of one DINO training step, per image: student
 * forward + backward (counted as 3x forward) over all views, teacher forward over the 2 global
 * views. Elementwise ops, softmax and LayerNorm are left out, as in the usual MFU convention.
 * Counted for the reference's step (every token through every block) or for dino4j's training
 * graph, whose last block runs for the CLS row only ({@link VisionTransformer#clsFeature}). With
 * iBOT, the expected masked patches (their targets' mean; block packing masks a little fewer) go
 * through the head too, and in dino4j's graph the masked global views also run the last block in
 * full ({@link VisionTransformer#maskedForward}).
 */
public final class Flops {

  private Flops() {}

  /** Forward matmul FLOPs of backbone + head for one view of side {@code size}, every token in every block. */
  public static double forwardPerView(DinoConfig cfg, int size) {
    return forwardPerView(cfg, size, false);
  }

  /** As {@link #forwardPerView(DinoConfig, int)}; {@code clsOnlyLastBlock}: as dino4j's training graph. */
  public static double forwardPerView(DinoConfig cfg, int size, boolean clsOnlyLastBlock) {
    DinoConfig.Model m = cfg.model();
    DinoConfig.Head h = cfg.head();
    double d = m.embedDim();
    double hidden = Math.round(m.embedDim() * m.mlpRatio());
    int grid = size / m.patchSize();
    double patches = grid * grid;
    double n = patches + 1 + m.registers(); // CLS, registers, patches
    double patchEmbed = patchEmbedFlops(m, size);
    double perBlock = blockFlops(cfg, size);
    double lastBlock = perBlock;
    if (clsOnlyLastBlock) { // keys and values of every token; query, attention, proj and MLP of one row
      lastBlock =
          2 * d * d + 2 * n * d * 2 * d // q, then k and v
              + 2 * n * d // q k^T
              + 2 * n * d // attn v
              + 2 * d * d // proj
              + 2 * d * hidden * 2; // fc1 + fc2
    }
    return patchEmbed + (m.depth() - 1) * perBlock + lastBlock + headPerRow(cfg, h.outDim());
  }

  /** Forward matmul FLOPs of the patch embedding of one view: the patch projection, or the conv stem's im2col matmuls. */
  static double patchEmbedFlops(DinoConfig.Model m, int size) {
    int grid = size / m.patchSize();
    double d = m.embedDim();
    if (!m.convStem()) {
      return 2.0 * grid * grid * (m.patchSize() * m.patchSize() * 3.0) * d;
    }
    double flops = 0;
    double in = 3;
    int side = size;
    for (int out : VisionTransformer.Dims.of(m, size).stemWidths()) { // the widths the graph builds
      side /= 2;
      flops += 2.0 * side * side * 9 * in * out;
      in = out;
    }
    return flops + 2.0 * grid * grid * in * d; // the 1x1 projection
  }

  /** Forward matmul FLOPs of one block over every token of a view of side {@code size}. */
  static double blockFlops(DinoConfig cfg, int size) {
    DinoConfig.Model m = cfg.model();
    double d = m.embedDim();
    double hidden = Math.round(m.embedDim() * m.mlpRatio());
    int grid = size / m.patchSize();
    double n = grid * grid + 1 + m.registers(); // CLS, registers, patches
    return 2 * n * d * 3 * d // qkv
        + 2 * n * n * d // q k^T
        + 2 * n * n * d // attn v
        + 2 * n * d * d // proj
        + 2 * n * d * hidden * 2; // fc1 + fc2
  }

  /** Forward matmul FLOPs of a head of the DINO head's sizes with k prototypes, for one row. */
  public static double headPerRow(DinoConfig cfg, int k) {
    DinoConfig.Head h = cfg.head();
    double head = 0;
    double in = cfg.model().embedDim();
    int layers = Math.max(h.layers(), 1);
    for (int i = 0; i < layers; i++) {
      double out = i == layers - 1 ? h.bottleneckDim() : h.hiddenDim();
      head += 2 * in * out;
      in = out;
    }
    return head + 2.0 * h.bottleneckDim() * k;
  }

  /** Matmul FLOPs of the reference's training step per image. */
  public static double trainStepPerImage(DinoConfig cfg) {
    return trainStepPerImage(cfg, false);
  }

  /** As {@link #trainStepPerImage(DinoConfig)}; {@code clsOnlyLastBlock}: dino4j's training graph. */
  public static double trainStepPerImage(DinoConfig cfg, boolean clsOnlyLastBlock) {
    DinoConfig.Augment a = cfg.augment();
    DinoConfig.Loss l = cfg.loss();
    double global = forwardPerView(cfg, a.globalSize(), clsOnlyLastBlock);
    double local = a.localCrops() == 0 ? 0 : forwardPerView(cfg, a.localSize(), clsOnlyLastBlock);
    double studentForward = 2 * global + a.localCrops() * local;
    double step = 3 * studentForward + 2 * global;
    if (l.ibot() && clsOnlyLastBlock) {
      // iBOT reads the patch tokens of the masked global views (a share ibot_mask_probability of
      // them): dino4j runs their last block in full too, student and teacher
      step += (3 + 1) * 2 * l.ibotMaskProbability() * blockFlops(cfg, a.globalSize());
    }
    if (l.ibot()) { // the masked patches through the head, student (forward + backward) and teacher
      int grid = a.globalSize() / cfg.model().patchSize();
      double masked = 2 * l.ibotMaskProbability() * (l.ibotMaskRatioMin() + l.ibotMaskRatioMax()) / 2 * grid * grid;
      step += (3 + 1) * masked * headPerRow(cfg, l.ibotPrototypes(cfg.head()));
    }
    return step;
  }
}
