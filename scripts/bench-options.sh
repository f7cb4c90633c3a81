#!/usr/bin/env bash
# make bench-options: the training step's cost of each DINOv2 option (iBOT included) and of the conv stem on config A (configs/bench-a.yaml,
# fp32, synthetic views, model step only), against the DINO v1 step. The variants run in turn, each in
# its own process, ROUNDS times (alternating, so that a noisy neighbour hits them all alike); prints
# each variant's median images/s and its step-time ratio to the baseline.
#   BENCH_STEPS (default 20), BENCH_ROUNDS (default 3), BENCH_CONFIG (default configs/bench-a.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${BENCH_CONFIG:-configs/bench-a.yaml}
STEPS=${BENCH_STEPS:-20}
ROUNDS=${BENCH_ROUNDS:-3}
names=("DINO v1 (baseline)" "KoLeo (loss.koleo_weight 0.1)" "Sinkhorn-Knopp (loss.centering sinkhorn)"
  "4 registers (model.registers 4)" "LayerScale (model.layerscale_init 1e-5)" "all four"
  "iBOT (loss.ibot_weight 1)" "conv stem (model.stem conv)")
sets=("" "--set loss.koleo_weight=0.1" "--set loss.centering=sinkhorn" "--set model.registers=4"
  "--set model.layerscale_init=1e-5"
  "--set loss.koleo_weight=0.1 --set loss.centering=sinkhorn --set model.registers=4 --set model.layerscale_init=1e-5"
  "--set loss.ibot_weight=1.0" "--set model.stem=conv")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  for i in "${!names[@]}"; do
    # shellcheck disable=SC2086
    line=$(bin/dino4j bench --config "$CONFIG" --steps "$STEPS" --json ${sets[$i]} 2>/dev/null | tail -1)
    ips=$(printf '%s' "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')
    echo "$i $ips" >> "$out"
    printf 'round %d/%d  %-42s %8.1f img/s\n' "$r" "$ROUNDS" "${names[$i]}" "$ips" >&2
  done
done
python3 - "$out" "$CONFIG" "$STEPS" "$ROUNDS" "${names[@]}" <<'PY'
import statistics, sys
path, config, steps, rounds, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
runs = {}
for line in open(path):
    i, ips = line.split()
    runs.setdefault(int(i), []).append(float(ips))
base = statistics.median(runs[0])
print("training step per DINOv2 option: %s, fp32, %s steps x %s rounds (median)" % (config, steps, rounds))
print("| option | images/s | step time vs DINO v1 |")
print("|---|---|---|")
for i, name in enumerate(names):
    m = statistics.median(runs[i])
    print("| %s | %.1f | %.3f |" % (name, m, base / m))
PY
