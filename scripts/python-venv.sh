#!/usr/bin/env bash
# Creates (once) the Python environment the interop tests and src/python scripts use:
# TensorFlow (CPU) to load dino4j's SavedModels, PyTorch + transformers as independent ViT
# references, safetensors and numpy. Everything installs from pip's configured index (an offline
# wheel mirror on the project's machines). Prints the venv's python path on stdout.
#
#   scripts/python-venv.sh            -> .venv
#   DINO4J_VENV=/path scripts/python-venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${DINO4J_VENV:-.venv}
STAMP="$VENV/.dino4j-requirements"
REQS="tensorflow-cpu numpy safetensors torch transformers"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$REQS" ]; then
  python3 -m venv "$VENV" >&2
  # torchvision is never installed: the mirror's wheels are CUDA builds that fail against torch+cpu
  # --retries 0: an index that cannot be reached (no network) is skipped at once, not retried
  "$VENV/bin/pip" install --quiet --retries 0 $REQS >&2
  echo "$REQS" > "$STAMP"
fi
echo "$(cd "$VENV" && pwd)/bin/python"
