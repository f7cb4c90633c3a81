package dev.dino4j.model;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Named weight tensors in Java memory, in dino4j's TensorFlow layouts (linear [in, out], conv
 * [kh, kw, in, out]) and official parameter names: what moves between checkpoints, weight files
 * and export graphs.
 */
public final class Weights {

  /** One tensor: its shape and row-major values. */
  public record Tensor(long[] shape, float[] values) {
    public Tensor {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      if (n != values.length) {
        throw new IllegalArgumentException(
            "shape " + java.util.Arrays.toString(shape) + " holds " + n + " values, got " + values.length);
      }
    }
  }

  private final Map<String, Tensor> tensors = new LinkedHashMap<>();

  public void put(String name, long[] shape, float[] values) {
    tensors.put(name, new Tensor(shape.clone(), values));
  }

  public Tensor get(String name) {
    Tensor t = tensors.get(name);
    if (t == null) {
      throw new IllegalArgumentException("no weight named " + name);
    }
    return t;
  }

  public boolean has(String name) {
    return tensors.containsKey(name);
  }

  public Map<String, Tensor> all() {
    return Collections.unmodifiableMap(tensors);
  }

  public int size() {
    return tensors.size();
  }
}
