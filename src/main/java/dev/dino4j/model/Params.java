package dev.dino4j.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * The variables of one network (student or teacher), created under a scope from a list of {@link
 * ParamSpec}s BEFORE the forward graph is built (each new op gets slower to add as the graph
 * grows, so variables go first). Each variable is read once through {@code identity}: feeding a
 * raw VariableV2 ref into some ops crashed TF Java's gradient construction.
 */
public final class Params {

  /** A created parameter: its spec, the VariableV2 and the identity read the forward uses. */
  public record Param(ParamSpec spec, Variable<TFloat32> variable, Operand<TFloat32> value) {}

  private final String scope;
  private final Map<String, Param> byName = new LinkedHashMap<>();

  private Params(String scope) {
    this.scope = scope;
  }

  /** Creates one VariableV2 per spec under {@code tf}'s sub-scope {@code scope}. */
  public static Params create(Ops tf, String scope, List<ParamSpec> specs) {
    Params params = new Params(scope);
    Ops scoped = tf.withSubScope(scope);
    for (ParamSpec spec : specs) {
      Variable<TFloat32> var =
          scoped.withName(spec.name()).variable(Shape.of(spec.shape()), TFloat32.class);
      Operand<TFloat32> read = scoped.withSubScope(spec.name()).withName("read").identity(var);
      if (params.byName.put(spec.name(), new Param(spec, var, read)) != null) {
        throw new IllegalArgumentException("duplicate parameter name " + spec.name());
      }
    }
    return params;
  }

  /** The identity read of parameter {@code name}. */
  public Operand<TFloat32> get(String name) {
    Param p = byName.get(name);
    if (p == null) {
      throw new IllegalArgumentException("no parameter " + scope + "/" + name);
    }
    return p.value();
  }

  public Param param(String name) {
    Param p = byName.get(name);
    if (p == null) {
      throw new IllegalArgumentException("no parameter " + scope + "/" + name);
    }
    return p;
  }

  public List<Param> all() {
    return Collections.unmodifiableList(new ArrayList<>(byName.values()));
  }

  public String scope() {
    return scope;
  }

  /** Number of scalar weights. */
  public long count() {
    long n = 0;
    for (Param p : byName.values()) {
      n += p.spec().size();
    }
    return n;
  }
}
