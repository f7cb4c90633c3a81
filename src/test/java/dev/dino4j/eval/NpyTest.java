package dev.dino4j.eval;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** .npy files: read back by this reader and by numpy itself. */
class NpyTest {

  @Test
  void headerIsPaddedTo64Bytes() {
    for (long[] shape : new long[][] {{3, 4}, {60000, 128}, {5}, {}}) {
      byte[] h = Npy.header("<f4", shape);
      assertEquals(0, (10 + h.length) % 64, new String(h, StandardCharsets.US_ASCII));
      assertEquals('\n', h[h.length - 1]);
    }
    assertTrue(new String(Npy.header("<i4", new long[] {5}), StandardCharsets.US_ASCII).contains("'shape': (5,)"));
  }

  @Test
  void roundTripsThroughThisReader(@TempDir Path tmp) throws IOException {
    Features f = sample();
    f.save(tmp, "x");
    Features g = Features.load(tmp, "x");
    assertEquals(f.count(), g.count());
    assertEquals(f.dim(), g.dim());
    assertArrayEquals(f.values(), g.values());
    assertArrayEquals(f.labels(), g.labels());
  }

  @Test
  void numpyReadsWhatWeWriteAndWeReadWhatNumpyWrites(@TempDir Path tmp) throws Exception {
    assumeTrue(python("import numpy", tmp) == 0, "python3 with numpy not available");
    Features f = sample();
    f.save(tmp, "x");
    String check = String.join("\n",
        "import numpy as np, sys",
        "f = np.load('" + tmp.resolve("x-features.npy") + "')",
        "l = np.load('" + tmp.resolve("x-labels.npy") + "')",
        "assert f.dtype == np.float32 and f.shape == (3, 4), (f.dtype, f.shape)",
        "assert l.dtype == np.int32 and l.shape == (3,), (l.dtype, l.shape)",
        "assert np.array_equal(f, np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 1), f",
        "assert list(l) == [2, 0, 1], l",
        "np.save('" + tmp.resolve("np-features.npy") + "', np.arange(6, dtype=np.float32).reshape(2, 3) + 0.25)",
        "np.save('" + tmp.resolve("np-labels.npy") + "', np.array([7, 9], dtype=np.int32))");
    assertEquals(0, python(check, tmp), Files.readString(tmp.resolve("py.log")));
    Features g = Features.load(tmp, "np");
    assertArrayEquals(new float[] {0.25f, 1.25f, 2.25f, 3.25f, 4.25f, 5.25f}, g.values());
    assertArrayEquals(new int[] {7, 9}, g.labels());
  }

  @Test
  void rejectsOtherFiles(@TempDir Path tmp) throws IOException {
    Path p = tmp.resolve("bad.npy");
    Files.writeString(p, "not numpy");
    IOException e = assertThrows(IOException.class, () -> Npy.read(p));
    assertTrue(e.getMessage().contains("bad.npy"), e.getMessage());
  }

  private static Features sample() {
    float[] v = new float[12];
    for (int i = 0; i < 12; i++) {
      v[i] = i * 0.5f - 1;
    }
    return new Features(3, 4, v, new int[] {2, 0, 1});
  }

  private static int python(String code, Path tmp) throws IOException, InterruptedException {
    try {
      Process p = new ProcessBuilder("python3", "-c", code).redirectErrorStream(true)
          .redirectOutput(tmp.resolve("py.log").toFile()).start();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return -1;
      }
      return p.exitValue();
    } catch (IOException e) {
      return -1; // no python3
    }
  }
}
