package dev.dino4j.config;

import java.util.Collection;
import java.util.Locale;
import java.util.Optional;

/** "Did you mean ...?" for misspelt keys and values: the closest candidate by edit distance. */
final class Spelling {
  private Spelling() {}

  /**
   * The candidate closest to {@code given}, if it is close enough to be a plausible typo: one is a
   * prefix of the other ("optimizer" for "optim"), or at most a third of the letters (and at least
   * 2) differ.
   */
  static Optional<String> closest(String given, Collection<String> candidates) {
    String lower = given.toLowerCase(Locale.ROOT);
    if (lower.length() >= 3) {
      for (String candidate : candidates) {
        String c = candidate.toLowerCase(Locale.ROOT);
        if (lower.startsWith(c) || c.startsWith(lower)) {
          return Optional.of(candidate);
        }
      }
    }
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String candidate : candidates) {
      int d = distance(lower, candidate.toLowerCase(Locale.ROOT));
      if (d < bestDistance) {
        best = candidate;
        bestDistance = d;
      }
    }
    int allowed = Math.max(2, given.length() / 3);
    return bestDistance <= allowed ? Optional.ofNullable(best) : Optional.empty();
  }

  /** Levenshtein distance: insertions, deletions and substitutions each cost 1. */
  static int distance(String a, String b) {
    int[] previous = new int[b.length() + 1];
    int[] current = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      previous[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      current[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int substitute = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        current[j] = Math.min(substitute, Math.min(previous[j], current[j - 1]) + 1);
      }
      int[] swap = previous;
      previous = current;
      current = swap;
    }
    return previous[b.length()];
  }
}
