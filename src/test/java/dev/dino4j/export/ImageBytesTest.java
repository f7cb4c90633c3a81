package dev.dino4j.export;

import static org.junit.jupiter.api.Assertions.*;

import dev.dino4j.data.EvalImages;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TString;

/**
 * The in-graph decode + antialiased bicubic resize of {@code image_bytes} against the Java
 * pipeline (ImageIO decode, PIL-faithful BicubicResize, clamp): the decoders agree (JPEG with the
 * accurate integer IDCT), so only the float arithmetic of the resize differs.
 */
class ImageBytesTest {

  static final int SIZE = 16;

  /** Smooth random colour image (JPEG-friendly) of h x w with some texture. */
  static BufferedImage picture(int h, int w, long seed, int type) {
    Random r = new Random(seed);
    double[] f = new double[9];
    for (int i = 0; i < f.length; i++) {
      f[i] = r.nextDouble();
    }
    BufferedImage img = new BufferedImage(w, h, type);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        int red = (int) (127.5 + 127 * Math.sin(f[0] * 0.5 * x + f[1] * 0.3 * y + f[2] * 6));
        int green = (int) (127.5 + 127 * Math.sin(f[3] * 0.4 * x - f[4] * 0.6 * y + f[5] * 6));
        int blue = (int) (127.5 + 127 * Math.cos(f[6] * 0.2 * (x + y) + f[7] * 6) * (0.5 + 0.5 * f[8]));
        img.setRGB(x, y, (red << 16) | (green << 8) | blue);
      }
    }
    return img;
  }

  /** Max abs pixel difference between the graph's and Java's resized image, per file. */
  static double[] pixelDiffs(List<Path> files) throws Exception {
    try (Graph g = new Graph(); Session s = new Session(g)) {
      Ops tf = Ops.create(g);
      Placeholder<TString> bytes = tf.placeholder(TString.class, Placeholder.shape(Shape.of(-1)));
      Operand<TFloat32> images = ImageBytes.decodeAndResize(tf, bytes, SIZE);
      byte[][] data = new byte[files.size()][];
      for (int i = 0; i < data.length; i++) {
        data[i] = Files.readAllBytes(files.get(i));
      }
      try (TString in = TString.tensorOfBytes(NdArrays.vectorOfObjects(data));
          Result r = s.runner().feed(bytes, in).fetch(images).run()) {
        float[] got = InferenceGraphTest.values(r.get(0));
        assertEquals(Shape.of(files.size(), SIZE, SIZE, 3), r.get(0).shape());
        double[] diffs = new double[files.size()];
        int per = SIZE * SIZE * 3;
        for (int i = 0; i < data.length; i++) {
          float[] expected = EvalImages.load(files.get(i), SIZE);
          for (int k = 0; k < per; k++) {
            diffs[i] = Math.max(diffs[i], Math.abs(expected[k] - got[i * per + k]));
          }
        }
        return diffs;
      }
    }
  }

  @Test
  void pngAndBmpResizeLikeThePilFaithfulJavaPipeline(@TempDir Path tmp) throws Exception {
    // shrink (antialiased), enlarge, non-square, grey, already the right size
    Path a = write(picture(45, 31, 1, BufferedImage.TYPE_INT_RGB), tmp.resolve("a.png"), "png");
    Path b = write(picture(9, 12, 2, BufferedImage.TYPE_INT_RGB), tmp.resolve("b.png"), "png");
    Path c = write(picture(40, 40, 3, BufferedImage.TYPE_BYTE_GRAY), tmp.resolve("c.png"), "png");
    Path d = write(picture(SIZE, SIZE, 4, BufferedImage.TYPE_INT_RGB), tmp.resolve("d.bmp"), "bmp");
    double[] diffs = pixelDiffs(List.of(a, b, c, d));
    System.out.println("image_bytes PNG/BMP pixel max abs diff vs Java: " + java.util.Arrays.toString(diffs));
    for (double diff : diffs) {
      assertTrue(diff <= 2e-6, "pixel diff " + diff);
    }
  }

  @Test
  void jpegDecodesAsImageIoWithTheAccurateIdct(@TempDir Path tmp) throws Exception {
    Path a = write(picture(45, 31, 5, BufferedImage.TYPE_INT_RGB), tmp.resolve("a.jpg"), "jpg");
    Path b = write(picture(64, 64, 6, BufferedImage.TYPE_INT_RGB), tmp.resolve("b.jpg"), "jpg");
    double[] diffs = pixelDiffs(List.of(a, b));
    System.out.println("image_bytes JPEG pixel max abs diff vs Java: " + java.util.Arrays.toString(diffs));
    for (double diff : diffs) {
      // DecodeImage's default fast IDCT was up to 3 levels (0.0115) off; DecodeJpeg INTEGER_ACCURATE is exact
      assertTrue(diff <= 2e-6, "pixel diff " + diff);
    }
  }

  static Path write(BufferedImage img, Path file, String format) throws Exception {
    assertTrue(ImageIO.write(img, format, file.toFile()), format);
    return file;
  }
}
