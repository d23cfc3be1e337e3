#!/usr/bin/env bash
# Builds the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from the
# fixtures: whole files for `records`, and values, DUMP payloads and container blobs
# cut out of them for the other targets (see examples/seeds.rs).
#
# Usage: fuzz/seed-corpus.sh   (versions: $RDBKIT_FIXTURES/versions, else
#        fixtures/versions.tar.xz unpacked into fuzz/target/corpus-versions; peers:
#        $RDBKIT_PEERS, else ../shared/fixtures/peers, used when present)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
if [ -n "${RDBKIT_FIXTURES:-}" ]; then
    versions="$RDBKIT_FIXTURES/versions"
else
    unpacked="$here/target/corpus-versions"
    rm -rf "$unpacked" && mkdir -p "$unpacked"
    tar -xJf "$root/fixtures/versions.tar.xz" -C "$unpacked"
    versions="$unpacked/versions"
fi
peers="${RDBKIT_PEERS:-${RDBKIT_FIXTURES:-$root/../shared/fixtures}/peers}"
if [ ! -d "$versions" ]; then
    echo "seed-corpus.sh: no fixtures at $versions (unset RDBKIT_FIXTURES to use fixtures/versions.tar.xz)" >&2
    exit 1
fi
mapfile -d '' files < <(
    find "$versions" -maxdepth 1 -name '*.rdb' -print0
    find "$peers" -name '*.rdb' -print0 2>/dev/null
)
echo "seed-corpus.sh: ${#files[@]} RDB files from $versions and $peers" >&2
cd "$here"
# A plain (non-instrumented) build of the example; it lands in fuzz/target/release,
# beside but separate from cargo fuzz's instrumented fuzz/target/<triple>/.
cargo run --quiet --release --example seeds -- "$here/corpus" "${files[@]}"
for t in records value dump_payload containers; do
    printf '%-13s %5d files\n' "$t" "$(find "$here/corpus/$t" -type f 2>/dev/null | wc -l)" >&2
done
