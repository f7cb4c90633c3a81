package dev.dino4j.train;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Schedules: lengths, endpoints and monotonicity, as the reference's cosine_scheduler. */
class SchedulesTest {

  @Test
  void learningRateWarmsUpLinearlyThenDecaysByCosine() {
    int epochs = 10;
    int steps = 7;
    double[] s = Schedules.cosine(0.004, 1e-6, epochs, steps, 2, 0.0);
    assertEquals(epochs * steps, s.length);
    int warm = 2 * steps;
    assertEquals(0.0, s[0], 0.0); // linspace starts at the warm-up start...
    assertEquals(0.004, s[warm - 1], 1e-15); // ...and ends at the peak
    for (int i = 1; i < warm; i++) {
      assertEquals(0.004 / (warm - 1), s[i] - s[i - 1], 1e-12, "linear warm-up step " + i);
    }
    assertEquals(0.004, s[warm], 1e-15); // the cosine starts at the peak
    for (int i = warm + 1; i < s.length; i++) {
      assertTrue(s[i] < s[i - 1], "cosine strictly decreasing at " + i);
    }
    // numpy: final + 0.5 (base - final)(1 + cos(pi (n-1)/n)), n = remaining steps
    int n = s.length - warm;
    double last = 1e-6 + 0.5 * (0.004 - 1e-6) * (1 + Math.cos(Math.PI * (n - 1) / n));
    assertEquals(last, s[s.length - 1], 1e-18);
    assertTrue(s[s.length - 1] > 1e-6 && s[s.length - 1] < 1e-5);
    // halfway through the cosine part the value is the midpoint
    assertEquals((0.004 + 1e-6) / 2, s[warm + n / 2], 1e-4 * 0.004 + 0.004 * Math.PI / n);
  }

  @Test
  void weightDecayAndMomentumRise() {
    double[] wd = Schedules.cosine(0.04, 0.4, 3, 5, 0, 0);
    double[] mom = Schedules.cosine(0.996, 1.0, 3, 5, 0, 0);
    assertEquals(0.04, wd[0], 1e-15);
    assertEquals(0.996, mom[0], 1e-15);
    for (int i = 1; i < wd.length; i++) {
      assertTrue(wd[i] > wd[i - 1]);
      assertTrue(mom[i] > mom[i - 1]);
    }
    assertTrue(wd[wd.length - 1] < 0.4 && wd[wd.length - 1] > 0.39);
    assertTrue(mom[mom.length - 1] < 1.0 && mom[mom.length - 1] > 0.9999);
  }

  @Test
  void teacherTemperatureWarmsUpPerEpoch() {
    double[] t = Schedules.teacherTemperature(0.04, 0.07, 30, 100);
    assertEquals(100, t.length);
    assertEquals(0.04, t[0], 1e-15);
    assertEquals(0.07, t[29], 1e-15); // linspace includes the end point
    for (int e = 1; e < 30; e++) {
      assertEquals(0.03 / 29, t[e] - t[e - 1], 1e-12);
    }
    for (int e = 30; e < 100; e++) {
      assertEquals(0.07, t[e], 0.0);
    }
    double[] none = Schedules.teacherTemperature(0.04, 0.04, 0, 5);
    for (double v : none) {
      assertEquals(0.04, v, 0.0);
    }
  }

  @Test
  void warmupLongerThanTrainingIsAllWarmup() {
    double[] s = Schedules.cosine(1.0, 0.0, 2, 3, 5, 0.0);
    assertEquals(6, s.length);
    for (int i = 1; i < s.length; i++) {
      assertTrue(s[i] > s[i - 1]);
    }
  }
}
