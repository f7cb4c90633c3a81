package dev.dino4j.train;

import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetConfig;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetTarget;

import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.internal.c_api.TF_Graph;
import org.tensorflow.internal.c_api.TF_Session;
import org.tensorflow.internal.c_api.TF_SessionOptions;
import org.tensorflow.internal.c_api.TF_Status;
import org.tensorflow.proto.ConfigProto;

/**
 * A {@link Session} on a TF server ("grpc://host:port") instead of in this process.
 *
 * <p>WHY THIS CLASS EXISTS (the project's one workaround around TensorFlow Java 1.1.0): the public
 * {@code Session} constructors always create an in-process session; none takes the C API's target
 * ({@code TF_SetTarget}), which is how TF 1.x-style distributed sessions (and with them
 * collective ops across processes) are reached. The C API itself is public (JavaCPP bindings in
 * {@code org.tensorflow.internal.c_api}), and {@code Session} has a package-private constructor
 * that wraps an existing {@code TF_Session}. So this class does exactly what {@code Session}'s own
 * allocator does, plus {@code TF_SetTarget}, and hands the handle to that constructor by
 * reflection; the graph's handle is read the same way. Everything else (runner, feeds, fetches,
 * save/restore, close) is the stock {@code Session}. Pinned to tensorflow-core-api 1.1.0 (see
 * pom.xml); {@code ClusterTest} fails loudly if a later version renames these members. Remove
 * this class when TF Java offers a session target.
 */
final class RemoteSession {

  private static final Constructor<Session> WRAP;
  private static final Field GRAPH_HANDLE;

  static {
    try {
      WRAP = Session.class.getDeclaredConstructor(Graph.class, TF_Session.class);
      WRAP.setAccessible(true);
      GRAPH_HANDLE = Graph.class.getDeclaredField("nativeHandle");
      GRAPH_HANDLE.setAccessible(true);
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw new ExceptionInInitializerError(
          "this TensorFlow Java version does not have Session(Graph, TF_Session) / Graph.nativeHandle, which "
              + "dino4j's distributed training needs (written for tensorflow-core-api 1.1.0): " + e);
    }
  }

  private RemoteSession() {}

  /** A session of {@code graph} on the server at {@code target}, e.g. "grpc://localhost:2222". */
  @SuppressWarnings("try") // the scope frees the temporaries when it closes
  static Session open(Graph graph, String target, ConfigProto config) {
    TF_Graph graphHandle;
    try {
      graphHandle = (TF_Graph) GRAPH_HANDLE.get(graph);
    } catch (IllegalAccessException e) {
      throw new IllegalStateException(e);
    }
    if (graphHandle == null || graphHandle.isNull()) {
      throw new IllegalStateException("Graph has been close()d");
    }
    // as Session.allocate: temporaries die with the scope, the session handle is retained
    try (PointerScope scope = new PointerScope()) {
      TF_Status status = TF_Status.newStatus();
      TF_SessionOptions opts = TF_SessionOptions.newSessionOptions();
      TF_SetTarget(opts, target);
      BytePointer bytes = new BytePointer(config.toByteArray());
      TF_SetConfig(opts, bytes, bytes.capacity(), status);
      status.throwExceptionIfNotOK();
      TF_Session handle = TF_Session.newSession(graphHandle, opts, status);
      status.throwExceptionIfNotOK();
      handle.retainReference(); // released by Session.close()
      return WRAP.newInstance(graph, handle);
    } catch (InvocationTargetException e) {
      throw new IllegalStateException("cannot wrap the session on " + target + ": " + e.getCause(), e.getCause());
    } catch (InstantiationException | IllegalAccessException e) {
      throw new IllegalStateException(e);
    }
  }
}
