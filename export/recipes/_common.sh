# Sourced by the recipes in this folder: where the runs go, where the data is, and two helpers.
# OUT (the recipe's first argument, default runs/ in the repository) holds every checkpoint,
# bundle and report a recipe writes; nothing else is written, except the shipped default when
# SHIP=1 is set.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$(realpath -m "${1:-$REPO/runs}")"
export BUSI_DIR="${BUSI_DIR:-$REPO/../shared/data/busi}"
DATA="$BUSI_DIR"
cd "$REPO"
mkdir -p "$OUT"
if [ ! -f "$DATA/splits.csv" ]; then
    echo "recipe: no BUSI dataset at $DATA (labels.csv, splits.csv, images/, masks/)." \
         "Fix: set BUSI_DIR to the dataset folder" >&2
    exit 1
fi
command -v edge-sdk-export >/dev/null || {
    echo "recipe: edge-sdk-export not found. Fix: pip install -e '.[export]'" >&2; exit 1; }

# need FILE RECIPE: stop unless an earlier recipe's output exists.
need() {
    [ -e "$1" ] || { echo "recipe: $1 is missing. Fix: bash export/recipes/$2 $OUT first" >&2; exit 1; }
}

# gate_may_fail CMD...: a bundle build whose accuracy gate fails exits 3 and keeps the bundle;
# the recipes that document such a failure carry on, any other error stops them.
gate_may_fail() {
    local status=0
    "$@" || status=$?
    if [ "$status" = 3 ]; then
        echo "recipe: gate failed (exit 3), as documented; the bundle is kept" >&2
    elif [ "$status" != 0 ]; then
        exit "$status"
    fi
}

# every_target SEG CLS NAME [BUNDLE OPTIONS...]: the pair's int8-cpu bundle (post-processing
# chosen on val), the fp32, int8-trt and fp16 bundles with the same parameters, and each one's
# test-split report, as OUT/bundles/NAME-<target> and OUT/eval/NAME-<target>.test.json.
every_target() {
    local seg="$1" cls="$2" name="$3"
    shift 3
    edge-sdk-export bundle --segmenter "$seg" --classifier "$cls" --target int8-cpu \
        --out "$OUT/bundles/$name-int8-cpu" --threads 1 "$@"
    for t in fp32 int8-trt fp16; do
        edge-sdk-export bundle --segmenter "$seg" --classifier "$cls" --target "$t" \
            --out "$OUT/bundles/$name-$t" --threads 1 "$@" \
            --params-from "$OUT/bundles/$name-int8-cpu"
    done
    mkdir -p "$OUT/eval"
    for t in int8-cpu fp32 int8-trt fp16; do
        edge-sdk eval --data "$DATA" --split test --bundle "$OUT/bundles/$name-$t" --threads 1 \
            --no-progress --json "$OUT/eval/$name-$t.test.json"
    done
}

# BUSBRA: the BUS-BRA dataset (BUSBRA_DIR, default ../shared/data/busbra), for the recipes
# that train or judge on it; call need_busbra before using it.
BUSBRA="${BUSBRA_DIR:-$REPO/../shared/data/busbra}"
need_busbra() {
    [ -f "$BUSBRA/splits.csv" ] || {
        echo "recipe: no BUS-BRA dataset at $BUSBRA. Fix: set BUSBRA_DIR" >&2; exit 1; }
}
