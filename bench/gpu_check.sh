#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py) as one prepared command for a CUDA machine with no network:
# it installs the wheels carried beside the tree (`make gpu-wheels` fills build/gpu-wheels) for
# whatever is missing, then runs SFT and DPO steps within 8 minutes. Arguments go to the script.
#     bash bench/gpu_check.sh --out "$OUT"          # on the device
#     bash bench/gpu_check.sh --dry-run --out DIR   # anywhere: the CPU path of the same code
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=${GPU_WHEELS:-build/gpu-wheels}
if [ -d "$WHEELS" ]; then
  for module in trl datasets liger_kernel; do
    if ! "$PY" -c "import $module" 2>/dev/null; then
      "$PY" -m pip install -q --no-index --find-links "$WHEELS" "${module//_/-}" \
        || echo "gpu_check: $module could not be installed from $WHEELS (the report says what ran without it)"
    fi
  done
fi
exec timeout 480 "$PY" -m bench.gpu_check "$@"
