package dev.dino4j.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import org.apache.commons.imaging.Imaging;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.NdArrays;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.image.DecodeJpeg;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TString;
import org.tensorflow.types.TUint8;

/**
 * JPEG -> [h, w, 3] floats, one thread, by four decoders; not a test (surefire skips it):
 *
 * <pre>
 * mvn -q test-compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java -cp target/classes:target/test-classes:$(cat target/cp.txt) \
 *     dev.dino4j.data.ImageDecoderBenchmark [rounds perRound [file.jpg]]
 * </pre>
 *
 * Without a file it encodes a 500x375 photo-like picture (ImageNet's typical size) as a baseline
 * JPEG, quality 90, 4:2:0. The decoders take turns in every round, so load from other processes
 * spreads over all of them; it prints the median over rounds of wall and thread-CPU time per image,
 * and each decoder's largest pixel difference from ImageDecoder. TensorFlow runs in one reused
 * session with one intra-op thread and ops in the caller's thread (inter-op -1); its times include
 * feeding the bytes and copying the pixels out to a float[].
 */
public final class ImageDecoderBenchmark {

  private ImageDecoderBenchmark() {}

  /** One way to decode a JPEG to floats. */
  private interface Decoder {
    float[] decode(byte[] jpg) throws IOException;
  }

  private static final float[] UNIT8 = new float[256];

  static {
    for (int i = 0; i < 256; i++) {
      UNIT8[i] = i / 255f;
    }
  }

  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
    int perRound = args.length > 1 ? Integer.parseInt(args[1]) : 20;
    byte[] jpg =
        args.length > 2 ? Files.readAllBytes(Path.of(args[2])) : encode(photoLike(375, 500, 1));
    Image reference = ImageDecoder.decode(jpg, "bench.jpg", Long.MAX_VALUE);
    System.out.printf(
        Locale.ROOT,
        "JPEG %d x %d px, %d bytes; %d rounds x %d images per decoder%n",
        reference.width(),
        reference.height(),
        jpg.length,
        rounds,
        perRound);

