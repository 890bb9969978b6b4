#!/usr/bin/env bash
# The model family shipped as the default since 2026-12-01: U-Net/EfficientNet-Lite0 segmenter
# and EfficientNet-Lite0 classifier trained on BUSI and BUS-BRA together (balanced per epoch,
# scanner augmentations, ImageNet init), one bundle for every target (int8-cpu files, int8-trt
# and fp32 ONNX, fp32 safetensors), then its test reports per dataset with ci95 intervals
# (docs/RESULTS.md, "Model family").
#
# Usage: bash export/recipes/family-busi-busbra.sh [OUT]   (OUT default: runs/)
# Needs: the export extra and both datasets (BUSI_DIR, BUSBRA_DIR; default ../shared/data/*).
# Training was sized to 2 shared CPU cores (about 2.5 hours there): the segmenter's EMA weights
# after a 6-epoch cosine schedule (the best val epoch), the classifier's after epoch STOP_CLS
# (default 4) of a 14-epoch one, where it was stopped for time; the learning rate of an epoch
# depends only on --epochs, so --stop-after reproduces the stopped run exactly. SHIP=1 copies
# the family into edge_sdk/bundles/default.
set -euo pipefail
# shellcheck source=export/recipes/_common.sh
. "$(dirname "$0")/_common.sh"
need_busbra
BOTH=(--data "$DATA" --data "$BUSBRA")

edge-sdk-export train segmenter unet_lite0 "${BOTH[@]}" --out "$OUT/v2/seg" --epochs 6 \
    --lr 1e-3 --ema-decay 0.99 --patience 6 --threads 1 --resume
edge-sdk-export train classifier efficientnet_lite0 "${BOTH[@]}" --out "$OUT/v2/cls" \
    --epochs 14 --lr 1e-3 --ema-decay 0.99 --patience 14 --threads 1 --resume \
    --stop-after "${STOP_CLS:-4}"
edge-sdk-export family --segmenter "$OUT/v2/seg/best.pt" --classifier "$OUT/v2/cls/best.pt" \
    "${BOTH[@]}" --out "$OUT/bundles/family-v2" --threads 2 --no-tta --name busi-busbra-two-stage \
    --also
# --also with no target: the int8-trt member (s8 Q/DQ segmenter, fp16 classifier) failed the
# val gate on BUSI AUC (0.9032 -> 0.8743), so the family carries the fp32 nets for TensorRT
# (fp16 engines) instead; `--also int8-trt` rebuilds it and keeps it in OUT/bundles/family-v2.work
mkdir -p "$OUT/eval"
for d in "$DATA" "$BUSBRA"; do
    name="$(basename "$d")"
    edge-sdk eval --data "$d" --split test --bundle "$OUT/bundles/family-v2" --threads 1 \
        --no-progress --json "$OUT/eval/family-v2.$name.test.json"
    edge-sdk eval --data "$d" --split test --bundle "$OUT/bundles/family-v2.work/int8-cpu.work/fp32-reference" \
        --threads 1 --no-progress --json "$OUT/eval/family-v2-fp32.$name.test.json"
done
if [ "${SHIP:-0}" = 1 ]; then
    edge-sdk-export make-default "$OUT/bundles/family-v2"
fi
