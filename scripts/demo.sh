#!/usr/bin/env bash
# make demo: the tiny Fashion-MNIST recipe, shortened to 4 epochs of 312 steps (about 10 minutes of
# training on a 2-core CPU), then everything a newcomer wants to look at, all in runs/demo/:
#   train.log, metrics.jsonl, report.png      the run and its curves (loss, entropy, KL, k-NN, schedules)
#   knn.txt                                   20-NN of the teacher vs raw pixels vs the same ViT at random init
#   curves.png                                in-training 20-NN against the step, raw pixels as a line
#   attention/NNN-<class>/summary.png         last-block CLS attention per head, overlay and mask, 4 test images
#   preview.png                               the multi-crop views the training saw
# Run again: a finished run is not retrained; the evaluation and pictures are made again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${DEMO_OUT:-runs/demo}
# DEMO_ARGS: extra --set overrides for the training run (the slow test shrinks the schedule with it)
read -r -a EXTRA <<< "${DEMO_ARGS:-}"
RECIPE=configs/fmnist-tiny.yaml
start=$(date +%s)
say() { printf '\n== demo: %s (%ds so far)\n' "$1" "$(( $(date +%s) - start ))"; }

say "training the tiny recipe for 4 epochs into $OUT"
# Same recipe, a shorter schedule: 1 warm-up epoch, prototypes kept fixed throughout (a short run
# gains nothing from training them: runs E/N, docs/tuning.md), a 20-NN check every epoch.
bin/dino4j train --config "$RECIPE" --output "$OUT" \
  --set train.epochs=4 --set optim.warmup_epochs=1 --set optim.freeze_last_layer=4 --set eval.knn_every=1 \
  ${EXTRA[@]+"${EXTRA[@]}"}

say "20-NN on the first 2k test images against the first 10k training images (the in-training protocol)"
bin/dino4j eval-benchmark "$OUT" --limit-train "${DEMO_BANK:-10000}" --limit-test "${DEMO_QUERIES:-2000}" --features-dir "$OUT/features" | tee "$OUT/knn.txt"
pixels=$(awk -F'|' '/raw pixels/ {gsub(/[ %]/, "", $4); print $4}' "$OUT/knn.txt")

say "learning curves"
bin/dino4j report "$OUT" --curves --baseline "raw pixels, same protocol=$pixels" --out "$OUT/curves.png"

say "attention maps of 4 test images"
bin/dino4j attention "$OUT" --test-images 4 --output "$OUT/attention"

say "augmentation preview"
bin/dino4j preview --config "$RECIPE" --images 4 --out "$OUT/preview.png"

say "done in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
cat <<MSG
Look at:
  $OUT/report.png       the run's curves          $OUT/curves.png   20-NN against the step
  $OUT/knn.txt          the 20-NN table           $OUT/attention/*/summary.png
  $OUT/preview.png      the augmented views
The full recipe (about 2 hours here): make train; the accuracy table: make accuracy.
MSG
