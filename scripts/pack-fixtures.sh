#!/usr/bin/env bash
# Rebuilds fixtures/versions.tar.xz (the conformance corpus the tests unpack) from a
# `versions/` folder. Every *.rdb must have its NAME.manifest.json or be listed in
# damaged-files.json. The archive is reproducible: sorted names, fixed owner and mtime.
#
# Usage: scripts/pack-fixtures.sh [DIR]   (DIR: a folder named versions; default
#        $RDBKIT_FIXTURES/versions, else ../shared/fixtures/versions beside the repository)
# To add a fixture: tar -xJf fixtures/versions.tar.xz -C /tmp, put FILE.rdb and
# FILE.manifest.json into /tmp/versions, then scripts/pack-fixtures.sh /tmp/versions.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
src="${1:-${RDBKIT_FIXTURES:-$root/../shared/fixtures}/versions}"
src=$(cd "$src" && pwd)
if [ "$(basename "$src")" != versions ]; then
    echo "pack-fixtures.sh: $src: the folder must be named versions (the tests look for versions/)" >&2
    exit 2
fi
command -v xz >/dev/null || { echo "pack-fixtures.sh: needs xz (apt-get install xz-utils)" >&2; exit 2; }

missing=0
for f in "$src"/*.rdb; do
    name=$(basename "$f" .rdb)
    if [ ! -f "$src/$name.manifest.json" ] && ! grep -q "\"$name.rdb\"" "$src/damaged-files.json" 2>/dev/null; then
        echo "pack-fixtures.sh: $name.rdb has no $name.manifest.json and is not in damaged-files.json" >&2
        missing=1
    fi
done
[ "$missing" = 0 ] || exit 1

out="$root/fixtures/versions.tar.xz"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
tar -C "$(dirname "$src")" --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime='2026-01-01 00:00:00Z' --exclude='__pycache__' -cf - versions | xz -9 -T1 >"$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "pack-fixtures.sh: $(find "$src" -type f | wc -l) files, $(du -sh "$src" | cut -f1) -> $out ($(stat -c %s "$out") bytes)" >&2
