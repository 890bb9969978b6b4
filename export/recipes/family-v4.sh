#!/usr/bin/env bash
# Two candidates built on the family of 2026-12-01 (family-busi-busbra.sh), judged by the rule in
# docs/RESULTS.md ("The peak gate and a classifier trained on the segmenter's crops"):
#   family-pk: the same two nets, post-processing re-tuned on val with the peak gate
#              (pipeline.min_lesion_peak) in the search;
#   family-v4: the same segmenter, and the classifier continued for 6 epochs on ground-truth
#              crops plus the crops the segmenter finds (--segmenter), tuned the same way.
# Each gets its val and test reports on both datasets, and its fp32 reference's.
#
# Usage: bash export/recipes/family-v4.sh [OUT]   (OUT default: runs/)
# Needs: the export extra, both datasets, and OUT/bundles/family-v2 from family-busi-busbra.sh
# (its safetensors are the weights of the family shipped on 2026-12-01). About 1 hour on 2
# CPU cores. SHIP=pk or SHIP=v4 makes that family the default.
set -euo pipefail
# shellcheck source=export/recipes/_common.sh
. "$(dirname "$0")/_common.sh"
need_busbra
PARENT="$OUT/bundles/family-v2"
need "$PARENT/manifest.json" family-busi-busbra.sh
BOTH=(--data "$DATA" --data "$BUSBRA")
# family NAME CLASSIFIER THREADS [TARGET]: the parent's segmenter with CLASSIFIER. THREADS is
# the one the measured build used: the int8 segmenter's calibration ranges (so its bytes, not
# its accuracy within the gate) depend on the thread count of the calibration runs.
family() {
    [ -f "$OUT/bundles/$1/manifest.json" ] ||
        edge-sdk-export family --segmenter "$PARENT/segmenter.fp32.safetensors" \
            --classifier "$2" "${BOTH[@]}" --out "$OUT/bundles/$1" --threads "$3" --no-tta \
            --name busi-busbra-two-stage --also ${4:+"$4"}
}

family family-pk "$PARENT/classifier.fp32.safetensors" 1
edge-sdk-export train classifier efficientnet_lite0 "${BOTH[@]}" --out "$OUT/v4/cls" \
    --epochs 6 --lr 3e-4 --ema-decay 0.99 --patience 6 --threads 1 --resume \
    --init-from "$PARENT/classifier.fp32.safetensors" \
    --segmenter "$PARENT/segmenter.fp32.safetensors"
family family-v4 "$OUT/v4/cls/best.pt" 2 int8-trt
mkdir -p "$OUT/eval"
evaluate() {  # evaluate NAME BUNDLE THREADS: val and test reports on both datasets
    for d in "$DATA" "$BUSBRA"; do
        for split in val test; do
            edge-sdk eval --data "$d" --split "$split" --bundle "$2" --threads "$3" \
                --no-progress --json "$OUT/eval/$1.$(basename "$d").$split.json"
        done
    done
}
for name in family-pk:1 family-v4:2; do
    threads="${name#*:}" name="${name%:*}"
    evaluate "$name" "$OUT/bundles/$name" "$threads"
    evaluate "$name-fp32" "$OUT/bundles/$name.work/int8-cpu.work/fp32-reference" "$threads"
done
edge-sdk-export member "$OUT/bundles/family-v4" --target int8-trt --out "$OUT/bundles/family-v4-int8-trt"
evaluate family-v4-int8-trt "$OUT/bundles/family-v4-int8-trt" 2
python benchmarks/dice_profile.py --bundle "$OUT/bundles/family-v4" --data "$DATA" --split test \
    --json "$OUT/eval/dice-profile.busi.test.json"
case "${SHIP:-0}" in
    pk|v4) edge-sdk-export make-default "$OUT/bundles/family-$SHIP" ;;
esac
