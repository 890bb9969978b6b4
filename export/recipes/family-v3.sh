#!/usr/bin/env bash
# Longer training of the shipped family's two nets (family-busi-busbra.sh): each continues from
# the shipped fp32 weights (the bundle's safetensors) on BUSI and BUS-BRA together for a new
# 8-epoch cosine schedule at half the first learning rate, then the family is rebuilt, evaluated
# on both val splits (the selection rule in docs/RESULTS.md) and both test splits.
#
# Usage: bash export/recipes/family-v3.sh [OUT]   (OUT default: runs/)
# Needs: the export extra, both datasets, and the family of 2026-12-01 as PARENT (default: the
# shipped bundle, edge_sdk/bundles/default, whose safetensors are that family's weights).
# Outcome on 2026-12-01 (docs/RESULTS.md, "Longer training"): the int8-cpu build failed its
# gate (val AUC 0.900 -> 0.885), so the family step stops with exit 3 and nothing was shipped;
# the fp32 reference stays in OUT/bundles/family-v3.work/int8-cpu.work/fp32-reference.
# SHIP=1 makes a built family the default.
set -euo pipefail
# shellcheck source=export/recipes/_common.sh
. "$(dirname "$0")/_common.sh"
need_busbra
PARENT="${PARENT:-$REPO/edge_sdk/bundles/default}"
THREADS="${THREADS:-1}"
BOTH=(--data "$DATA" --data "$BUSBRA")

edge-sdk-export train segmenter unet_lite0 "${BOTH[@]}" --out "$OUT/v3/seg" --epochs 8 \
    --lr 5e-4 --ema-decay 0.99 --patience 8 --threads "$THREADS" --resume \
    --init-from "$PARENT/segmenter.fp32.safetensors"
edge-sdk-export train classifier efficientnet_lite0 "${BOTH[@]}" --out "$OUT/v3/cls" \
    --epochs 8 --lr 5e-4 --ema-decay 0.99 --patience 8 --threads "$THREADS" --resume \
    --init-from "$PARENT/classifier.fp32.safetensors"
[ -f "$OUT/bundles/family-v3/manifest.json" ] ||
    edge-sdk-export family --segmenter "$OUT/v3/seg/best.pt" --classifier "$OUT/v3/cls/best.pt" \
        "${BOTH[@]}" --out "$OUT/bundles/family-v3" --threads "$THREADS" --no-tta \
        --name busi-busbra-two-stage --also int8-trt
mkdir -p "$OUT/eval"
for d in "$DATA" "$BUSBRA"; do
    name="$(basename "$d")"
    for split in val test; do
        edge-sdk eval --data "$d" --split "$split" --bundle "$OUT/bundles/family-v3" \
            --threads "$THREADS" --no-progress --json "$OUT/eval/family-v3.$name.$split.json"
    done
done
if [ "${SHIP:-0}" = 1 ]; then
    edge-sdk-export make-default "$OUT/bundles/family-v3"
fi
