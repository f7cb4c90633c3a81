package dev.dino4j.data;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The Java side of an evaluation image, for tests outside this package: decoded as the datasets
 * decode (ImageDecoder), squashed to size x size with the PIL-faithful bicubic resize, clamped as
 * PIL's 8-bit path. Not normalised: RGB in [0, 1].
 */
public final class EvalImages {

  private EvalImages() {}

  /** [size, size, 3] RGB in [0, 1]. */
  public static float[] load(Path file, int size) throws IOException {
    return resize(ImageDecoder.decode(file, ImageDecoder.DEFAULT_MAX_PIXELS), size);
  }

  public static float[] resize(Image img, int size) {
    float[] out = new float[size * size * 3];
    float[] tmp = new float[img.height() * size * 3];
    BicubicResize.resize(img.rgb(), img.width(), 0, 0, img.height(), img.width(), out, 0, size, size, tmp, null);
    ColorTransforms.clamp(out, 0, size * size);
    return out;
  }
}
