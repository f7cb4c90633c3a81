// Remakes the generated seeds of the fuzz targets (JDK only). From the repository root:
//   jshell src/test/resources/dev/dino4j/fuzz/make_seeds.jsh
// Image fixtures that Java cannot write are copied from src/test/resources/images/.
// Crash inputs (crash-*) are regression inputs found by fuzzing; this script leaves them alone.
import java.awt.image.*;
import java.nio.*;
import java.nio.file.*;
import java.util.zip.*;
import javax.imageio.*;
import javax.imageio.stream.*;

Path base = Path.of("src/test/resources/dev/dino4j/fuzz");
Path put(String dir, String name, byte[] b) throws Exception {
  Path d = Files.createDirectories(base.resolve(dir));
  return Files.write(d.resolve(name), b);
}
byte[] utf8(String s) { return s.getBytes(java.nio.charset.StandardCharsets.UTF_8); }
byte[] prefix(char c, byte[] b) {
  byte[] out = new byte[b.length + 1];
  out[0] = (byte) c;
  System.arraycopy(b, 0, out, 1, b.length);
  return out;
}
byte[] gzip(byte[] b) throws Exception {
  var bo = new java.io.ByteArrayOutputStream();
  try (var z = new GZIPOutputStream(bo)) { z.write(b); }
  return bo.toByteArray();
}
byte[] encode(BufferedImage img, String format, boolean progressive) throws Exception {
  var bo = new java.io.ByteArrayOutputStream();
  ImageWriter w = ImageIO.getImageWritersByFormatName(format).next();
  try (ImageOutputStream out = ImageIO.createImageOutputStream(bo)) {
    w.setOutput(out);
    ImageWriteParam p = w.getDefaultWriteParam();
    if (progressive) { p.setProgressiveMode(ImageWriteParam.MODE_DEFAULT); }
    if (format.equals("tiff")) { p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT); p.setCompressionType("LZW"); }
    w.write(null, new IIOImage(img, null, null), p);
  }
  w.dispose();
  return bo.toByteArray();
}
BufferedImage picture(int type) {
  BufferedImage img = new BufferedImage(5, 3, type);
  for (int y = 0; y < 3; y++) for (int x = 0; x < 5; x++) img.setRGB(x, y, (x * 50) << 16 | (y * 100) << 8 | (x * y * 20));
  return img;
}

// ---- ImageDecoderFuzzTestInputs/decode: every format the decoder reads or refuses
String img = "ImageDecoderFuzzTestInputs/decode";
put(img, "rgb.png", encode(picture(BufferedImage.TYPE_INT_RGB), "png", false));
put(img, "rgba.png", encode(picture(BufferedImage.TYPE_INT_ARGB), "png", false));
put(img, "gray16.png", encode(picture(BufferedImage.TYPE_USHORT_GRAY), "png", false));
put(img, "palette.png", encode(picture(BufferedImage.TYPE_BYTE_INDEXED), "png", false));
put(img, "palette.gif", encode(picture(BufferedImage.TYPE_BYTE_INDEXED), "gif", false));
put(img, "rgb24.bmp", encode(picture(BufferedImage.TYPE_3BYTE_BGR), "bmp", false));
put(img, "palette8.bmp", encode(picture(BufferedImage.TYPE_BYTE_INDEXED), "bmp", false));
put(img, "baseline.jpg", encode(picture(BufferedImage.TYPE_3BYTE_BGR), "jpeg", false));
put(img, "progressive.jpg", encode(picture(BufferedImage.TYPE_3BYTE_BGR), "jpeg", true));
put(img, "gray.jpg", encode(picture(BufferedImage.TYPE_BYTE_GRAY), "jpeg", false));
put(img, "rgb-lzw.tif", encode(picture(BufferedImage.TYPE_3BYTE_BGR), "tiff", false));
for (String f : new String[] {"rgb.jpg", "cmyk.jpg", "ycck.jpg", "orient-6.jpg", "cmyk.tif",
    "tiff16-gray-lzw-pred2-II.tif", "tiff16-rgb-lzw-pred2-MM.tif", "tiff16-rgba-deflate-pred2-II.tif",
    "tiff8-gray-lzw-pred2-MM.tif", "tiff8-rgb-deflate-pred2-II.tif", "tiff-float-pred3.tif",
    "webp.webp", "heic.heic", "avif.avif"}) {
  put(img, f, Files.readAllBytes(Path.of("src/test/resources/images", f)));
}

// ---- SafetensorsReaderFuzzTestInputs/open: float and integer dtypes, an empty tensor, metadata
byte[] safetensors(String header, int dataBytes) {
  byte[] h = utf8(header);
  ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
  b.putLong(h.length).put(h);
  for (int i = 0; i < dataBytes; i++) b.put((byte) (i * 37));
  return b.array();
}
String st = "SafetensorsReaderFuzzTestInputs/open";
put(st, "f32-bf16.safetensors", safetensors("{\"__metadata__\":{\"format\":\"pt\"},"
    + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    + "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[8,12]}}", 12));
