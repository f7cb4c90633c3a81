package dev.dino4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class BicubicResizeTest {

  private static float[] resize(
      float[] src, int srcW, int top, int left, int ch, int cw, int oh, int ow) {
    float[] out = new float[oh * ow * 3];
    BicubicResize.resize(
        src, srcW, top, left, ch, cw, out, 0, oh, ow, new float[ch * ow * 3], null);
    return out;
  }

  @Test
  void keysCubicAtKnownPoints() {
    // a = -0.5: 1 at 0, 0 at the integers, 9/16 at 1/2, -1/16 at 3/2.
    assertEquals(1.0, BicubicResize.cubic(0), 0);
    assertEquals(0.0, BicubicResize.cubic(1), 0);
    assertEquals(0.0, BicubicResize.cubic(-2), 0);
    assertEquals(0.5625, BicubicResize.cubic(0.5), 1e-15);
    assertEquals(-0.0625, BicubicResize.cubic(-1.5), 1e-15);
  }

  @Test
  void sameSizeReturnsTheInput() {
    float[] src = PilReferences.pattern(28, 28);
    assertArrayEquals(src, resize(src, 28, 0, 0, 28, 28, 28, 28), 0f);
  }

  @Test
  void constantStaysConstant() {
    float[] src = new float[30 * 25 * 3];
    java.util.Arrays.fill(src, 0.37f);
    int[][] cases = {{0, 0, 30, 25, 7, 5}, {0, 0, 30, 25, 64, 50}, {3, 2, 11, 20, 32, 9}};
    for (int[] c : cases) {
      float[] out = resize(src, 25, c[0], c[1], c[2], c[3], c[4], c[5]);
      for (float v : out) {
        assertEquals(0.37f, v, 1e-6f);
      }
    }
  }

  @Test
  void weightsSumToOne() {
    for (int[] io : new int[][] {{28, 32}, {28, 16}, {224, 96}, {5, 13}, {17, 3}}) {
      BicubicResize.Weights w = BicubicResize.weights(io[0], io[1]);
      for (int o = 0; o < io[1]; o++) {
        double sum = 0;
        for (int i = 0; i < w.count()[o]; i++) {
          sum += w.weights()[o * w.taps() + i];
        }
        assertEquals(1.0, sum, 1e-6, io[0] + "->" + io[1] + " output " + o);
      }
    }
  }

  /** Pillow's float ("F" mode) bicubic resize of the same crop, recorded by a Python script. */
  @Test
  void matchesPillow() {
    for (PilReferences.Case c : PilReferences.load("resize")) {
      int[] p = new int[c.params().length];
      for (int i = 0; i < p.length; i++) {
        p[i] = (int) c.params()[i];
      }
      // H W top left cropH cropW outH outW
      float[] src = PilReferences.pattern(p[0], p[1]);
      float[] out = resize(src, p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
      assertArrayEquals(
          c.values(), out, 2e-6f, "resize " + java.util.Arrays.toString(p) + " vs Pillow");
    }
  }
}
