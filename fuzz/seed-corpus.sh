#!/usr/bin/env bash
# Builds the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from the
# shared fixtures: whole files for `records`, and values, DUMP payloads and
# container blobs cut out of them for the other targets (see examples/seeds.rs).
#
# Usage: fuzz/seed-corpus.sh            (fixtures: $RDBKIT_FIXTURES, else ../shared/fixtures
#                                         next to the repository root)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
fixtures="${RDBKIT_FIXTURES:-$root/../shared/fixtures}"
if [ ! -d "$fixtures/versions" ]; then
    echo "seed-corpus.sh: no fixtures at $fixtures (set RDBKIT_FIXTURES)" >&2
    exit 1
fi
mapfile -d '' files < <(
    find "$fixtures/versions" -maxdepth 1 -name '*.rdb' -print0
    find "$fixtures/peers" -name '*.rdb' -print0 2>/dev/null
)
echo "seed-corpus.sh: ${#files[@]} RDB files under $fixtures" >&2
cd "$here"
# A plain (non-instrumented) build of the example; it lands in fuzz/target/release,
# beside but separate from cargo fuzz's instrumented fuzz/target/<triple>/.
cargo run --quiet --release --example seeds -- "$here/corpus" "${files[@]}"
for t in records value dump_payload containers; do
    printf '%-13s %5d files\n' "$t" "$(find "$here/corpus/$t" -type f 2>/dev/null | wc -l)" >&2
done
