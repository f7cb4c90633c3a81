package dev.dino4j.data;

import dev.dino4j.data.BadImageException.Reason;
import java.util.Locale;

/**
 * What ImageDecoder reads from a JPEG's marker segments itself, before and after libjpeg decodes
 * it: the frame size (for the pixel limit), the colour markers (JFIF, Adobe APP14) and component
 * ids that decide the colour conversion, the EXIF orientation, and whether the file reaches its
 * end-of-image marker. Only the segment headers are read, never the compressed data.
 */
final class JpegMarkers {

  private JpegMarkers() {}

  /**
   * What the decoder needs from the markers before the first scan.
   *
   * @param componentIds the frame's component identifiers, in order
   * @param jfif an APP0 JFIF marker is present
   * @param adobeTransform the Adobe APP14 colour transform (0 none/CMYK, 1 YCbCr, 2 YCCK), -1
   *     without that marker
   * @param orientation EXIF orientation 1-8, 1 without EXIF
   * @param scanStart offset of the first byte after the first SOS segment header
   */
  record Header(
      int width,
      int height,
      int[] componentIds,
      boolean jfif,
      int adobeTransform,
      int orientation,
      int scanStart) {

    int components() {
      return componentIds.length;
    }

    /**
     * libjpeg's colour space decision (jdapimin.c), which Pillow and TensorFlow inherit: 3
     * components are YCbCr unless an Adobe marker says transform 0 or, without JFIF and Adobe
     * markers, the component ids spell 'R', 'G', 'B'; 4 components are YCCK when an Adobe marker
     * says any transform but 0, else CMYK.
     */
    boolean isYcc() {
      if (components() == 4) {
        return adobeTransform > 0;
      }
      if (components() != 3 || jfif) {
        return components() == 3;
      }
      if (adobeTransform >= 0) {
        return adobeTransform != 0;
      }
      return !(componentIds[0] == 'R' && componentIds[1] == 'G' && componentIds[2] == 'B');
    }
  }

