package dev.dino4j.train;

import dev.dino4j.model.Params;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.ndarray.buffer.FloatDataBuffer;
import org.tensorflow.types.TBool;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;

/** Test helpers: fixed inputs, feeding a step, reading tensors back as flat float arrays. */
final class GraphRunner {

  private GraphRunner() {}

  static float[] gaussian(long n, long seed) {
    Random r = new Random(seed);
    float[] x = new float[Math.toIntExact(n)];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    return x;
  }

  static float[] toArray(TFloat32 t) {
    float[] out = new float[Math.toIntExact(t.shape().size())];
    FloatDataBuffer buf = DataBuffers.of(out, false, false);
    t.copyTo(buf);
    return out;
  }

  /** Fetches operands in one run (no step) and returns them as flat arrays. */
  static List<float[]> fetch(Session s, List<Operand<TFloat32>> ops) {
    Session.Runner r = s.runner();
    for (Operand<TFloat32> o : ops) {
      r.fetch(o);
    }
    List<float[]> out = new ArrayList<>();
    try (Result res = r.run()) {
      for (int i = 0; i < ops.size(); i++) {
        out.add(toArray((TFloat32) res.get(i)));
      }
    }
    return out;
  }

  /** All parameters of a network by name. */
  static Map<String, float[]> values(Session s, Params p) {
    List<Operand<TFloat32>> ops = new ArrayList<>();
    for (Params.Param q : p.all()) {
      ops.add(q.value());
    }
    List<float[]> vals = fetch(s, ops);
    Map<String, float[]> out = new LinkedHashMap<>();
    for (int i = 0; i < vals.size(); i++) {
      out.put(p.all().get(i).spec().name(), vals.get(i));
    }
    return out;
  }

  /** Feeds one step's inputs into a runner; the caller adds targets and fetches. */
  record Feed(TFloat32 globals, TFloat32 locals, TFloat32 lr, TFloat32 wd, TFloat32 m, TFloat32 tt, TBool freeze,
      TInt64 seed, TFloat32 masks) implements AutoCloseable {

    static Feed of(DinoGraph g, float[] globals, float[] locals, int b, int gs, int ls,
        float lr, float wd, float m, float tt, boolean freeze, long step) {
      return new Feed(
          TFloat32.tensorOf(Shape.of(2L * b, gs, gs, 3), DataBuffers.of(globals, true, false)),
          locals == null ? null : TFloat32.tensorOf(Shape.of(locals.length / (3L * ls * ls), ls, ls, 3), DataBuffers.of(locals, true, false)),
          TFloat32.scalarOf(lr), TFloat32.scalarOf(wd), TFloat32.scalarOf(m), TFloat32.scalarOf(tt),
          TBool.scalarOf(freeze), TInt64.vectorOf(7, step), g.ibotMasks == null ? null : masks(g, b, gs, step));
    }

    /** The step's iBOT masks as the trainer feeds them (run seed 7, one worker). */
    private static TFloat32 masks(DinoGraph g, int b, int gs, long step) {
      int grid = g.dims().nativeGrid();
      float[] rows = IbotMasks.workerRows(IbotMasks.forStep(g.lossConfig(), 7, step, 2 * b, grid), 0, 1);
      return TFloat32.tensorOf(Shape.of(2L * b, (long) grid * grid), DataBuffers.of(rows, true, false));
    }

    Session.Runner into(Session.Runner r, DinoGraph g) {
      r.feed(g.globals, globals).feed(g.lr, lr).feed(g.weightDecay, wd).feed(g.momentum, m).feed(g.teacherTemp, tt)
          .feed(g.freezeLastLayer, freeze).feed(g.seed, seed);
      if (locals != null) {
        r.feed(g.locals, locals);
      }
      if (masks != null) {
        r.feed(g.ibotMasks, masks);
      }
      return r;
    }

    @Override
    public void close() {
      globals.close();
      if (locals != null) {
        locals.close();
      }
      lr.close();
      wd.close();
      m.close();
      tt.close();
      freeze.close();
      seed.close();
      if (masks != null) {
        masks.close();
      }
    }
  }
}