put(st, "f16-f64-i64-empty.safetensors", safetensors("{\"h\":{\"dtype\":\"F16\",\"shape\":[2,1],\"data_offsets\":[0,4]},"
    + "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[4,12]},"
    + "\"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[12,20]},"
    + "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[20,20]}}    ", 20));

// ---- IdxDatasetFuzzTestInputs/read: first byte 'i' images, 'z' images .gz, 'l' labels
ByteBuffer images = ByteBuffer.allocate(16 + 12).putInt(0x803).putInt(2).putInt(2).putInt(3);
for (int i = 0; i < 12; i++) images.put((byte) (i * 21));
ByteBuffer images1 = ByteBuffer.allocate(16 + 16).putInt(0x803).putInt(1).putInt(4).putInt(4);
for (int i = 0; i < 16; i++) images1.put((byte) (255 - i));
put("IdxDatasetFuzzTestInputs/read", "i-2x2x3-idx3-ubyte", prefix('i', images.array()));
put("IdxDatasetFuzzTestInputs/read", "i-1x4x4-idx3-ubyte", prefix('i', images1.array()));
put("IdxDatasetFuzzTestInputs/read", "z-2x2x3-idx3-ubyte.gz", prefix('z', gzip(images.array())));
// a header that claims 1000 images of 1000x1000 (1 GB) in a 16-byte file: refused before allocating
put("IdxDatasetFuzzTestInputs/read", "i-claims-1gb-idx3-ubyte", prefix('i', ByteBuffer.allocate(16).putInt(0x803).putInt(1000).putInt(1000).putInt(1000).array()));
put("IdxDatasetFuzzTestInputs/read", "l-2-idx1-ubyte", prefix('l', ByteBuffer.allocate(10).putInt(0x801).putInt(2).put((byte) 3).put((byte) 9).array()));

// ---- Cifar10DatasetFuzzTestInputs/open: first byte 'b' test_batch.bin (one, two records), 'm' batches.meta.txt
int record = 1 + 3 * 32 * 32;
byte[] two = new byte[2 * record];
for (int i = 0; i < two.length; i++) two[i] = (byte) (i * 7);
two[0] = 3;
two[record] = 9;
put("Cifar10DatasetFuzzTestInputs/open", "b-2-records.bin", prefix('b', two));
put("Cifar10DatasetFuzzTestInputs/open", "b-1-record.bin", prefix('b', java.util.Arrays.copyOf(two, record)));
put("Cifar10DatasetFuzzTestInputs/open", "m-batches.meta.txt",
    utf8("m" + "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"));

// ---- FileIndexFuzzTestInputs/storedIndex: first byte 'f' folders, 'n' none (gzipped by the test), 'F' folders as is
String index = "dino4j-image-index 1\nroot\t@ROOT@\nlabels\t%s\nclasses%s\nD\t@MTIME@\t\n%s";
put("FileIndexFuzzTestInputs/storedIndex", "folders.tsv", utf8("f" + String.format(index, "folders", "\ta\tb", "F\t1\t0\ta/x.png\nF\t1\t1\tb/y.jpg\n")));
put("FileIndexFuzzTestInputs/storedIndex", "none.tsv", utf8("n" + String.format(index, "none", "", "F\t1\t-1\ta/x.png\nF\t1\t-1\tb/y\\tz.jpg\n")));
put("FileIndexFuzzTestInputs/storedIndex", "plain-folders.tsv", utf8("F" + String.format(index, "folders", "\ta\tb", "F\t1\t1\tb/y.jpg\n")));

// ---- ConfigLoaderFuzzTestInputs/load: first byte 'y' a YAML file (a recipe, a short file), 'o' an override
put("ConfigLoaderFuzzTestInputs/load", "y-fmnist-tiny.yaml", prefix('y', Files.readAllBytes(Path.of("configs/fmnist-tiny.yaml"))));
put("ConfigLoaderFuzzTestInputs/load", "y-short.yaml", utf8("ymodel:\n  arch: custom\n  embed_dim: 32\n  depth: 2\n  heads: 2\n"
    + "augment:\n  global_scale: [0.4, 1.0]\noptim:\n  lr: 0.0005 # base lr\ntrain:\n  epochs: 3\n  precision: fp32\n"));
put("ConfigLoaderFuzzTestInputs/load", "o-lr", utf8("ooptim.lr=0.001"));
put("ConfigLoaderFuzzTestInputs/load", "o-scale", utf8("oaugment.global_scale=[0.3,1.0]"));
put("ConfigLoaderFuzzTestInputs/load", "o-arch", utf8("omodel.arch=small"));

// ---- CheckpointStateFuzzTestInputs/stateJson: as Checkpoints.save writes it
put("CheckpointStateFuzzTestInputs/stateJson", "epoch-end.json",
    utf8("{\n  \"epoch\" : 1,\n  \"stepInEpoch\" : 0,\n  \"globalStep\" : 15,\n  \"epochEnd\" : true\n}"));
put("CheckpointStateFuzzTestInputs/stateJson", "mid-epoch.json",
    utf8("{\"epoch\":2,\"stepInEpoch\":4,\"globalStep\":34,\"epochEnd\":false}"));
/exit
