package dev.dino4j.export;

import java.util.List;
import org.tensorflow.ConcreteFunction;
import org.tensorflow.Operand;
import org.tensorflow.Signature;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.StatelessIf;
import org.tensorflow.op.data.ParallelMapDataset;
import org.tensorflow.op.image.DecodeImage;
import org.tensorflow.op.image.DecodeJpeg;
import org.tensorflow.op.image.ScaleAndTranslate;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TString;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TUint8;
import org.tensorflow.types.family.TType;

/**
 * Encoded images [N] -> [N, S, S, 3] floats in [0, 1], in the graph, for the {@code image_bytes}
 * signature.
 *
 * <p>DecodeImage takes one string at a time and images differ in size, so a batch needs a loop.
 * It is a tf.data pipeline inside the graph: TensorSliceDataset over the strings, a
 * ParallelMapDataset whose function (a ConcreteFunction) decodes one string with 3 channels (grey
 * and RGBA become RGB; a GIF gives its first frame), divides by 255, resizes to S x S and clamps,
 * a BatchDataset of all N, and DatasetToSingleElement. (Measured alternatives: a StatelessWhile
 * writing row i of a [N, S, S, 3] tensor with TensorScatterUpdate copies the whole tensor each
 * iteration, 16 ms per 224-px image at N = 128; a TensorList loop variable cannot be expressed,
 * TF Java's ConcreteFunction has no type for variants.) N = 0 gives [0, S, S, 3].
 *
 * <p>The resize is ScaleAndTranslate with the Keys cubic kernel (a = -0.5) and antialiasing,
 * which is what {@code tf.image.resize(..., "bicubic", antialias=True)} runs and what Pillow's
 * bicubic computes (the kernel widened by the scale factor when shrinking, weights renormalised at
 * the borders); the result is clamped to [0, 1] as Pillow's 8-bit images are. An image is
 * squashed to S x S, not cropped.
 */
final class ImageBytes {

  /** Images decoded and resized at the same time; the results keep the input order. */
  private static final long PARALLEL_DECODES = 4;

  private ImageBytes() {}

  /**
   * One encoded image -> [h, w, 3] uint8. JPEG goes through DecodeJpeg with the accurate integer
   * IDCT, the one ImageIO (and Pillow) use: DecodeImage offers no choice and its default fast
   * IDCT differs from them by up to 3 levels; with it the pixels are the same as ImageIO's. Every
   * other format (PNG, BMP, GIF first frame) goes through DecodeImage. The branch is a StatelessIf
   * on the JPEG magic bytes FF D8 FF.
   */
  private static Operand<TUint8> decode(Ops f, Operand<TString> encoded) {
    Operand<TUint8> magic =
        f.io.decodeRaw(
            f.strings.substr(encoded, f.constant(0), f.constant(3)), TUint8.class); // [<= 3]
    Operand<TBool> jpeg =
        f.math.equal(
            f.strings.reduceJoin(
                f.dtypes.asString(magic), f.constant(0), org.tensorflow.op.strings.ReduceJoin.separator(",")),
            f.constant("255,216,255"));
    ConcreteFunction jpegBranch =
        ConcreteFunction.create(
            g -> {
              Placeholder<TString> in = g.placeholder(TString.class);
              return Signature.builder().input("encoded", in)
                  .output("pixels", g.image.decodeJpeg(in, DecodeJpeg.channels(3L), DecodeJpeg.dctMethod("INTEGER_ACCURATE")))
                  .build();
            });
    ConcreteFunction otherBranch =
        ConcreteFunction.create(
            g -> {
              Placeholder<TString> in = g.placeholder(TString.class);
              return Signature.builder().input("encoded", in)
                  .output("pixels", g.image.decodeImage(in, TUint8.class, DecodeImage.channels(3L), DecodeImage.expandAnimations(false)))
                  .build();
            });
    StatelessIf branch =
        f.statelessIf(jpeg, List.of(encoded), List.of(TUint8.class), jpegBranch, otherBranch);
    @SuppressWarnings("unchecked")
    Operand<TUint8> pixels = (Operand<TUint8>) branch.output().get(0);
    return pixels;
  }

  static Operand<TFloat32> decodeAndResize(Ops tf, Operand<TString> bytes, int size) {
    ConcreteFunction one =
        ConcreteFunction.create(
            f -> {
              Placeholder<TString> encoded = f.placeholder(TString.class);
              Operand<TUint8> pixels = decode(f, encoded); // [h, w, 3]
              Operand<TFloat32> rgb =
                  f.math.div(f.dtypes.cast(pixels, TFloat32.class), f.constant(255f)); // [h, w, 3]
              Operand<TFloat32> hw =
                  f.dtypes.cast(
                      f.slice(f.shape(pixels), f.constant(new int[] {0}), f.constant(new int[] {2})),
                      TFloat32.class); // [2]
              Operand<TFloat32> scale = f.math.div(f.constant(new float[] {size, size}), hw);
              Operand<TFloat32> resized =
                  f.image.scaleAndTranslate(
                      f.expandDims(rgb, f.constant(0)),
                      f.constant(new int[] {size, size}),
                      scale,
                      f.constant(new float[] {0f, 0f}),
                      ScaleAndTranslate.kernelType("keyscubic"),
                      ScaleAndTranslate.antialias(true)); // [1, S, S, 3]
              Operand<TFloat32> image =
                  f.clipByValue(
                      f.reshape(resized, f.constant(new int[] {size, size, 3})), f.constant(0f), f.constant(1f)); // [S, S, 3]
              return Signature.builder().input("encoded", encoded).output("image", image).build();
            });
    Shape imageShape = Shape.of(size, size, 3);
    Shape batchShape = Shape.of(-1, size, size, 3);
    Operand<TInt64> n = tf.dtypes.cast(tf.size(bytes), TInt64.class);
    Operand<? extends TType> strings = tf.data.tensorSliceDataset(List.of(bytes), List.of(Shape.scalar()));
    Operand<? extends TType> images =
        tf.data.parallelMapDataset(
            strings, List.of(), tf.constant(PARALLEL_DECODES), one,
            List.of(TFloat32.class), List.of(imageShape),
            ParallelMapDataset.deterministic("true"), ParallelMapDataset.preserveCardinality(true));
    // one batch of all N (batch size at least 1: 0 is invalid)
    Operand<? extends TType> batch =
        tf.data.batchDataset(
            images, tf.math.maximum(n, tf.constant(1L)), tf.constant(false),
            List.of(TFloat32.class), List.of(batchShape));
    @SuppressWarnings("unchecked")
    Operand<TFloat32> stacked =
        (Operand<TFloat32>)
            tf.data.datasetToSingleElement(batch, List.of(TFloat32.class), List.of(batchShape)).components().get(0);
    return tf.ensureShape(stacked, batchShape); // [N, S, S, 3]
  }
}
