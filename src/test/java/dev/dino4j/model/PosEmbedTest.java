package dev.dino4j.model;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Bicubic position-embedding resampling matrices. */
class PosEmbedTest {

  @Test
  void sameGridIsExactlyTheIdentity() {
    float[] m = PosEmbed.gridMatrix(8, 8, 8, 8);
    for (int r = 0; r < 64; r++) {
      for (int c = 0; c < 64; c++) {
        assertEquals(r == c ? 1f : 0f, m[r * 64 + c], 0f);
      }
    }
  }

  @Test
  void rowsArePartitionsOfUnity() {
    for (int[] io : new int[][] {{8, 4}, {4, 8}, {14, 6}, {6, 14}, {7, 5}}) {
      double[][] w = PosEmbed.bicubicWeights(io[0], io[1]);
      for (double[] row : w) {
        double s = 0;
        for (double x : row) {
          s += x;
        }
        assertEquals(1.0, s, 1e-12);
      }
    }
  }

  @Test
  void halvingSamplesBetweenPixelPairsWithKeysWeights() {
    // 8 -> 4: output o samples source x = 2o + 0.5, i.e. t = 0.5 between pixels 2o and 2o+1.
    // Cubic convolution at t = 0.5 with A = -0.75 gives weights (-0.09375, 0.59375, 0.59375, -0.09375).
    double[][] w = PosEmbed.bicubicWeights(8, 4);
    assertEquals(0.59375, w[1][2], 1e-12);
    assertEquals(0.59375, w[1][3], 1e-12);
    assertEquals(-0.09375, w[1][1], 1e-12);
    assertEquals(-0.09375, w[1][4], 1e-12);
    // at the border the out-of-range tap is clamped onto pixel 0
    assertEquals(0.59375 - 0.09375, w[0][0], 1e-12);
  }

  @Test
  void doublingUsesPyTorchsQuarterPixelWeights() {
    // 4 -> 8: output 3 samples x = 1.25 (t = 0.25 past pixel 1): the weights PyTorch's bicubic
    // (A = -0.75) uses at scale 2 are (-0.10546875, 0.87890625, 0.26171875, -0.03515625).
    double[][] w = PosEmbed.bicubicWeights(4, 8);
    assertArrayEquals(new double[] {-0.10546875, 0.87890625, 0.26171875, -0.03515625}, w[3], 1e-12);
    // output 2 samples x = 0.75: taps -1..2, the -1 tap clamped onto pixel 0
    assertArrayEquals(new double[] {-0.03515625 + 0.26171875, 0.87890625, -0.10546875, 0}, w[2], 1e-12);
  }

  @Test
  void theOfficialOffsetSamplesAtTheNudgedScaleAndNotAtTheNativeGrid() {
    // PyTorch's scale_factor = (out + 0.1) / in maps output o to (o + 0.5) * in / (out + 0.1) - 0.5:
    // 4 -> 8, output 3 samples 3.5 * 4 / 8.1 - 0.5 = 1.2284 (t = 0.2284 past pixel 1), not 1.25
    double[][] w = PosEmbed.bicubicWeights(4, 8, 0.1);
    double t = 3.5 * 4 / 8.1 - 0.5 - 1;
    double a = -0.75;
    double near = ((a + 2) * t - (a + 3)) * t * t + 1; // Keys' kernel at distance t from pixel 1
    assertEquals(near, w[3][1], 1e-12);
    assertNotEquals(PosEmbed.bicubicWeights(4, 8)[3][1], w[3][1], 1e-3);
    // the native grid is not resampled, offset or not
    float[] m = PosEmbed.gridMatrix(6, 6, 6, 6, 0.1);
    for (int r = 0; r < 36; r++) {
      for (int c = 0; c < 36; c++) {
        assertEquals(r == c ? 1f : 0f, m[r * 36 + c], 0f);
      }
    }
    // and any other grid is: every row still sums to 1
    for (double[] row : PosEmbed.bicubicWeights(14, 9, 0.1)) {
      assertEquals(1.0, java.util.Arrays.stream(row).sum(), 1e-12);
    }
  }
}