    ConfigProto oneThread =
        ConfigProto.newBuilder()
            .setIntraOpParallelismThreads(1)
            .setInterOpParallelismThreads(-1) // run ops in the calling thread
            .build();
    try (Graph g = new Graph();
        Session session = new Session(g, oneThread)) {
      Ops tf = Ops.create(g);
      Placeholder<TString> in = tf.placeholder(TString.class);
      Operand<TUint8> pixels =
          tf.image.decodeJpeg(
              in, DecodeJpeg.channels(3L), DecodeJpeg.dctMethod("INTEGER_ACCURATE"));
      Operand<TFloat32> floats =
          tf.math.div(tf.dtypes.cast(pixels, TFloat32.class), tf.constant(255f));

      Map<String, Decoder> decoders = new LinkedHashMap<>();
      decoders.put("ImageDecoder", b -> ImageDecoder.decode(b, "bench.jpg", Long.MAX_VALUE).rgb());
      decoders.put("ImageIO.read + getRGB", ImageDecoderBenchmark::imageIoGetRgb);
      decoders.put("Commons Imaging + getRGB", b -> rgbRows(Imaging.getBufferedImage(b)));
      decoders.put(
          "TF DecodeJpeg, uint8 out",
          b -> {
            try (TString t = TString.tensorOfBytes(NdArrays.scalarOfObject(b));
                Result r = session.runner().feed(in, t).fetch(pixels).run()) {
              byte[] v = new byte[(int) r.get(0).shape().size()];
              r.get(0).asRawTensor().data().read(v);
              float[] f = new float[v.length];
              for (int i = 0; i < v.length; i++) {
                f[i] = UNIT8[v[i] & 0xFF];
              }
              return f;
            }
          });
      decoders.put(
          "TF DecodeJpeg + cast/255",
          b -> {
            try (TString t = TString.tensorOfBytes(NdArrays.scalarOfObject(b));
                Result r = session.runner().feed(in, t).fetch(floats).run()) {
              float[] f = new float[(int) r.get(0).shape().size()];
              r.get(0).asRawTensor().data().asFloats().read(f);
              return f;
            }
          });

      ThreadMXBean mx = ManagementFactory.getThreadMXBean();
      Map<String, List<double[]>> times = new LinkedHashMap<>();
      for (int round = 0; round < rounds; round++) {
        for (Map.Entry<String, Decoder> d : decoders.entrySet()) {
          long wall = System.nanoTime();
          long cpu = mx.getCurrentThreadCpuTime();
          for (int i = 0; i < perRound; i++) {
            d.getValue().decode(jpg);
          }
          double cpuMs = (mx.getCurrentThreadCpuTime() - cpu) / 1e6 / perRound;
          double wallMs = (System.nanoTime() - wall) / 1e6 / perRound;
          times
              .computeIfAbsent(d.getKey(), k -> new ArrayList<>())
              .add(new double[] {wallMs, cpuMs});
        }
      }
      System.out.printf(
          Locale.ROOT, "%-26s %10s %10s %14s%n", "decoder", "wall ms", "cpu ms", "max |diff|");
      for (Map.Entry<String, Decoder> d : decoders.entrySet()) {
        // The first third of the rounds warms the JIT up.
        List<double[]> kept = times.get(d.getKey()).subList(rounds / 3, rounds);
        float[] got = d.getValue().decode(jpg);
        double diff = 0;
        for (int i = 0; i < got.length; i++) {
          diff = Math.max(diff, Math.abs(got[i] - reference.rgb()[i]));
        }
        System.out.printf(
            Locale.ROOT,
            "%-26s %10.2f %10.2f %8.1f levels%n",
            d.getKey(),
            median(kept, 0),
            median(kept, 1),
            diff * 255);
      }
    }
  }

  /** What ImageFolderDataset.decode does: ImageIO.read, then getRGB row by row. */
  private static float[] imageIoGetRgb(byte[] jpg) throws IOException {
    return rgbRows(ImageIO.read(new ByteArrayInputStream(jpg)));
  }

  private static float[] rgbRows(BufferedImage img) {
    int h = img.getHeight();
    int w = img.getWidth();
    float[] rgb = new float[h * w * 3];
    int[] row = new int[w];
    for (int y = 0; y < h; y++) {
      img.getRGB(0, y, w, 1, row, 0, w);
      for (int x = 0; x < w; x++) {
        int o = 3 * (y * w + x);
        rgb[o] = ((row[x] >> 16) & 0xFF) / 255f;
        rgb[o + 1] = ((row[x] >> 8) & 0xFF) / 255f;
        rgb[o + 2] = (row[x] & 0xFF) / 255f;
      }
    }
    return rgb;
  }

  private static double median(List<double[]> rows, int column) {
    double[] v = rows.stream().mapToDouble(r -> r[column]).toArray();
    Arrays.sort(v);
    return v[v.length / 2];
  }

  /** Smooth shapes plus fine texture and noise: about the entropy of a photo at quality 90. */
  static BufferedImage photoLike(int h, int w, long seed) {
    Random r = new Random(seed);
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        double shape = Math.sin(x * 0.05 + 3 * Math.sin(y * 0.03)) + Math.cos(y * 0.07 - x * 0.01);
        double texture = Math.sin(x * 0.3) * Math.cos(y * 0.2);
        int red = clamp(128 + 60 * shape + 40 * texture + 12 * r.nextGaussian());
        int green = clamp(128 + 70 * Math.sin(x * 0.02 + y * 0.04) + 12 * r.nextGaussian());
        int blue = clamp(100 + 80 * Math.cos(x * y * 1.1e-4) + 12 * r.nextGaussian());
        img.setRGB(x, y, (red << 16) | (green << 8) | blue);
      }
    }
    return img;
  }

  private static int clamp(double v) {
    return (int) Math.max(0, Math.min(255, Math.round(v)));
  }

  private static byte[] encode(BufferedImage img) throws IOException {
    ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
    ImageWriteParam p = w.getDefaultWriteParam();
    p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
    p.setCompressionQuality(0.9f);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
      w.setOutput(out);
      w.write(null, new IIOImage(img, null, null), p);
    } finally {
      w.dispose();
    }
    return bytes.toByteArray();
  }
}
