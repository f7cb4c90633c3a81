#!/usr/bin/env bash
# Starts N dino4j workers on this machine (loopback ports), as `make train-local-cluster` and
# `make bench-local-cluster` do:
#
#   scripts/local-cluster.sh N train --config configs/fmnist-tiny.yaml ...
#   scripts/local-cluster.sh N bench --config configs/bench-a.yaml ...
#
# Writes a cluster file (workers localhost:PORT .. PORT+N-1; PORT from $CLUSTER_PORT, default
# 23456) to $CLUSTER_FILE (default: a temporary file), runs `bin/dino4j COMMAND ARGS --cluster
# FILE --task i` for i = 0..N-1, worker 0's output on this terminal, the others' in
# $CLUSTER_LOGS/worker-i.out (default runs/local-cluster). Ctrl-C stops every worker after the
# same step, and the chief writes the checkpoint (exit 130). If a worker fails, the others are
# stopped too; the exit code is the first failure's.
set -uo pipefail

n=${1:?usage: scripts/local-cluster.sh N COMMAND [ARGS...]}
shift
[ "$n" -ge 1 ] 2>/dev/null || { echo "local-cluster: N must be a positive integer, got '$n'" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port=${CLUSTER_PORT:-23456}
logs=${CLUSTER_LOGS:-runs/local-cluster}
mkdir -p "$logs"
file=${CLUSTER_FILE:-$(mktemp --suffix=.yaml)}
{
  echo "# $n local workers, written by scripts/local-cluster.sh"
  echo "workers:"
  for ((i = 0; i < n; i++)); do echo "  - localhost:$((port + i))"; done
  [ -n "${COLLECTIVE_TIMEOUT_S:-}" ] && echo "collective_timeout_s: $COLLECTIVE_TIMEOUT_S"
  [ -n "${STARTUP_TIMEOUT_S:-}" ] && echo "startup_timeout_s: $STARTUP_TIMEOUT_S"
} > "$file"

pids=()
for ((i = 1; i < n; i++)); do
  "$root/bin/dino4j" "$@" --cluster "$file" --task "$i" > "$logs/worker-$i.out" 2>&1 &
  pids+=($!)
  echo "local-cluster: worker $i of $n started (pid $!, output in $logs/worker-$i.out)" >&2
done
"$root/bin/dino4j" "$@" --cluster "$file" --task 0 &
pids=($! "${pids[@]}")

# Background jobs of a script ignore SIGINT, so Ctrl-C is passed on as SIGTERM: each worker's
# shutdown hook asks for a stop, the workers agree on the step, the chief writes a checkpoint.
# The first worker to fail stops the others (they would otherwise wait out their timeouts).
declare -A running
for p in "${pids[@]}"; do running[$p]=1; done
stop_all() { for p in "${!running[@]}"; do kill -TERM "$p" 2>/dev/null; done; }
trap 'echo "local-cluster: stopping all workers" >&2; stop_all' INT TERM
status=0
while [ "${#running[@]}" -gt 0 ]; do
  done=
  wait -n -p done "${!running[@]}"
  rc=$?
  if [ -z "${done:-}" ]; then
    [ "$rc" -eq 127 ] && break # no workers left
    continue                   # a signal interrupted the wait
  fi
  unset "running[$done]"
  case $rc in
    0) ;;
    130 | 143) [ "$status" -eq 0 ] && status=130 ;; # interrupted; checkpoint written
    *)
      if [ "$status" -eq 0 ] || [ "$status" -eq 130 ]; then
        status=$rc
        echo "local-cluster: a worker (pid $done) exited with $rc; stopping the others" >&2
        stop_all
      fi
      ;;
  esac
done
[ -z "${CLUSTER_FILE:-}" ] && rm -f "$file"
exit $status
