#!/usr/bin/env bash
# The end-to-end demo behind `make demo`: two versions of a price model and why they differ.
# Usage: demo.sh OUT_DIR [--no-explain]   (mlver and python must be on PATH; the Makefile
# sets that up). --no-explain stops before the replays of `mlver explain` (a quick look).
# tests/test_sample_project.py compares the docs' sample outputs with this output.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-demo-out}"
explain="${2:-}"
rm -rf "$out"
mkdir -p "$out"
cp "$here"/*.py "$here"/params.yaml "$here"/mlver.toml "$here"/.gitignore "$out"/
cd "$out"
# Show each command as it could be pasted (arguments quoted where needed), then run it.
say() {
    local shown="" a
    for a in "$@"; do
        if [[ "$a" =~ ^[A-Za-z0-9_./=:@,+-]+$ ]]; then shown+="$a "; else shown+="\"$a\" "; fi
    done
    printf '\n\033[1m$ %s\033[0m\n' "${shown% }"
    "$@"
}

git init -q
git config user.name >/dev/null || git config user.name "mlver demo"
git config user.email >/dev/null || git config user.email "demo@mlver.invalid"
git add -A && git commit -qm "price model: prepare and train stages"

echo "== Month 1: generate raw listings, prepare features, train =="
python generate_data.py --month 1
say mlver init
say mlver snapshot listings      # the raw data, as a dataset
say mlver run features          # command, inputs, outputs from [snapshot.features] in mlver.toml
say mlver run price-model

echo
echo "== Month 2 arrives; a param and the training code change =="
python generate_data.py --month 2
say mlver snapshot listings
sed -i.bak 's/^  n_estimators: 100 /  n_estimators: 200 /' params.yaml && rm params.yaml.bak
sed -i.bak 's/^EXCLUDE = {"listing_id", TARGET, "price_per_person"}/EXCLUDE = {"listing_id", TARGET, "price_per_person", "minimum_nights"}/' train.py && rm train.py.bak
git commit -qam "train: drop minimum_nights, a booking rule rather than a property of the listing"
say mlver run features
say mlver run price-model -m "month 2 data, 200 trees"

say mlver log price-model
say mlver lineage price-model
say mlver diff price-model@1 price-model@2
say mlver report price-model@1 price-model@2 -o report.html   # the same diff as one HTML page, with plots

echo
echo "== Get month 1's model back, beside the current one =="
say mlver checkout price-model@1 --outputs --to month1
say mlver verify                # every object re-hashed, every version complete

[[ "$explain" == "--no-explain" ]] && exit 0
echo
echo "== How much of each metric's change did each input cause? Replay the run to measure =="
say mlver explain price-model@1 price-model@2

echo
echo "== The whole story on one page: the diff, code hunks, metric history and the measured attribution =="
say mlver report price-model@1 price-model@2 --attribute -o report.html   # replays come from the cache
echo
echo "Open the report: $(pwd)/report.html"
