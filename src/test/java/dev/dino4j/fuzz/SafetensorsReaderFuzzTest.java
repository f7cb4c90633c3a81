package dev.dino4j.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dino4j.export.SafetensorsReader;
import dev.dino4j.model.Weights;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

/**
 * SafetensorsReader on arbitrary files: a reader whose every float tensor reads back with as many
 * values as its shape says, or an IllegalArgumentException naming the file.
 */
@Tag("fuzz")
class SafetensorsReaderFuzzTest {

  @TempDir static Path dir;

  @FuzzTest
  void open(byte[] data) throws IOException {
    Path file = dir.resolve("fuzz.safetensors");
    Files.write(file, data);
    try (SafetensorsReader r = SafetensorsReader.open(file)) {
      for (SafetensorsReader.Entry e : r.entries().values()) {
        if (e.dtype() == SafetensorsReader.DType.F32
            || e.dtype() == SafetensorsReader.DType.F64
            || e.dtype() == SafetensorsReader.DType.F16
            || e.dtype() == SafetensorsReader.DType.BF16) {
          Weights.Tensor t = r.tensor(e.name());
          assertEquals(e.elements(), t.values().length);
        }
      }
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
    }
  }
}
