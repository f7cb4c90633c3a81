package dev.dino4j.model;

import java.util.Arrays;

/**
 * One parameter of a network, named as in the official DINO / timm state_dict, with its shape in
 * TensorFlow layout (linear weights [in, out], conv kernels [kh, kw, in, out]).
 *
 * @param decay whether AdamW applies weight decay (the reference skips biases and 1-D tensors)
 * @param trainable whether the optimizer updates it (the weight-norm gain is frozen at 1 when
 *     norm_last_layer is on)
 * @param lastLayer whether it belongs to the head's last layer, which is frozen for the first
 *     freeze_last_layer epochs
 */
public record ParamSpec(
    String name, long[] shape, Init init, boolean decay, boolean trainable, boolean lastLayer) {

  public static ParamSpec of(String name, Init init, long... shape) {
    boolean decay = !(name.endsWith(".bias") || shape.length == 1);
    return new ParamSpec(name, shape, init, decay, true, false);
  }

  public ParamSpec frozen() {
    return new ParamSpec(name, shape, init, decay, false, lastLayer);
  }

  public ParamSpec inLastLayer() {
    return new ParamSpec(name, shape, init, decay, trainable, true);
  }

  public int size() {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return Math.toIntExact(n);
  }

  @Override
  public String toString() {
    return name + Arrays.toString(shape);
  }
}
