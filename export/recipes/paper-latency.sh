#!/usr/bin/env bash
# Latency bundles of the paper's architectures (DeepLabV3+ ResNet34 + MobileNetV3-Small) for
# every target, trained for one epoch from scratch: enough for latency (compute does not depend
# on the weights' values), not for accuracy, so their gate runs with --max-drop 1.0; then the
# benchmark of docs/BENCHMARKS.md ("The paper's nets").
#
# Usage: bash export/recipes/paper-latency.sh [OUT]   (OUT default: runs/)
# Needs: the export extra, the bench extra (OpenVINO), the BUSI dataset; about 1 hour on 2 CPU
# cores. Benchmark numbers depend on the machine and on other jobs running on it.
set -euo pipefail
# shellcheck source=export/recipes/_common.sh
. "$(dirname "$0")/_common.sh"

edge-sdk-export train segmenter deeplabv3plus_resnet34 --out "$OUT/seg_r34_1ep" --epochs 1 \
    --patience 1
edge-sdk-export train classifier mobilenetv3_small_100 --out "$OUT/cls_mnv3s_1ep" --epochs 1 \
    --patience 1 --segmenter "$OUT/seg_r34_1ep/best.pt"
edge-sdk-export bundle --segmenter "$OUT/seg_r34_1ep/best.pt" --classifier "$OUT/cls_mnv3s_1ep/best.pt" \
    --target int8-cpu --out "$OUT/bundles/paper-int8-cpu" --threads 1 --max-drop 1.0
for t in fp32 int8-trt fp16; do
    edge-sdk-export bundle --segmenter "$OUT/seg_r34_1ep/best.pt" \
        --classifier "$OUT/cls_mnv3s_1ep/best.pt" --target "$t" --out "$OUT/bundles/paper-$t" \
        --threads 1 --max-drop 1.0 --params-from "$OUT/bundles/paper-int8-cpu"
done
python -m export.torch_program --bundle "$OUT/bundles/paper-fp32" \
    --segmenter "$OUT/seg_r34_1ep/best.pt" --classifier "$OUT/cls_mnv3s_1ep/best.pt"
mkdir -p "$OUT/bench"
edge-sdk bench --bundles "$OUT/bundles/paper-{target}" \
    --compare torch-fp32,onnxruntime-fp32,onnxruntime-int8-cpu,onnxruntime-int8-trt,onnxruntime-fp16,openvino,openvino-fp32,openvino-int8 \
    --frames 100 --warmup 10 --threads 1 --json "$OUT/bench/paper.json" \
    --markdown "$OUT/bench/paper.md"
