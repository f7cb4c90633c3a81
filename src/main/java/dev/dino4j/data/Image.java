package dev.dino4j.data;

/**
 * A decoded image as the augmentation pipeline wants it: floats in [0, 1], three interleaved RGB
 * channels whatever the file held (grayscale and palette images are expanded on decode), so every
 * later step has one layout to handle.
 *
 * @param height rows, px
 * @param width columns, px
 * @param rgb pixel values in [0, 1] // [height, width, 3]
 */
public record Image(int height, int width, float[] rgb) {

  public Image {
    if (height <= 0 || width <= 0) {
      throw new IllegalArgumentException(
          "image size must be positive, got " + height + "x" + width + " (height x width)");
    }
    if (rgb == null || rgb.length != height * width * 3) {
      throw new IllegalArgumentException(
          "image "
              + height
              + "x"
              + width
              + " needs "
              + (height * width * 3)
              + " RGB values, got "
              + (rgb == null ? "null" : rgb.length));
    }
  }
}
