#!/usr/bin/env bash
# make test-dist: the built wheel and sdist (dist/, from build_wheel.sh) in
# brand-new virtualenvs, all at once (each case logs to its own file):
#   wheel-numpy2    no Go on PATH, NumPy 2.x: self-check, demo, pytest subset
#   wheel-numpy126  no Go on PATH, NumPy 1.26.4 (the last 1.x): the same; only
#                   for CPython <= 3.12, the last one NumPy 1.26 has wheels for
#   wheel-nonumpy   no Go on PATH, no NumPy: self-check, memoryview/ctypes tests
#   sdist           Go present, no network for Go: builds, then self-check
#   gomodule        examples/gostats: wheel built against dist/'s wheel, run without Go
# pip's cache is shared, so after the first run nothing is downloaded again.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh"
tools_venv
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pybuf-dist.XXXXXX")
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

declare -A cases=(
    [wheel-numpy2]="$HERE/check_wheel.sh $WORK/wheel-numpy2 numpy>=2,<3"
    [wheel-nonumpy]="$HERE/check_wheel.sh $WORK/wheel-nonumpy none"
    [sdist]="$HERE/check_sdist.sh $WORK/sdist"
    [gomodule]="$HERE/check_gomodule.sh $WORK/gomodule"
)
order=(wheel-numpy2 wheel-nonumpy sdist gomodule)
if "$PYTHON" -c 'import sys; sys.exit(sys.version_info >= (3, 13))'; then
    cases[wheel-numpy126]="$HERE/check_wheel.sh $WORK/wheel-numpy126 numpy==1.26.4"
    order=(wheel-numpy2 wheel-numpy126 wheel-nonumpy sdist gomodule)
else
    echo "test-dist: wheel-numpy126 not run: NumPy 1.26 has no wheels for $PYTAG"
fi
declare -A pids
start=$SECONDS
for name in "${!cases[@]}"; do
    mkdir -p "$WORK/$name"
    # shellcheck disable=SC2086  # each case is a command line of plain words
    (
        s=$SECONDS rc=0
        ${cases[$name]} >"$WORK/$name.log" 2>&1 || rc=$?
        echo "$rc $((SECONDS - s))" >"$WORK/$name.rc"
    ) &
    pids[$name]=$!
done
failed=0
for name in "${order[@]}"; do
    wait "${pids[$name]}" || true
    read -r rc took <"$WORK/$name.rc"
    if [[ $rc == 0 ]]; then
        echo "test-dist: $name ok (${took}s): $(grep -E '^(numpy |self-check:)| passed' "$WORK/$name.log" | tr '\n' ' ')"
    else
        failed=1
        echo "test-dist: $name FAILED (rc $rc, ${took}s); its log:"
        sed 's/^/    /' "$WORK/$name.log"
    fi
done
echo "test-dist: $((SECONDS - start))s in all"
exit $failed
