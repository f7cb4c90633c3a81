package dev.dino4j.data;

import dev.dino4j.data.BadImageException.Reason;
import java.awt.image.BufferedImage;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.awt.image.SampleModel;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.spi.IIORegistry;
import javax.imageio.spi.ImageReaderSpi;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Decodes one image file to {@link Image} (RGB floats in [0, 1], [h, w, 3]) the way the reference
 * pipeline sees it, or throws a {@link BadImageException} that names the file and the reason.
 *
 * <p>The format comes from the first bytes, never from the name. JPEG, PNG, BMP, GIF (first frame)
 * and TIFF (first page) are decoded with the JDK's own ImageIO readers; WebP, HEIC/HEIF, AVIF, JPEG
 * 2000, JPEG XL and PSD are recognised and refused as UNSUPPORTED_FORMAT. Before any pixel is
 * allocated the size in the header is checked against {@code maxPixels} (the config key {@code
 * data.max_pixels}; Pillow refuses images over 178,956,970 pixels as decompression bombs).
 *
 * <p>What each kind of file becomes, compared with torchvision's loader ({@code
 * PIL.Image.open(f).convert("RGB")}), which the official DINO training uses:
 *
 * <ul>
 *   <li>RGB: the samples as stored. Embedded ICC profiles are ignored, as PIL ignores them.
 *   <li>Grayscale: each gray sample copied to R, G and B as it is; AWT's getRGB() would treat gray
 *       as linear light and brighten it (128 becomes 186), PIL does not.
 *   <li>Alpha (RGBA, gray + alpha, palette with transparency): alpha is dropped, not composited on
 *       a background, exactly what {@code convert("RGB")} does.
 *   <li>Palette: each index looked up in the palette.
 *   <li>16 bits per sample (PNG, TIFF): v / 65535, all 16 bits kept. PIL differs here: a 16-bit RGB
 *       PNG loses the low byte, and a 16-bit gray PNG opens in mode "I" whose convert("RGB") clips
 *       every value above 255 to white.
 *   <li>CMYK and YCCK JPEG (Adobe APP14 marker), CMYK TIFF: converted as current Pillow does, R =
 *       (1 - C)(1 - K), G = (1 - M)(1 - K), B = (1 - Y)(1 - K), kept as floats rather than rounded
 *       to 8 bits. A JPEG with an Adobe marker stores CMYK inverted (Photoshop's convention, which
 *       libjpeg, Pillow and TensorFlow follow), so there R = C'K' of the stored values.
 *   <li>JPEG EXIF orientation 1-8: applied, so the image is upright as a viewer shows it. The
 *       torchvision loader does not apply it (PIL needs {@code ImageOps.exif_transpose}); pixels of
 *       sideways photos then differ from the reference by that rotation.
 *   <li>GIF: the first frame as stored. PIL pastes it onto the logical screen, which differs when
 *       that frame is smaller than the screen.
 * </ul>
 *
 * <p>Damage is refused, not papered over: a JPEG that ends before its end-of-image marker, or whose
 * decoder warns that the data ran out, is TRUNCATED (libjpeg would fill the rest with gray), as are
 * a PNG cut before IEND and an uncompressed BMP short of its rows. libjpeg's other warnings
 * ("extraneous bytes before marker") are ignored, as Pillow ignores them.
 *
 * <p>Pixels are converted straight from the decoder's DataBuffer (byte or ushort, any band order)
 * with lookup tables, not per pixel through getRGB(); JPEG colour conversion is done here with
 * libjpeg's integer arithmetic, so baseline, progressive and gray JPEGs equal TensorFlow's
 * DecodeJpeg (libjpeg-turbo, accurate integer IDCT) to the bit. Speed for one 500x375 baseline JPEG
 * (ImageNet's typical size, 4:2:0, quality 90, 79 KB), one thread, thread CPU time, median of
 * interleaved rounds on a shared 2-core machine ({@code ImageDecoderBenchmark}): this class 4.4 ms,
 * ImageIO.read + getRGB (the decoder it replaces) 11.8 ms, Commons Imaging 19 ms (and up to 19
 * levels off), TensorFlow's DecodeJpeg in a reused session including the copy to floats 2.9 ms.
 * TensorFlow is faster but not used: its CPU thread pools are process-wide and sized by the first
 * session created, so a decoding session opened by a data worker before the trainer's would
 * silently override {@code train.threads}.
 *
 * <p>Thread-safe: every call uses its own reader.
 */
public final class ImageDecoder {

  /** The formats decoded here, by the ImageIO format name of their reader. */
  enum Format {
    JPEG("jpeg"),
    PNG("png"),
    BMP("bmp"),
    GIF("gif"),
    TIFF("tiff");

    final String imageIoName;

    Format(String imageIoName) {
      this.imageIoName = imageIoName;
    }
  }

  /** The formats decoded here, for messages. */
  static final String SUPPORTED = "JPEG, PNG, BMP, GIF or TIFF";

  /** Most bytes a pixel of a decoder's raster may take: four 32-bit samples (RGB floats: 12). */
  private static final int MAX_RASTER_BYTES_PER_PIXEL = 16;

  /** Largest float[] the JVM allocates; [h, w, 3] must fit in one. */
  private static final long MAX_FLOATS = Integer.MAX_VALUE - 8;

  /** The JDK's own reader per format, chosen once: its behaviour is what the tests pin down. */
  private static final Map<Format, ImageReaderSpi> READERS = new EnumMap<>(Format.class);

  static {
    for (Format f : Format.values()) {
      READERS.put(f, jdkReader(f.imageIoName));
    }
  }

  private ImageDecoder() {}

  /**
   * Pixel limit when no config says otherwise ({@code data.max_pixels}'s default): Pillow's
   * decompression-bomb threshold, at which it warns (it refuses at twice this).
   */
  public static final long DEFAULT_MAX_PIXELS = 89_478_485L;

  /**
   * Reads and decodes {@code file}.
   *
   * @param maxPixels largest width x height accepted ({@code data.max_pixels}), checked against the
   *     header before the pixels are decoded
   * @throws BadImageException for anything wrong with the file, UNREADABLE included
   */
  public static Image decode(Path file, long maxPixels) throws IOException {
    String name = file.toString();
    if (Files.isDirectory(file)) {
      throw new BadImageException(
          name, Reason.UNREADABLE, "is a folder, not a file", "an image file", null);
    }
    byte[] bytes;
    try {
      if (Files.size(file) > MAX_FLOATS) {
        throw new BadImageException(
            name,
            Reason.TOO_LARGE,
            "file is " + Files.size(file) + " bytes, too large to read into memory",
            "an image file under 2 GiB",
            null);
      }
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new BadImageException(name, Reason.UNREADABLE, "no such file", "an image file", e);
    } catch (AccessDeniedException e) {
      throw new BadImageException(
          name, Reason.UNREADABLE, "permission denied", "a file this user can read", e);
    } catch (BadImageException e) {
      throw e;
    } catch (IOException e) {
      throw new BadImageException(
          name, Reason.UNREADABLE, "cannot read the file: " + e, "a readable image file", e);
    }
    return decode(bytes, name, maxPixels);
  }

  /**
   * Decodes an encoded image held in memory.
   *
   * @param name how messages name the image, usually its path
   * @param maxPixels largest width x height accepted ({@code data.max_pixels})
   * @throws BadImageException for anything wrong with the bytes
   */
  public static Image decode(byte[] bytes, String name, long maxPixels) throws IOException {
    if (maxPixels <= 0) {
      throw new IllegalArgumentException(
          "maxPixels (data.max_pixels) must be positive, got " + maxPixels);
    }
    if (bytes.length == 0) {
      throw new BadImageException(
          name, Reason.EMPTY, "file is empty (0 bytes)", "a " + SUPPORTED + " image", null);
    }
    Format format = sniff(bytes, name);
    return format == Format.JPEG
        ? decodeJpeg(bytes, name, maxPixels)
        : decodeWithImageIo(bytes, format, name, maxPixels);
  }

  // ---------------------------------------------------------------- format from the first bytes

  /** The format by its signature, or the exception that says what the bytes are instead. */
  static Format sniff(byte[] b, String name) throws BadImageException {
    if (startsWith(b, 0, 0xFF, 0xD8, 0xFF)) {
      return Format.JPEG;
    }
    if (startsWith(b, 0, 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A)) {
      return Format.PNG;
    }
    if (startsWithAscii(b, 0, "GIF87a") || startsWithAscii(b, 0, "GIF89a")) {
      return Format.GIF;
    }
    if (startsWithAscii(b, 0, "II*\0") || startsWithAscii(b, 0, "MM\0*")) {
      return Format.TIFF;
    }
    if (startsWithAscii(b, 0, "BM") && (b.length < 18 || isBmpInfoHeaderSize(le32(b, 14)))) {
      return Format.BMP;
    }
    String unsupported = unsupportedFormat(b);
    if (unsupported != null) {
      throw new BadImageException(
          name,
          Reason.UNSUPPORTED_FORMAT,
          unsupported + " image, which is not decoded here",
          "a " + SUPPORTED + " file; convert it, e.g. to PNG",
          null);
    }
    // The first bytes of a real signature: the file was cut right at the start.
    if (b.length < 8
        && (isPrefix(b, 0xFF, 0xD8, 0xFF) || isPrefix(b, 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A))) {
      throw new BadImageException(
          name,
          Reason.TRUNCATED,
          "only the first " + b.length + " bytes of an image signature",
          "a complete image file",
          null);
    }
    int shown = Math.min(b.length, 12);
    StringBuilder hex = new StringBuilder();
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < shown; i++) {
      int v = b[i] & 0xFF;
      hex.append(i == 0 ? "" : " ").append(String.format(Locale.ROOT, "%02x", v));
      text.append(v >= 0x20 && v < 0x7F ? (char) v : '.');
    }
    throw new BadImageException(
        name,
        Reason.NOT_AN_IMAGE,
        "not an image: the content starts with " + hex + " (\"" + text + "\")",
        "a " + SUPPORTED + " file; the format is read from the content, not the name",
        null);
  }

  /** Names formats recognised but not decoded, or null. */
  private static String unsupportedFormat(byte[] b) {
    if (startsWithAscii(b, 0, "RIFF") && startsWithAscii(b, 8, "WEBP")) {
      return "WebP";
    }
    if (startsWithAscii(b, 4, "ftyp") && b.length >= 12) {
      // ISO base media file: the major brand and the compatible brands of the ftyp box say
      // whether it holds an AV1 (AVIF) or HEVC (HEIC) still image; MP4 video is not an image.
      int boxEnd = (int) Math.min(b.length, Math.max(16, be32(b, 0)));
      boolean heif = false;
      for (int at = 8; at + 4 <= boxEnd; at += 4) {
        if (at == 12) {
          continue; // minor version, not a brand
        }
        String brand = new String(b, at, 4, StandardCharsets.ISO_8859_1);
        if (brand.equals("avif") || brand.equals("avis")) {
          return "AVIF";
        }
        heif |=
            List.of("heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1").contains(brand);
      }
      return heif ? "HEIC/HEIF" : null;
    }
    if (startsWith(b, 0, 0, 0, 0, 0x0C, 'j', 'P', ' ', ' ') || startsWith(b, 0, 0xFF, 0x4F, 0xFF)) {
      return "JPEG 2000";
    }
    if (startsWith(b, 0, 0xFF, 0x0A) || startsWith(b, 0, 0, 0, 0, 0x0C, 'J', 'X', 'L', ' ')) {
      return "JPEG XL";
    }
    if (startsWithAscii(b, 0, "8BPS")) {
      return "Photoshop (PSD)";
    }
    if (startsWithAscii(b, 0, "II+\0") || startsWithAscii(b, 0, "MM\0+")) {
      return "BigTIFF";
    }
    return null;
  }

  private static boolean isBmpInfoHeaderSize(long size) {
    return size == 12
        || size == 40
        || size == 52
        || size == 56
        || size == 64
        || size == 108
        || size == 124;
  }

  // ---------------------------------------------------------------- JPEG

  private static Image decodeJpeg(byte[] b, String name, long maxPixels) throws IOException {
    JpegMarkers.Header hdr = JpegMarkers.read(b, name);
    checkPixels(name, "JPEG", hdr.width(), hdr.height(), maxPixels);
    if (!JpegMarkers.hasEndOfImage(b, hdr.scanStart())) {
      throw new BadImageException(
          name,
          Reason.TRUNCATED,
          "JPEG stops before its end-of-image marker (" + b.length + " bytes)",
          "a complete JPEG ending in the marker FF D9; copy or download it again",
          null);
    }
    ImageReader reader = newReader(Format.JPEG);
    // libjpeg and the JDK report running out of data as warnings and fill the rest with gray;
    // without a listener such an image decodes "successfully".
    List<String> truncation = new ArrayList<>(1);
    reader.addIIOReadWarningListener(
        (source, warning) -> {
          if (isTruncationWarning(warning)) {
            truncation.add(warning);
          }
        });
    float[] rgb;
    try (ImageInputStream in = stream(b)) {
      reader.setInput(in, false, true);
      // readRaster asks libjpeg for no colour conversion: the raster holds the stored components,
      // upsampled. Converting them here follows libjpeg's (Pillow's) rule for which colour space
      // they are in, where the JDK's read() has its own, and has no CMYK image type; it also
      // skips the BGR image and getRGB() copies.
      Raster raster = reader.readRaster(0, null);
      rgb =
          switch (hdr.components()) {
            case 1 -> Rasters.componentsToRgb(raster, new int[] {0, 0, 0});
            case 3 ->
                hdr.isYcc()
                    ? Rasters.yccToRgb(raster)
                    : Rasters.componentsToRgb(raster, new int[] {0, 1, 2});
            default -> Rasters.cmykToRgb(raster, hdr.adobeTransform() >= 0, hdr.isYcc());
          };
    } catch (IOException | RuntimeException e) {
      throw decoderFailure(name, Format.JPEG, b.length, e);
    } finally {
      reader.dispose();
    }
    if (!truncation.isEmpty()) {
      throw new BadImageException(
          name,
          Reason.TRUNCATED,
          "JPEG image data ends early (decoder: " + String.join("; ", truncation) + ")",
          "a complete JPEG; copy or download it again",
          null);
    }
    return orient(hdr.height(), hdr.width(), rgb, hdr.orientation());
  }

  private static boolean isTruncationWarning(String warning) {
    String w = warning.toLowerCase(Locale.ROOT);
    return w.contains("premature end") || w.contains("missing eoi");
  }

  /**
   * The upright image for an EXIF orientation: each output pixel (y, x) reads the stored pixel
   * named in the TIFF/EXIF specification's table (2 mirrors, 3 turns 180 degrees, 6 turns 90
   * clockwise, 8 turns 90 counter-clockwise, 5 and 7 transpose across either diagonal).
   *
   * @param rgb stored pixels // [h, w, 3]
   */
  static Image orient(int h, int w, float[] rgb, int orientation) {
    if (orientation == 1) {
      return new Image(h, w, rgb);
    }
    boolean swap = orientation >= 5;
    int oh = swap ? w : h;
    int ow = swap ? h : w;
    float[] out = new float[rgb.length]; // [oh, ow, 3]
    for (int y = 0; y < oh; y++) {
      for (int x = 0; x < ow; x++) {
        int sy;
        int sx;
        switch (orientation) {
          case 2 -> {
            sy = y;
            sx = w - 1 - x;
          }
          case 3 -> {
            sy = h - 1 - y;
            sx = w - 1 - x;
          }
          case 4 -> {
            sy = h - 1 - y;
            sx = x;
          }
          case 5 -> {
            sy = x;
            sx = y;
          }
          case 6 -> {
            sy = h - 1 - x;
            sx = y;
          }
          case 7 -> {
            sy = h - 1 - x;
            sx = w - 1 - y;
          }
          case 8 -> {
            sy = x;
            sx = w - 1 - y;
          }
          default ->
              throw new IllegalArgumentException("EXIF orientation is 1-8, got " + orientation);
        }
        System.arraycopy(rgb, 3 * (sy * w + sx), out, 3 * (y * ow + x), 3);
      }
    }
    return new Image(oh, ow, out);
  }

  // ---------------------------------------------------------------- PNG, BMP, GIF, TIFF

  private static Image decodeWithImageIo(byte[] b, Format format, String name, long maxPixels)
      throws IOException {
    if (format == Format.PNG) {
      checkPngChunks(b, name);
    }
    if (format == Format.TIFF) {
      TiffStrips.check(b, name); // before the reader allocates what the strip sizes claim
    }
    // a 16-bit TIFF with the horizontal predictor, which the JDK reader refuses: see TiffPredictor
    byte[] unpredicted = format == Format.TIFF ? TiffPredictor.withoutPredictor(b, name) : null;
    ImageReader reader = newReader(format);
    try (ImageInputStream in = stream(unpredicted != null ? unpredicted : b)) {
      // Not seek-forward-only: a TIFF may store its pixels before the directory naming them.
      reader.setInput(in, false, true);
      int w = reader.getWidth(0);
      int h = reader.getHeight(0);
      checkPixels(name, format.name(), w, h, maxPixels);
      checkBytesPerPixel(name, format, reader);
      if (format == Format.BMP) {
        checkBmpLength(b, name);
      }
      BufferedImage img = reader.read(0);
      if (unpredicted != null) {
        TiffPredictor.undo(img.getRaster());
      }
      return new Image(img.getHeight(), img.getWidth(), Rasters.toRgb(img));
    } catch (BadImageException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw decoderFailure(name, format, b.length, e);
    } finally {
      reader.dispose();
    }
  }

  /** A reader's exception as TRUNCATED when it ran out of data, else CORRUPT. */
  private static BadImageException decoderFailure(
      String name, Format format, int size, Exception e) {
    if (hasCause(e, EOFException.class)) {
      return new BadImageException(
          name,
          Reason.TRUNCATED,
          format + " stops before its image data ends (" + size + " bytes)",
          "a complete " + format + "; copy or download it again",
          e);
    }
    String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    return new BadImageException(
        name, Reason.CORRUPT, format + " data is damaged: " + why, "a valid " + format, e);
  }

  /**
   * Walks the chunk lengths from IHDR to IEND without reading the data: a file cut anywhere before
   * IEND is TRUNCATED, whatever the reader would make of the rest.
   */
  static void checkPngChunks(byte[] b, String name) throws BadImageException {
    int p = 8;
    boolean first = true;
    while (true) {
      if (p + 8 > b.length) {
        throw pngTruncated(name, b.length, "before its IEND chunk");
      }
      long length = JpegMarkers.u32(b, p, false);
      String type = new String(b, p + 4, 4, StandardCharsets.ISO_8859_1);
      if (!type.chars().allMatch(c -> (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
        throw new BadImageException(
            name,
            Reason.CORRUPT,
            "PNG chunk at offset " + p + " has no valid type",
            "4 ASCII letters after each chunk length",
            null);
      }
      if (first && !type.equals("IHDR")) {
        throw new BadImageException(
            name, Reason.CORRUPT, "PNG starts with chunk " + type, "IHDR first", null);
      }
      first = false;
      long end = p + 12L + length; // length, type, data, CRC
      if (end > b.length) {
        throw pngTruncated(name, b.length, "inside its " + type + " chunk");
      }
      if (type.equals("IEND")) {
        return;
      }
      p = (int) end;
    }
  }

  /**
   * An uncompressed BMP must hold all its rows: the JDK's reader decodes one that lacks its last
   * bytes without a word, Pillow refuses it as truncated.
   */
  static void checkBmpLength(byte[] b, String name) throws BadImageException {
    if (b.length < 30) {
      throw new BadImageException(
          name,
          Reason.TRUNCATED,
          "BMP stops in its headers (" + b.length + " bytes)",
          "a complete BMP; copy or download it again",
          null);
    }
    long offset = le32(b, 10);
    boolean core = le32(b, 14) == 12; // OS/2 BITMAPCOREHEADER: 16-bit sizes, no compression
    long w = core ? JpegMarkers.u16(b, 18, true) : Math.abs((long) (int) le32(b, 18));
    long h = core ? JpegMarkers.u16(b, 20, true) : Math.abs((long) (int) le32(b, 22)); // negative: top-down
    int bits = JpegMarkers.u16(b, core ? 24 : 28, true);
    long compression = core || b.length < 34 ? 0 : le32(b, 30);
    if (compression != 0 && compression != 3 && compression != 6) {
      return; // RLE: the length depends on the data
    }
    long needed = offset + (bits * w + 31) / 32 * 4 * h; // rows padded to 4 bytes
    if (needed > b.length) {
      throw new BadImageException(
          name,
          Reason.TRUNCATED,
          "BMP stops before its pixel rows end (" + b.length + " of " + needed + " bytes)",
          "a complete BMP; copy or download it again",
          null);
    }
  }

  private static BadImageException pngTruncated(String name, int size, String where) {
    return new BadImageException(
        name,
        Reason.TRUNCATED,
        "PNG stops " + where + " (" + size + " bytes)",
        "a complete PNG ending in an IEND chunk; copy or download it again",
        null);
  }

  // ---------------------------------------------------------------- helpers

  /** Refuses an image over the pixel limit from its header, before any pixel is allocated. */
  private static void checkPixels(String name, String format, long w, long h, long maxPixels)
      throws BadImageException {
    if (w <= 0 || h <= 0) {
      throw new BadImageException(
          name,
          Reason.CORRUPT,
          format + " header gives the size " + w + " x " + h + " px",
          "a positive width and height",
          null);
    }
    long pixels = w * h;
    if (pixels > maxPixels) {
      throw new BadImageException(
          name,
          Reason.TOO_LARGE,
          String.format(
              Locale.ROOT,
              "%s of %d x %d px = %,d pixels is over the limit data.max_pixels = %,d",
              format,
              w,
              h,
              pixels,
              maxPixels),
          "at most " + maxPixels + " pixels; raise data.max_pixels to decode it",
          null);
    }
    if (3 * pixels > MAX_FLOATS) {
      throw new BadImageException(
          name,
          Reason.TOO_LARGE,
          String.format(Locale.ROOT, "%d x %d px does not fit one Java float array", w, h),
          "at most " + (MAX_FLOATS / 3) + " pixels",
          null);
    }
  }

  /**
   * Refuses an image whose decoded raster needs more than {@link #MAX_RASTER_BYTES_PER_PIXEL}
   * bytes a pixel, before the reader allocates it: the pixel limit alone does not bound the raster,
   * as a TIFF may claim, say, 1,024 samples per pixel.
   */
  private static void checkBytesPerPixel(String name, Format format, ImageReader reader)
      throws IOException {
    Iterator<ImageTypeSpecifier> types = reader.getImageTypes(0); // read(0) decodes into the first
    if (types == null || !types.hasNext()) {
      return; // the reader's read() then says what is wrong
    }
    SampleModel sm = types.next().getSampleModel(1, 1);
    long bytes = (long) sm.getNumDataElements() * DataBuffer.getDataTypeSize(sm.getDataType()) / 8;
    if (bytes > MAX_RASTER_BYTES_PER_PIXEL) {
      throw new BadImageException(
          name,
          Reason.UNSUPPORTED_FORMAT,
          format + " with " + sm.getNumBands() + " samples per pixel (" + bytes + " bytes a pixel)",
          "at most 4 samples (RGBA) of up to 32 bits",
          null);
    }
  }

  private static ImageReader newReader(Format format) throws IOException {
    return READERS.get(format).createReaderInstance();
  }

  private static ImageInputStream stream(byte[] b) {
    return new MemoryCacheImageInputStream(new ByteArrayInputStream(b));
  }

  /** The JDK's reader for {@code formatName}, else the first registered one. */
  private static ImageReaderSpi jdkReader(String formatName) {
    ImageReaderSpi fallback = null;
    Iterator<ImageReaderSpi> it =
        IIORegistry.getDefaultInstance().getServiceProviders(ImageReaderSpi.class, true);
    while (it.hasNext()) {
      ImageReaderSpi spi = it.next();
      if (Arrays.asList(spi.getFormatNames()).contains(formatName)) {
        if (spi.getClass().getName().startsWith("com.sun.imageio.")) {
          return spi;
        }
        if (fallback == null) {
          fallback = spi;
        }
      }
    }
    if (fallback == null) {
      throw new IllegalStateException("this JVM has no ImageIO reader for " + formatName);
    }
    return fallback;
  }

  private static boolean hasCause(Throwable e, Class<? extends Throwable> type) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (type.isInstance(t)) {
        return true;
      }
    }
    return false;
  }

  private static boolean startsWith(byte[] b, int at, int... sig) {
    if (at + sig.length > b.length) {
      return false;
    }
    for (int i = 0; i < sig.length; i++) {
      if ((b[at + i] & 0xFF) != sig[i]) {
        return false;
      }
    }
    return true;
  }

  private static boolean startsWithAscii(byte[] b, int at, String sig) {
    return startsWith(b, at, sig.chars().toArray());
  }

  /** True when all of {@code b} (shorter than sig) matches the start of sig. */
  private static boolean isPrefix(byte[] b, int... sig) {
    return b.length < sig.length && startsWith(b, 0, Arrays.copyOf(sig, b.length));
  }

  private static int be16(byte[] b, int at) {
    return ((b[at] & 0xFF) << 8) | (b[at + 1] & 0xFF);
  }

  private static long be32(byte[] b, int at) {
    return JpegMarkers.u32(b, at, false);
  }

  private static long le32(byte[] b, int at) {
    return JpegMarkers.u32(b, at, true);
  }
}
