#!/usr/bin/env bash
# The first trained nets and the first shipped default (commit d87bced, digest cb22cd8f3284):
# U-Net/EfficientNet-Lite0 segmenter schedules 1-2, the Lite0, MobileNetV3-Small and
# EfficientNet-B0 classifiers, the paper's DeepLabV3+ ResNet34 segmenter, every bundle and the
# test-split reports of docs/RESULTS.md ("Previous defaults" and "The paper's nets").
#
# Usage: bash export/recipes/first-default.sh [OUT]   (OUT default: runs/)
# Needs: the export extra, the BUSI dataset ($BUSI_DIR, default ../shared/data/busi); about
# 3 hours on 2 CPU cores. SHIP=1 also copies the int8-cpu bundle into edge_sdk/bundles/default.
set -euo pipefail
# shellcheck source=export/recipes/_common.sh
. "$(dirname "$0")/_common.sh"

# segmenter: schedule 1 (24-epoch cosine, stopped after epoch 5), schedule 2 from its last epoch
edge-sdk-export train segmenter unet_lite0 --out "$OUT/seg_unet_lite0" --epochs 24 --patience 6 \
    --stop-after 5
edge-sdk-export train segmenter unet_lite0 --out "$OUT/seg_unet_lite0_b" \
    --init-from "$OUT/seg_unet_lite0/last.pt" --epochs 10 --patience 4 --lr 5e-4 --threads 1
SEG="$OUT/seg_unet_lite0_b/best.pt"
# classifiers on ground-truth + segmenter crops
edge-sdk-export train classifier efficientnet_lite0 --out "$OUT/cls_lite0" --epochs 12 --patience 4 \
    --segmenter "$SEG" --threads 1
edge-sdk-export train classifier mobilenetv3_small_100 --out "$OUT/cls_mnv3s" --epochs 15 \
    --patience 5 --lr 2e-3 --segmenter "$SEG" --threads 1
edge-sdk-export train classifier efficientnet_b0 --out "$OUT/cls_effb0" --epochs 15 --patience 5 \
    --lr 2e-3 --segmenter "$SEG" --threads 1
# bundles (256 calibration samples, the default then): int8-cpu chooses the post-processing on
# val, the other targets reuse it; test split: report only
every_target "$SEG" "$OUT/cls_lite0/best.pt" lite0 --calibration-frames 256
# the paper's classifiers with the same segmenter (their int8-cpu gates fail: exit 3)
for c in mnv3s effb0; do
    gate_may_fail edge-sdk-export bundle --segmenter "$SEG" --classifier "$OUT/cls_$c/best.pt" \
        --target int8-cpu --out "$OUT/bundles/$c-int8-cpu" --threads 1 --calibration-frames 256
    edge-sdk-export bundle --segmenter "$SEG" --classifier "$OUT/cls_$c/best.pt" --target fp32 \
        --out "$OUT/bundles/$c-fp32" --threads 1 --params-from "$OUT/bundles/$c-int8-cpu"
    for t in int8-cpu fp32; do
        edge-sdk eval --data "$DATA" --split test --bundle "$OUT/bundles/$c-$t" --threads 1 \
            --no-progress --json "$OUT/eval/$c-$t.test.json"
    done
done
# the paper's pair: DeepLabV3+ ResNet34 (from scratch, 8 epochs) + MobileNetV3-Small
edge-sdk-export train segmenter deeplabv3plus_resnet34 --out "$OUT/seg_dlv3p_r34" --epochs 8 \
    --patience 8
gate_may_fail edge-sdk-export bundle --segmenter "$OUT/seg_dlv3p_r34/best.pt" \
    --classifier "$OUT/cls_mnv3s/best.pt" --target int8-cpu --out "$OUT/bundles/r34mnv3-int8-cpu" \
    --threads 1 --calibration-frames 256
edge-sdk-export bundle --segmenter "$OUT/seg_dlv3p_r34/best.pt" --classifier "$OUT/cls_mnv3s/best.pt" \
    --target fp32 --out "$OUT/bundles/r34mnv3-fp32" --threads 1 \
    --params-from "$OUT/bundles/r34mnv3-int8-cpu"
for t in int8-cpu fp32; do
    edge-sdk eval --data "$DATA" --split test --bundle "$OUT/bundles/r34mnv3-$t" --threads 1 \
        --no-progress --json "$OUT/eval/r34mnv3-$t.test.json"
done
edge-sdk-export report "lite0-fp32=$OUT/eval/lite0-fp32.test.json" \
    "lite0-int8-cpu=$OUT/eval/lite0-int8-cpu.test.json" \
    "lite0-int8-trt=$OUT/eval/lite0-int8-trt.test.json" "lite0-fp16=$OUT/eval/lite0-fp16.test.json" \
    --bundles "$OUT"/bundles/lite0-*
if [ "${SHIP:-0}" = 1 ]; then
    edge-sdk-export make-default "$OUT/bundles/lite0-int8-cpu"
fi
