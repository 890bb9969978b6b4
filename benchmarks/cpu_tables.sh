#!/usr/bin/env bash
# The CPU tables of docs/BENCHMARKS.md, each one interleaved run in one process.
#   bash benchmarks/cpu_tables.sh [OUT_DIR]
# Needs the toolchain's bundles (runs/bundles/<pair>-<target>, see docs/RESULTS.md) with torch
# programs in the fp32 bundles (python -m export.torch_program ...).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/bench}"
mkdir -p "$OUT"
for pair in lite0 paper; do
  [ -d "runs/bundles/$pair-fp32" ] || { echo "skip $pair: runs/bundles/$pair-fp32 is missing"; continue; }
  edge-sdk bench --bundles "runs/bundles/$pair-{target}" \
    --compare torch-fp32,onnxruntime-fp32,onnxruntime-int8-cpu,openvino,openvino-int8 \
    --frames 200 --warmup 20 --threads 2 \
    --json "$OUT/$pair.json" --markdown "$OUT/$pair.md" --plots "$OUT/$pair-plots"
done
