#!/usr/bin/env bash
# The shipped default: segmenter schedule 5 + the first Lite0 classifier (pair G), every target
# with its test-split reports, then the int8-cpu bundle as the current toolchain builds it
# (Q/DQ segmenter, fp32 classifier; digest ad93c9ac1ff5 when built at commit c42a18c, shipped at
# 0d99b5c) with its val and test reports and their ci95 intervals (docs/RESULTS.md, headline).
#
# Usage: bash export/recipes/shipped-default.sh [OUT]   (OUT default: runs/)
# Needs: the export extra, the BUSI dataset, and schedule4-pair.sh's segmenter schedule 4 (and
# first-default.sh's Lite0 classifier) in OUT; about 1 hour on 2 CPU cores. SHIP=1 also copies
# the rebuilt int8-cpu bundle into edge_sdk/bundles/default (edge-sdk-export make-default).
set -euo pipefail
# shellcheck source=export/recipes/_common.sh
. "$(dirname "$0")/_common.sh"
need "$OUT/seg_unet_lite0_d/best.pt" schedule4-pair.sh
need "$OUT/cls_lite0/best.pt" first-default.sh

edge-sdk-export train segmenter unet_lite0 --out "$OUT/seg_unet_lite0_g" \
    --init-from "$OUT/seg_unet_lite0_d/best.pt" --epochs 20 --patience 8 --lr 1.5e-4 \
    --ema-decay 0.995 --seed 1 --threads 2
SEG="$OUT/seg_unet_lite0_g/best.pt"
CLS="$OUT/cls_lite0/best.pt"
every_target "$SEG" "$CLS" lite0s3g
# the same pair through the current toolchain: the shipped bundle, with val and test reports
edge-sdk-export bundle --segmenter "$SEG" --classifier "$CLS" --target int8-cpu \
    --out "$OUT/bundles/lite0s3g-int8-cpu-s5" --threads 1
for s in test val; do
    edge-sdk eval --data "$DATA" --split "$s" --bundle "$OUT/bundles/lite0s3g-int8-cpu-s5" \
        --threads 1 --no-progress --json "$OUT/eval/lite0s3g-int8-cpu-s5.$s.json"
done
if [ "${SHIP:-0}" = 1 ]; then
    edge-sdk-export make-default "$OUT/bundles/lite0s3g-int8-cpu-s5"
fi
