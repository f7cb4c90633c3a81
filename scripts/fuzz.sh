#!/usr/bin/env bash
# Coverage-guided fuzzing (Jazzer) of the readers of untrusted files, one target after another.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]        (what `make fuzz FUZZ_SECONDS=...` runs)
#
# Each target is a @FuzzTest in src/test/java/dev/dino4j/fuzz, run by surefire with JAZZER_FUZZ=1
# for SECONDS (default 60). libFuzzer first runs the target's committed inputs
# (src/test/resources/dev/dino4j/fuzz/<Class>Inputs/<method>/: seeds and earlier crash-* inputs),
# then mutates them. The fuzzing JVM has a 512 MB heap, so a reader that allocates what a header
# claims rather than what the file holds fails with OutOfMemoryError, a finding; so does one input
# that takes over 10 s (a hang). A finding is written next to the seeds as crash-<sha1> (rename it,
# commit it with the fix: it then runs as a regression input) and stops the script. The inputs
# found along the way go to .cifuzz-corpus/ (not committed); each target's log is
# target/fuzz/<Class>-<method>.log. One JVM at a time.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(
    ImageDecoderFuzzTest#decode
    SafetensorsReaderFuzzTest#open
    IdxDatasetFuzzTest#read
    Cifar10DatasetFuzzTest#open
    FileIndexFuzzTest#storedIndex
    ConfigLoaderFuzzTest#load
    CheckpointStateFuzzTest#stateJson
  )
fi
MVN_TEST=${MVN_TEST:-mvn -B -ntp -Dstyle.color=never}
mkdir -p target/fuzz

printf '%-36s %8s %12s  %s\n' target seconds executions result
for t in "${TARGETS[@]}"; do
  log="target/fuzz/${t/\#/-}.log"
  # jazzer.internal.arg.N are libFuzzer's arguments (0 is argv[0]); later ones win over
  # @FuzzTest's maxDuration and Jazzer's JUnit default -rss_limit_mb=0.
  start=$(date +%s)
  if JAZZER_FUZZ=1 $MVN_TEST test -Dtest="dev.dino4j.fuzz.$t" -Dtest.excludedGroups= -Dtest.groups=fuzz \
      -Dtest.argLine=-Xmx512m -Djazzer.instrumentation_includes="dev.dino4j.**:com.fasterxml.jackson.**:org.yaml.snakeyaml.**" \
      -Djazzer.internal.arg.0=fuzz \
      -Djazzer.internal.arg.1=-max_total_time="$SECONDS_EACH" -Djazzer.internal.arg.2=-rss_limit_mb=2048 \
      -Djazzer.internal.arg.3=-timeout=10 \
      >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log)"
  fi
  runs=$(grep -aoE 'Done [0-9]+ runs' "$log" | tail -1 | grep -oE '[0-9]+' || true)
  printf '%-36s %8s %12s  %s\n' "$t" "$(( $(date +%s) - start ))" "${runs:-?}" "$result"
  if [ "$result" != ok ]; then
    grep -aE "== Java Exception|FuzzTestFinding|Exception|Error" "$log" | head -5 >&2 || true
    exit 1
  fi
done
