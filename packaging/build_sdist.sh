#!/usr/bin/env bash
# make sdist: dist/pybuf_go-VERSION.tar.gz, with the Go modules vendored
# (setup.py's sdist command runs `go mod vendor` into it), so that it builds
# with Go and a C compiler but no network.
set -euo pipefail
source "$(dirname "$0")/common.sh"
tools_venv
cd "$ROOT"
mkdir -p "$DIST"
rm -f "$DIST/pybuf_go-$VERSION.tar.gz"
"$TOOLS/bin/python" -m build --sdist --no-isolation --outdir "$DIST" . >build/sdist.log 2>&1 ||
    { cat build/sdist.log; exit 1; }
echo "$DIST/pybuf_go-$VERSION.tar.gz"
