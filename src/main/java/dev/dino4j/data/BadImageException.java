package dev.dino4j.data;

import java.io.IOException;

/**
 * An image file that cannot be decoded, with the file and a machine-readable {@link Reason}, so a
 * loader can decide per reason (skip a truncated download, stop on an unreadable folder) and a user
 * reads what is wrong and what was expected: {@code "<file>: <what is wrong> (expected ...)"}.
 */
public final class BadImageException extends IOException {

  /** What is wrong with the file. */
  public enum Reason {
    /** Zero bytes. */
    EMPTY,
    /** The file stops before the image data ends (an interrupted download or copy). */
    TRUNCATED,
    /** A known format whose content is damaged or inconsistent. */
    CORRUPT,
    /** A real image in a format (or a variant of one) that is not decoded here, e.g. WebP. */
    UNSUPPORTED_FORMAT,
    /** More pixels than the configured limit ({@code data.max_pixels}). */
    TOO_LARGE,
    /** The file cannot be read at all: missing, a folder, no permission. */
    UNREADABLE,
    /** No known image signature: text, HTML, random bytes. */
    NOT_AN_IMAGE
  }

  private final String file;
  private final Reason reason;

  /**
   * @param file the file as the user named it, first in the message
   * @param reason the machine-readable reason
   * @param problem what is wrong, e.g. "JPEG stops before its end-of-image marker"
   * @param expected what a good file would be, e.g. "a complete JPEG"
   * @param cause the decoder's exception, or null
   */
  public BadImageException(
      String file, Reason reason, String problem, String expected, Throwable cause) {
    super(file + ": " + problem + " (expected " + expected + ")", cause);
    this.file = file;
    this.reason = reason;
  }

  /** The file as named in the message. */
  public String file() {
    return file;
  }

  /** What is wrong, for code that treats reasons differently. */
  public Reason reason() {
    return reason;
  }
}
