#!/usr/bin/env bash
# Segmenter schedules 3 and 4, the two candidate classifiers B and C, the choice of the pair on
# val (fp32 bundles A, B, C), and pair A (schedule 4 + the first Lite0 classifier) for every
# target with its test-split reports: the default shipped at commit 7f6ff56 (docs/RESULTS.md,
# "Choosing the pair" and the schedule-4 pair table).
#
# Usage: bash export/recipes/schedule4-pair.sh [OUT]   (OUT default: runs/)
# Needs: the export extra, the BUSI dataset, and first-default.sh's segmenter schedule 2 and Lite0
# classifier in OUT; about 1.5 hours on 2 CPU cores. Pair A's int8 builds then calibrated with
# plain MinMax; today's toolchain uses a moving average (the int8 files differ; run the recipe
# at commit 7f6ff56 to rebuild them as shipped).
set -euo pipefail
# shellcheck source=export/recipes/_common.sh
. "$(dirname "$0")/_common.sh"
need "$OUT/seg_unet_lite0_b/best.pt" first-default.sh
need "$OUT/cls_lite0/best.pt" first-default.sh

edge-sdk-export train segmenter unet_lite0 --out "$OUT/seg_unet_lite0_c" \
    --init-from "$OUT/seg_unet_lite0_b/best.pt" --epochs 16 --patience 6 --lr 4e-4 --threads 2
edge-sdk-export train segmenter unet_lite0 --out "$OUT/seg_unet_lite0_d" \
    --init-from "$OUT/seg_unet_lite0_c/best.pt" --epochs 16 --patience 8 --lr 2e-4 \
    --ema-decay 0.99 --threads 2
SEG="$OUT/seg_unet_lite0_d/best.pt"
# candidate classifier B: Lite0 retrained on schedule 4's crops
edge-sdk-export train classifier efficientnet_lite0 --out "$OUT/cls_lite0_d" --epochs 15 \
    --patience 6 --lr 3e-4 --ema-decay 0.99 --segmenter "$SEG" --threads 2
# candidate classifier C: the first Lite0 classifier fine-tuned on those crops
edge-sdk-export train classifier efficientnet_lite0 --out "$OUT/cls_lite0_f" \
    --init-from "$OUT/cls_lite0/best.pt" --epochs 6 --patience 3 --lr 1e-4 --ema-decay 0.99 \
    --segmenter "$SEG" --threads 2
# choose the pair on val: fp32 bundles A, B and C, each tuned on val (provenance.gate.fp32)
for p in A:cls_lite0 B:cls_lite0_d C:cls_lite0_f; do
    edge-sdk-export bundle --segmenter "$SEG" --classifier "$OUT/${p#*:}/best.pt" --target fp32 \
        --out "$OUT/sel/${p%%:*}" --threads 1
done
# pair A for every target, then the test-split reports
every_target "$SEG" "$OUT/cls_lite0/best.pt" lite0s3
