#!/usr/bin/env bash
# check_sdist.sh WORKDIR: builds dist/'s sdist in a brand-new virtualenv the way
# `pip install pybuf-go-VERSION.tar.gz` does (build isolation, Go on PATH),
# with Go cut off from the network and from any module cache, so that only
# the vendored modules can satisfy the build; then `python -m pybuf`.
set -euo pipefail
source "$(dirname "$0")/common.sh"
WORK=$1
SDIST=$DIST/pybuf_go-$VERSION.tar.gz
VENV=$WORK/venv

new_venv "$VENV"
# GOPROXY=off and an empty module cache: a build that needed a module download fails.
GOPROXY=off GOMODCACHE=$WORK/empty-gomodcache GOTOOLCHAIN=local GOFLAGS="-mod=vendor" \
    venv_pip "$VENV" install "$SDIST"

cd "$WORK"
PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -m pybuf
