package dev.dino4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code train --data PATH} picks the source PATH looks like when the recipe reads Fashion-MNIST. */
class TrainDataShorthandTest {

  @TempDir Path dir;

  @Test
  void pathKindDecidesTheSource() throws IOException {
    Path photos = Files.createDirectories(dir.resolve("photos/cat"));
    Files.createFile(photos.resolve("1.jpg"));
    assertEquals("folder", TrainCommand.inferSource(dir.resolve("photos")));
    Path list = Files.writeString(dir.resolve("train.csv"), "photos/cat/1.jpg,cat\n");
    assertEquals("list", TrainCommand.inferSource(list));
    Path cifar = Files.createDirectories(dir.resolve("cifar"));
    Files.createFile(cifar.resolve("data_batch_1.bin"));
    assertEquals("cifar10", TrainCommand.inferSource(cifar));
    Path idx = Files.createDirectories(dir.resolve("fmnist"));
    Files.createFile(idx.resolve("train-images-idx3-ubyte.gz"));
    assertNull(TrainCommand.inferSource(idx)); // IDX files: the recipe's own source stays
    assertNull(TrainCommand.inferSource(dir.resolve("missing")));
  }
}
