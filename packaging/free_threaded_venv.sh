#!/usr/bin/env bash
# Usage: packaging/free_threaded_venv.sh [--tsan] VENV
#
# A virtualenv on free-threaded CPython 3.13t (packaging/free_threaded_python.sh
# builds it once) with what the test suite needs and has a cp313t wheel: NumPy
# 2.3.5 (the newest release with one; 2.4 builds from source), pytest,
# Hypothesis (its newest sdist needs Rust: wheels only), setuptools and wheel.
# cffi, pyarrow, Dask and Ray have no cp313t wheel: the tests that need them are
# skipped by name on a free-threaded interpreter (tests_py/free_threaded.py).
# Made again only when the requirements below change; VENV/.deps says so.
# With --tsan, the same on the interpreter built with ThreadSanitizer
# (make test-tsan).
set -euo pipefail

VARIANT=()
if [[ ${1:-} == --tsan ]]; then
    VARIANT=(--tsan)
    shift
fi
VENV=${1:?usage: $0 [--tsan] VENV}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQS="numpy==2.3.5 pytest>=8 hypothesis>=6 setuptools>=68 wheel"
PIPQ=(--disable-pip-version-check -q)

PYTHON_FT=$("$ROOT/packaging/free_threaded_python.sh" "${VARIANT[@]}")
if [[ -x $VENV/bin/python && "$(cat "$VENV/.deps" 2>/dev/null)" == "$REQS" ]]; then
    touch "$VENV/.deps" # newer than requirements-dev.txt: make keeps it
    exit 0
fi
rm -rf "$VENV"
# The interpreter was built --without-ensurepip: pip comes from the host's pip
# (pip >= 22.3 installs into another interpreter with --python).
"$PYTHON_FT" -m venv --without-pip "$VENV"
"${HOST_PYTHON:-python3}" -m pip "${PIPQ[@]}" --python "$VENV/bin/python" install pip
# shellcheck disable=SC2086  # $REQS is a list of requirement words
"$VENV/bin/python" -m pip "${PIPQ[@]}" install --only-binary=:all: $REQS
echo "$REQS" >"$VENV/.deps"
