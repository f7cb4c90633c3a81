package dev.dino4j.export;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import org.tensorflow.proto.DataType;
import org.tensorflow.proto.TensorProto;
import org.tensorflow.proto.TensorShapeProto;

/**
 * TF Serving's warm-up file, {@code assets.extra/tf_serving_warmup_requests}: a TFRecord file of
 * serialized {@code tensorflow.serving.PredictionLog} protos, replayed by the server when it loads
 * a version so that the first real request does not pay for graph optimisation.
 *
 * <p>TF Serving's protos are not on the classpath (only TensorFlow's), and the few fields needed
 * are encoded here by hand (field numbers from tensorflow_serving/apis):
 *
 * <pre>
 *   PredictionLog  { PredictLog predict_log = 6; }
 *   PredictLog     { PredictRequest request = 1; }
 *   PredictRequest { ModelSpec model_spec = 1; map&lt;string, TensorProto&gt; inputs = 2; }
 *   ModelSpec      { string name = 1; string signature_name = 3; }
 *   map entry      { string key = 1; TensorProto value = 2; }
 * </pre>
 *
 * TFRecord framing per record: uint64 LE length, masked CRC32C of those 8 bytes (uint32 LE), the
 * data, masked CRC32C of the data.
 */
public final class WarmupRequests {

  /** The file name TF Serving looks for under {@code assets.extra/}. */
  public static final String FILE = "tf_serving_warmup_requests";

  /** One request: a signature and its named inputs. */
  public record Request(String signature, Map<String, TensorProto> inputs) {}

  private WarmupRequests() {}

  /** A serialized PredictionLog holding one PredictRequest. */
  public static byte[] predictionLog(String modelName, Request request) {
    byte[] spec = message(out -> {
      out.writeString(1, modelName);
      out.writeString(3, request.signature());
    });
    byte[] predictRequest = message(out -> {
      out.writeByteArray(1, spec);
      for (Map.Entry<String, TensorProto> e : request.inputs().entrySet()) {
        byte[] entry = message(m -> {
          m.writeString(1, e.getKey());
          m.writeByteArray(2, e.getValue().toByteArray());
        });
        out.writeByteArray(2, entry);
      }
    });
    byte[] predictLog = message(out -> out.writeByteArray(1, predictRequest));
    return message(out -> out.writeByteArray(6, predictLog));
  }

  /** Writes the records as a TFRecord file. */
  public static void writeTfRecord(Path file, List<byte[]> records) throws IOException {
    try (OutputStream out = Files.newOutputStream(file)) {
      for (byte[] data : records) {
        byte[] length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(data.length).array();
        out.write(length);
        out.write(int32le(maskedCrc(length)));
        out.write(data);
        out.write(int32le(maskedCrc(data)));
      }
    }
  }

  /** TFRecord's CRC: CRC32C rotated right by 15 bits plus a constant. */
  static int maskedCrc(byte[] data) {
    CRC32C crc = new CRC32C();
    crc.update(data);
    int c = (int) crc.getValue();
    return ((c >>> 15) | (c << 17)) + 0xa282ead8;
  }

  private static byte[] int32le(int v) {
    return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
  }

  /** float32 tensor [shape] with the values as raw little-endian tensor_content. */
  public static TensorProto floatTensor(float[] values, long... shape) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putFloat(v);
    }
    return TensorProto.newBuilder()
        .setDtype(DataType.DT_FLOAT)
        .setTensorShape(shape(shape))
        .setTensorContent(ByteString.copyFrom(b.array()))
        .build();
  }

  /** string tensor [n]. */
  public static TensorProto stringTensor(List<byte[]> values) {
    TensorProto.Builder t =
        TensorProto.newBuilder().setDtype(DataType.DT_STRING).setTensorShape(shape(values.size()));
    for (byte[] v : values) {
      t.addStringVal(ByteString.copyFrom(v));
    }
    return t.build();
  }

  private static TensorShapeProto shape(long... dims) {
    TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
    for (long d : dims) {
      s.addDim(TensorShapeProto.Dim.newBuilder().setSize(d));
    }
    return s.build();
  }

  private interface Fields {
    void write(CodedOutputStream out) throws IOException;
  }

  private static byte[] message(Fields fields) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      CodedOutputStream out = CodedOutputStream.newInstance(bytes);
      fields.write(out);
      out.flush();
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode a warm-up request", e);
    }
  }
}
