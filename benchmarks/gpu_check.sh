#!/usr/bin/env bash
# GPU check, under 8 minutes: the GPU tests (pytest -m gpu), the cuda-python buffer/stream code,
# the torch backend on CUDA (fp32, fp16, CUDA graph), TensorRT where installed, and a short
# benchmark; prints a summary. Runs from a source checkout without installing the package
# (the lent GPU machines have PyTorch, cuda-python, onnxruntime and OpenCV but no network).
#
#   bash benchmarks/gpu_check.sh [--bundle DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || true
"$PY" - <<'PYEOF'
import importlib.metadata as m
for name in ("torch", "onnxruntime", "onnxruntime-gpu", "cuda-bindings", "cuda-python", "tensorrt", "numpy", "opencv-python-headless"):
    try: print(f"   {name} {m.version(name)}")
    except m.PackageNotFoundError: print(f"   {name} not installed")
PYEOF
echo "== pytest -m gpu"
timeout 300 "$PY" -m pytest -m gpu -q -rs -p no:cacheprovider tests/backends
tests_rc=$?
echo "== gpu_check.py"
timeout 240 "$PY" benchmarks/gpu_check.py "$@"
check_rc=$?
echo "gpu tests exit $tests_rc, checks exit $check_rc"
exit $(( tests_rc != 0 || check_rc != 0 ))
