package dev.dino4j.model;

import java.util.Random;

/**
 * How a parameter starts, computed in Java so that the teacher can be made an exact copy of the
 * student and so that a run's initial weights depend only on the seed.
 */
public sealed interface Init {

  /** Fills {@code out} with this initialiser's values, drawing from {@code rng}. */
  void fill(float[] out, Random rng);

  /** Zeros (biases, optimizer slots, counters). */
  record Zeros() implements Init {
    @Override
    public void fill(float[] out, Random rng) {
      java.util.Arrays.fill(out, 0f);
    }
  }

  /** A constant (LayerNorm gain 1, weight-norm gain 1). */
  record Constant(float value) implements Init {
    @Override
    public void fill(float[] out, Random rng) {
      java.util.Arrays.fill(out, value);
    }
  }

  /**
   * Normal(0, std) truncated to the ABSOLUTE interval [lo, hi] by resampling, as the reference's
   * trunc_normal_(std=.02, a=-2, b=2) does: with std 0.02 the bounds almost never bite.
   */
  record TruncatedNormal(double std, double lo, double hi) implements Init {
    @Override
    public void fill(float[] out, Random rng) {
      for (int i = 0; i < out.length; i++) {
        double v;
        do {
          v = rng.nextGaussian() * std;
        } while (v < lo || v > hi);
        out[i] = (float) v;
      }
    }
  }

  /** Uniform(-bound, bound): PyTorch's default nn.Linear init (kaiming_uniform a=sqrt 5) has bound 1/sqrt(fan_in). */
  record Uniform(double bound) implements Init {
    @Override
    public void fill(float[] out, Random rng) {
      for (int i = 0; i < out.length; i++) {
        out[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
      }
    }
  }

  static Init truncNormal02() {
    return new TruncatedNormal(0.02, -2.0, 2.0);
  }
}
