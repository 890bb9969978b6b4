#!/usr/bin/env bash
# The leave-one-dataset-out check and the adapt-to-your-scanner table (docs/RESULTS.md, "Model
# family"): the family recipe's nets and schedule trained on ONE dataset, judged on the other's
# val split; then the BUSI-only family fine-tuned on 20 and 50 BUS-BRA train patients
# (`edge-sdk-export subset`, then `finetune`), judged on both test splits before and after.
#
# Usage: bash export/recipes/lodo-finetune.sh [OUT]   (OUT default: runs/)
# Needs: the export extra and both datasets (BUSI_DIR, BUSBRA_DIR; default ../shared/data/*).
# Sized to 2 CPU cores shared with a second training job (about 2 hours there).
set -euo pipefail
# shellcheck source=export/recipes/_common.sh
. "$(dirname "$0")/_common.sh"
need_busbra
THREADS="${THREADS:-1}"
mkdir -p "$OUT/eval"

# one_dataset NAME DIR SEG_EPOCHS CLS_EPOCHS: both nets of the family recipe on DIR alone,
# as an fp32 family bundle OUT/bundles/lodo-NAME (post-processing tuned on DIR's val split).
# fp32: these tables measure what the nets learned, not a conversion (the BUSI-only int8
# segmenter failed its gate: val AUC 0.8705 -> 0.8327).
one_dataset() {
    local name="$1" dir="$2"
    edge-sdk-export train segmenter unet_lite0 --data "$dir" --out "$OUT/lodo/$name-seg" \
        --epochs "$3" --lr 1e-3 --ema-decay 0.99 --patience "$3" --threads "$THREADS" --resume
    edge-sdk-export train classifier efficientnet_lite0 --data "$dir" --out "$OUT/lodo/$name-cls" \
        --epochs "$4" --lr 1e-3 --ema-decay 0.99 --patience "$4" --threads "$THREADS" --resume
    [ -f "$OUT/bundles/lodo-$name/manifest.json" ] ||
        edge-sdk-export family --segmenter "$OUT/lodo/$name-seg/best.pt" \
            --classifier "$OUT/lodo/$name-cls/best.pt" --data "$dir" --out "$OUT/bundles/lodo-$name" \
            --threads "$THREADS" --no-tta --name "$name-two-stage" --target fp32 --also
}

# report BUNDLE DIR SPLIT LABEL: edge-sdk eval into OUT/eval/LABEL.json (skipped when present)
report() {
    [ -f "$OUT/eval/$4.json" ] ||
        edge-sdk eval --data "$2" --split "$3" --bundle "$1" --threads "$THREADS" --no-progress \
            --json "$OUT/eval/$4.json"
}

# BUSI alone: 8 segmenter epochs on its 546 train frames, 8 classifier epochs; judged on both
# val splits.
one_dataset busi "$DATA" 8 8
report "$OUT/bundles/lodo-busi" "$DATA" val lodo-busi.busi.val
report "$OUT/bundles/lodo-busi" "$BUSBRA" val lodo-busi.busbra.val

# Adapt to a scanner: the BUSI-only family, fine-tuned on N BUS-BRA train patients.
report "$OUT/bundles/lodo-busi" "$BUSBRA" test lodo-busi.busbra.test
report "$OUT/bundles/lodo-busi" "$DATA" test lodo-busi.busi.test
for n in 20 50; do
    [ -f "$OUT/data/busbra-$n/splits.csv" ] ||
        edge-sdk-export subset --data "$BUSBRA" --groups "$n" --seed 0 --out "$OUT/data/busbra-$n"
    [ -f "$OUT/bundles/ft-busbra-$n/manifest.json" ] ||
        edge-sdk-export finetune --from "$OUT/bundles/lodo-busi" --data "$OUT/data/busbra-$n" \
            --out "$OUT/bundles/ft-busbra-$n" --epochs 10 --threads "$THREADS"
    report "$OUT/bundles/ft-busbra-$n" "$BUSBRA" test "ft-busbra-$n.busbra.test"
    report "$OUT/bundles/ft-busbra-$n" "$DATA" test "ft-busbra-$n.busi.test"
done

# BUS-BRA alone: 4 segmenter epochs on its 1,312 train frames (about as many frames as the
# family's 6 balanced epochs of 1,094), 4 classifier epochs; judged on both val splits.
one_dataset busbra "$BUSBRA" 4 4
report "$OUT/bundles/lodo-busbra" "$BUSBRA" val lodo-busbra.busbra.val
report "$OUT/bundles/lodo-busbra" "$DATA" val lodo-busbra.busi.val

# The 20-patient set mixed with the parent's own data (BUSI, balanced per epoch; selection on
# both val splits): what a user does against forgetting.
[ -f "$OUT/bundles/ft-busbra-20-mix/manifest.json" ] ||
    edge-sdk-export finetune --from "$OUT/bundles/lodo-busi" --data "$OUT/data/busbra-20" \
        --data "$DATA" --out "$OUT/bundles/ft-busbra-20-mix" --epochs 10 --threads "$THREADS"
report "$OUT/bundles/ft-busbra-20-mix" "$BUSBRA" test ft-busbra-20-mix.busbra.test
report "$OUT/bundles/ft-busbra-20-mix" "$DATA" test ft-busbra-20-mix.busi.test
