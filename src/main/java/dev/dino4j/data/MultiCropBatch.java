package dev.dino4j.data;

/**
 * The views of one batch, NHWC float32 ready to copy into TensorFlow tensors. Views are laid out
 * view-major (all images' view 0, then all images' view 1, ...) so that the teacher's input is
 * simply the globals tensor and each view is a contiguous [B, S, S, 3] slice, the order the DINO
 * loss pairs views in.
 */
public final class MultiCropBatch {

  private final int batchSize;
  private final int globalSize;
  private final int localSize;
  private final int localCrops;
  private final float[] globals; // [2B, G, G, 3]; rows v*B .. v*B+B-1 = global view v
  private final float[] locals; // [nLocal*B, L, L, 3]; rows v*B .. = local view v
  private final int[] indices; // [B] dataset index of each slot
  private final int[] labels; // [B] label of each slot, -1 = unlabelled

  public MultiCropBatch(int batchSize, int globalSize, int localSize, int localCrops) {
    if (batchSize <= 0 || globalSize <= 0 || localSize <= 0 || localCrops < 0) {
      throw new IllegalArgumentException(
          "batch needs batchSize > 0, globalSize > 0, localSize > 0, localCrops >= 0; got "
              + batchSize
              + ", "
              + globalSize
              + ", "
              + localSize
              + ", "
              + localCrops);
    }
    long globalLen = 2L * batchSize * globalSize * globalSize * 3;
    long localLen = (long) localCrops * batchSize * localSize * localSize * 3;
    if (globalLen > Integer.MAX_VALUE - 16 || localLen > Integer.MAX_VALUE - 16) {
      throw new IllegalArgumentException(
          "batch of "
              + batchSize
              + " with "
              + globalSize
              + "px globals and "
              + localCrops
              + "x"
              + localSize
              + "px locals needs more than 2^31 floats per array; lower the batch size");
    }
    this.batchSize = batchSize;
    this.globalSize = globalSize;
    this.localSize = localSize;
    this.localCrops = localCrops;
    this.globals = new float[(int) globalLen];
    this.locals = new float[(int) localLen];
    this.indices = new int[batchSize];
    this.labels = new int[batchSize];
  }

  public int batchSize() {
    return batchSize;
  }

  /** Side of the global views, px. */
  public int globalSize() {
    return globalSize;
  }

  /** Side of the local views, px. */
  public int localSize() {
    return localSize;
  }

  /** Number of local views per image. */
  public int localCrops() {
    return localCrops;
  }

  /** The two global views of every image, normalised. // [2B, G, G, 3] view-major */
  public float[] globals() {
    return globals;
  }

  /** The local views, normalised; length 0 when localCrops = 0. // [nLocal*B, L, L, 3] */
  public float[] locals() {
    return locals;
  }

  /** Dataset index of each slot. // [B] */
  public int[] indices() {
    return indices;
  }

  /** Label of each slot; -1 = unlabelled. // [B] */
  public int[] labels() {
    return labels;
  }

  /** Offset in {@link #globals()} of global view {@code view} (0 or 1) of slot {@code slot}. */
  public int globalOffset(int view, int slot) {
    return (view * batchSize + slot) * globalSize * globalSize * 3;
  }

  /** Offset in {@link #locals()} of local view {@code view} of slot {@code slot}. */
  public int localOffset(int view, int slot) {
    return (view * batchSize + slot) * localSize * localSize * 3;
  }
}