  /** Walks the marker segments up to the first scan: size, colour transform, orientation. */
  static Header read(byte[] b, String name) throws BadImageException {
    int width = -1;
    int height = -1;
    int[] componentIds = null;
    boolean jfif = false;
    int adobeTransform = -1;
    int orientation = 1;
    int p = 2; // after SOI
    while (true) {
      if (p >= b.length) {
        throw new BadImageException(
            name,
            Reason.TRUNCATED,
            "JPEG stops in its headers, before any image data (" + b.length + " bytes)",
            "a complete JPEG; copy or download it again",
            null);
      }
      if ((b[p] & 0xFF) != 0xFF) {
        // Stray bytes between segments: libjpeg skips them with a warning ("extraneous bytes
        // before marker"), and so Pillow and TensorFlow read such files.
        p++;
        continue;
      }
      while (p < b.length && (b[p] & 0xFF) == 0xFF) {
        p++; // fill bytes
      }
      if (p >= b.length) {
        continue; // reported as truncated above
      }
      int marker = b[p++] & 0xFF;
      if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
        continue; // no length field
      }
      if (marker == 0xD9) {
        throw new BadImageException(
            name,
            Reason.CORRUPT,
            "JPEG ends (marker FF D9) before any image data",
            "a JPEG with a frame and a scan",
            null);
      }
      if (p + 2 > b.length) {
        p = b.length;
        continue;
      }
      int segment = p + 2;
      int end = p + be16(b, p); // the length counts itself
      if (end < segment) {
        throw new BadImageException(
            name,
            Reason.CORRUPT,
            String.format(Locale.ROOT, "JPEG segment FF %02X at offset %d is too short", marker, p),
            "a segment length of at least 2",
            null);
      }
      if (end > b.length) {
        p = b.length; // the segment runs past the end of the file
        continue;
      }
      if (isStartOfFrame(marker)) {
        String process = unsupportedJpegProcess(marker);
        if (process != null) {
          throw new BadImageException(
              name,
              Reason.UNSUPPORTED_FORMAT,
              process + " JPEG, which the JDK's decoder cannot read",
              "a baseline or progressive JPEG (" + ImageDecoder.SUPPORTED + ")",
              null);
        }
        if (end - segment < 6) {
          throw new BadImageException(
              name, Reason.CORRUPT, "JPEG frame header is too short", "a valid JPEG", null);
        }
        int precision = b[segment] & 0xFF;
        if (precision != 8) {
          throw new BadImageException(
              name,
              Reason.UNSUPPORTED_FORMAT,
              precision + "-bit JPEG, which the JDK's decoder cannot read",
              "an 8-bit JPEG (" + ImageDecoder.SUPPORTED + ")",
              null);
        }
        height = be16(b, segment + 1);
        width = be16(b, segment + 3);
        componentIds = new int[b[segment + 5] & 0xFF];
        if (end - segment < 6 + 3 * componentIds.length) {
          throw new BadImageException(
              name, Reason.CORRUPT, "JPEG frame header is too short", "a valid JPEG", null);
        }
        for (int c = 0; c < componentIds.length; c++) {
          componentIds[c] = b[segment + 6 + 3 * c] & 0xFF;
        }
      } else if (marker == 0xE0 && end - segment >= 5 && startsWithAscii(b, segment, "JFIF\0")) {
        jfif = true;
      } else if (marker == 0xE1 && orientation == 1 && startsWithAscii(b, segment, "Exif\0\0")) {
        orientation = exifOrientation(b, segment + 6, end);
      } else if (marker == 0xEE && end - segment >= 12 && startsWithAscii(b, segment, "Adobe")) {
        adobeTransform = b[segment + 11] & 0xFF;
      } else if (marker == 0xDA) {
        if (componentIds == null) {
          throw new BadImageException(
              name,
              Reason.CORRUPT,
              "JPEG scan comes before its frame header",
              "a valid JPEG",
              null);
        }
        int components = componentIds.length;
        if (components != 1 && components != 3 && components != 4) {
          throw new BadImageException(
              name,
              Reason.UNSUPPORTED_FORMAT,
              "JPEG with " + components + " colour components",
              "1 (gray), 3 (YCbCr or RGB) or 4 (CMYK or YCCK)",
              null);
        }
        return new Header(width, height, componentIds, jfif, adobeTransform, orientation, end);
      }
      p = end;
    }
  }

  private static boolean isStartOfFrame(int marker) {
    // C4 (Huffman tables), C8 (reserved) and CC (arithmetic conditioning) share the range.
    return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
  }

  /** The JDK's libjpeg 6b reads SOF0-2 only. */
  private static String unsupportedJpegProcess(int sof) {
    return switch (sof) {
      case 0xC0, 0xC1, 0xC2 -> null;
      case 0xC3, 0xC7, 0xCB, 0xCF -> "lossless";
      case 0xC5, 0xC6, 0xCD, 0xCE -> "hierarchical";
      default -> "arithmetic-coded";
    };
  }

  /**
   * True when an end-of-image marker follows the scans starting at {@code from}. Entropy-coded data
   * escapes FF as FF 00 and only uses FF D0-D7 as restart markers, so any other FF xx is a marker;
   * segments between progressive scans are skipped by their length.
   */
  static boolean hasEndOfImage(byte[] b, int from) {
    int p = from;
    while (p + 1 < b.length) {
      if ((b[p] & 0xFF) != 0xFF) {
        p++;
        continue;
      }
      int next = b[p + 1] & 0xFF;
      if (next == 0x00 || next == 0x01 || next == 0xD8 || (next >= 0xD0 && next <= 0xD7)) {
        p += 2; // stuffed FF, or a marker without a length
      } else if (next == 0xFF) {
        p++; // fill byte
      } else if (next == 0xD9) {
        return true;
      } else if (p + 4 <= b.length) {
        p += 2 + be16(b, p + 2); // DHT, SOS, DQT, DRI, COM ... between or after scans
      } else {
        return false;
      }
    }
    return false;
  }

  /**
   * The orientation tag (0x0112) of IFD0 in the EXIF block {@code [tiff, end)}, 1 when absent or
   * malformed: a damaged EXIF block does not make the pixels wrong.
   */
  static int exifOrientation(byte[] b, int tiff, int end) {
    if (tiff + 8 > end) {
      return 1;
    }
    boolean little;
    if (startsWithAscii(b, tiff, "II")) {
      little = true;
    } else if (startsWithAscii(b, tiff, "MM")) {
      little = false;
    } else {
      return 1;
    }
    long ifd = tiff + u32(b, tiff + 4, little);
    if (ifd + 2 > end) {
      return 1;
    }
    int entries = u16(b, (int) ifd, little);
    for (int i = 0; i < entries; i++) {
      int e = (int) ifd + 2 + 12 * i;
      if (e + 12 > end) {
        return 1;
      }
      if (u16(b, e, little) == 0x0112) {
        // SHORT as the standard says (LONG from a few writers); either way left-justified in
        // the 4-byte value field.
        int type = u16(b, e + 2, little);
        long value = type == 3 ? u16(b, e + 8, little) : type == 4 ? u32(b, e + 8, little) : 0;
        return value >= 1 && value <= 8 ? (int) value : 1;
      }
    }
    return 1;
  }

  private static boolean startsWithAscii(byte[] b, int at, String sig) {
    if (at + sig.length() > b.length) {
      return false;
    }
    for (int i = 0; i < sig.length(); i++) {
      if ((b[at + i] & 0xFF) != sig.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  private static int be16(byte[] b, int at) {
    return ((b[at] & 0xFF) << 8) | (b[at + 1] & 0xFF);
  }

  /** Unsigned 16-bit read, big- or little-endian (also used by ImageDecoder). */
  static int u16(byte[] b, int at, boolean little) {
    int b0 = b[at] & 0xFF;
    int b1 = b[at + 1] & 0xFF;
    return little ? (b1 << 8) | b0 : (b0 << 8) | b1;
  }

  /** Unsigned 32-bit read, big- or little-endian (also used by ImageDecoder). */
  static long u32(byte[] b, int at, boolean little) {
    long hi = u16(b, little ? at + 2 : at, little);
    long lo = u16(b, little ? at : at + 2, little);
    return (hi << 16) | lo;
  }
}
