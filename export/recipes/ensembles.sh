#!/usr/bin/env bash
# The ensemble candidates of docs/RESULTS.md ("Ensembles"): the mean of segmenter schedules 3, 4
# and 5 with the first Lite0 classifier (s3), and with the mean of classifiers A, B and C (s3c3),
# as fp32 bundles tuned and scored on val (their manifests' provenance.gate.fp32), their test
# reports, the s3 ensemble through int8-cpu, and its latency beside the shipped bundle.
#
# Usage: bash export/recipes/ensembles.sh [OUT]   (OUT default: runs/)
# Needs: the export extra, the BUSI dataset, and the checkpoints of first-default.sh,
# schedule4-pair.sh and shipped-default.sh in OUT; about 1.5 hours on 2 CPU cores.
set -euo pipefail
# shellcheck source=export/recipes/_common.sh
. "$(dirname "$0")/_common.sh"
for c in c d; do need "$OUT/seg_unet_lite0_$c/best.pt" schedule4-pair.sh; done
need "$OUT/seg_unet_lite0_g/best.pt" shipped-default.sh
need "$OUT/cls_lite0_f/best.pt" schedule4-pair.sh

SEGS=("$OUT/seg_unet_lite0_c/best.pt" "$OUT/seg_unet_lite0_d/best.pt" "$OUT/seg_unet_lite0_g/best.pt")
CLSS=("$OUT/cls_lite0/best.pt" "$OUT/cls_lite0_d/best.pt" "$OUT/cls_lite0_f/best.pt")
edge-sdk-export bundle --segmenter "${SEGS[@]}" --classifier "${CLSS[0]}" --target fp32 \
    --out "$OUT/bundles/ens3-fp32" --threads 1
edge-sdk-export bundle --segmenter "${SEGS[@]}" --classifier "${CLSS[@]}" --target fp32 \
    --out "$OUT/bundles/ens3c3-fp32" --threads 1
mkdir -p "$OUT/eval" "$OUT/bench"
for name in ens3-fp32 ens3c3-fp32; do
    edge-sdk eval --data "$DATA" --split test --bundle "$OUT/bundles/$name" --threads 1 \
        --no-progress --json "$OUT/eval/$name.test.json"
done
# the s3 ensemble through int8-cpu, its test report and its latency beside the shipped bundle
edge-sdk-export bundle --segmenter "${SEGS[@]}" --classifier "${CLSS[0]}" --target int8-cpu \
    --out "$OUT/bundles/ens3-int8-cpu" --threads 1
edge-sdk eval --data "$DATA" --split test --bundle "$OUT/bundles/ens3-int8-cpu" --threads 1 \
    --no-progress --json "$OUT/eval/ens3-int8-cpu.test.json"
edge-sdk bench --compare "onnxruntime-int8-cpu,onnxruntime-int8-cpu@ens3=$OUT/bundles/ens3-int8-cpu" \
    --frames 100 --warmup 10 --threads 1 --no-streaming --no-floor --json "$OUT/bench/ens3.json"
