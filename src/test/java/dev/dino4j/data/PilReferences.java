package dev.dino4j.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Pillow's outputs for resize and blur cases, recorded by {@code
 * src/test/resources/data/make_pil_references.py} (see there for the input formulas).
 */
final class PilReferences {

  /** One case: its header numbers and Pillow's output values in HWC order. */
  record Case(String kind, double[] params, float[] values) {}

  private PilReferences() {}

  static List<Case> load(String kind) {
    List<Case> cases = new ArrayList<>();
    try (InputStream in = PilReferences.class.getResourceAsStream("/data/pil-references.txt");
        BufferedReader r =
            new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII))) {
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        if (line.startsWith("#") || !line.startsWith(kind + " ")) {
          continue;
        }
        String[] halves = line.split(" : ");
        String[] head = halves[0].trim().split(" ");
        double[] params = Arrays.stream(head).skip(1).mapToDouble(Double::parseDouble).toArray();
        String[] vals = halves[1].trim().split(" ");
        float[] values = new float[vals.length];
        for (int i = 0; i < vals.length; i++) {
          values[i] = Float.parseFloat(vals[i]);
        }
        cases.add(new Case(kind, params, values));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (cases.isEmpty()) {
      throw new IllegalStateException("no '" + kind + "' cases in /data/pil-references.txt");
    }
    return cases;
  }

  /** The float input of resize cases: ((7y + 13x + 5c) mod 17) / 16. // [h, w, 3] */
  static float[] pattern(int h, int w) {
    float[] a = new float[h * w * 3];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        for (int c = 0; c < 3; c++) {
          a[3 * (y * w + x) + c] = ((7 * y + 13 * x + 5 * c) % 17) / 16f;
        }
      }
    }
    return a;
  }

  /** The 8-bit input of blur cases: (37y + 91x + 53c + 11xy) mod 256. // [h, w, 3] */
  static int[] pattern8(int h, int w) {
    int[] a = new int[h * w * 3];
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        for (int c = 0; c < 3; c++) {
          a[3 * (y * w + x) + c] = (37 * y + 91 * x + 53 * c + 11 * x * y) % 256;
        }
      }
    }
    return a;
  }
}
