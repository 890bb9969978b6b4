#!/usr/bin/env bash
# GPU check, under 8 minutes: the GPU tests (pytest -m gpu), the cuda-python buffer/stream code
# and the TensorRT review's findings 1, 3, 4, 5 and 8 (benchmarks/gpu_check.py), the torch
# backend on CUDA (fp32, fp16, CUDA graph), TensorRT where installed, and a short benchmark;
# prints a summary. Runs from a source checkout without installing the package (the lent GPU
# machines have PyTorch, CUDA, cuda-python, onnxruntime and OpenCV but no TensorRT and no
# network: the TensorRT-only checks then say "skipped: needs TensorRT").
#
#   bash benchmarks/gpu_check.sh [--bundle DIR]
#   bash benchmarks/gpu_check.sh --dry-run     # syntax, imports and the check list; no GPU
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
if [[ "${1:-}" == "--dry-run" ]]; then
  bash -n "$0" && echo "== bash -n: ok"
  "$PY" -m py_compile benchmarks/gpu_check.py && echo "== py_compile: ok"
  "$PY" -m pytest -m gpu --collect-only -q -p no:cacheprovider tests/backends | tail -1
  exec "$PY" benchmarks/gpu_check.py --dry-run
fi
echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || true
"$PY" - <<'PYEOF'
import importlib.metadata as m
for name in ("torch", "onnxruntime", "onnxruntime-gpu", "cuda-bindings", "cuda-python", "tensorrt", "numpy", "opencv-python-headless"):
    try: print(f"   {name} {m.version(name)}")
    except m.PackageNotFoundError: print(f"   {name} not installed")
from edge_sdk.tensorrt.cuda import cuda_problem
print(f"   cuda-python device 0: {cuda_problem(0) or 'usable'}")
PYEOF
echo "== pytest -m gpu"
timeout 300 "$PY" -m pytest -m gpu -q -rs -p no:cacheprovider tests/backends
tests_rc=$?
echo "== gpu_check.py"
timeout 240 "$PY" benchmarks/gpu_check.py "$@"
check_rc=$?
echo "gpu tests exit $tests_rc, checks exit $check_rc"
exit $(( tests_rc != 0 || check_rc != 0 ))
