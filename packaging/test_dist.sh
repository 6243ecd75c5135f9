#!/usr/bin/env bash
# make test-dist: the built wheel and sdist (dist/, from build_wheel.sh) in
# brand-new virtualenvs, all at once (each case logs to its own file):
#   wheel-numpy2    no Go on PATH, NumPy 2.x: self-check, demo, pytest subset
#   wheel-numpy126  no Go on PATH, NumPy 1.26.4 (the last 1.x): the same; only
#                   for CPython <= 3.12, the last one NumPy 1.26 has wheels for
#   wheel-nonumpy   no Go on PATH, no NumPy: self-check, memoryview/ctypes tests
#   sdist           Go present, no network for Go: builds, then self-check
#   gomodule        examples/gostats: wheel built against dist/'s wheel, run without Go
#   wheel2014-*     the three wheel cases again with the manylinux2014_x86_64 wheel
#                   (build_cross_wheel.sh: zig, glibc 2.17)
#   wheel2014-ft    the cp313t manylinux2014_x86_64 wheel on free-threaded CPython
#                   3.13t, NumPy 2.3.5, no Go, PYTHON_GIL unset: the GIL stays off,
#                   self-check, NumPy views on two threads (check_ft_wheel.sh)
# pip's cache is shared, so after the first run nothing is downloaded again.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh"
tools_venv
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pybuf-dist.XXXXXX")
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

declare -A cases=(
    [sdist]="$HERE/check_sdist.sh $WORK/sdist"
    [gomodule]="$HERE/check_gomodule.sh $WORK/gomodule"
    [wheel2014-ft]="$HERE/check_ft_wheel.sh $WORK/wheel2014-ft"
)
order=()
numpy126=1
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info >= (3, 13))'; then
    numpy126=0
    echo "test-dist: wheel-numpy126 not run: NumPy 1.26 has no wheels for $PYTAG"
fi
for kind in native manylinux2014_x86_64; do
    prefix=wheel
    [[ $kind == native ]] || prefix=wheel2014
    cases[$prefix-numpy2]="$HERE/check_wheel.sh $WORK/$prefix-numpy2 numpy>=2,<3 $kind"
    order+=("$prefix-numpy2")
    if [[ $numpy126 == 1 ]]; then
        cases[$prefix-numpy126]="$HERE/check_wheel.sh $WORK/$prefix-numpy126 numpy==1.26.4 $kind"
        order+=("$prefix-numpy126")
    fi
    cases[$prefix-nonumpy]="$HERE/check_wheel.sh $WORK/$prefix-nonumpy none $kind"
    order+=("$prefix-nonumpy")
done
order+=(wheel2014-ft sdist gomodule)
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
        echo "test-dist: $name ok (${took}s): $(grep -E '^(numpy |self-check:|free-threaded use:)| passed|GIL +off' "$WORK/$name.log" | tr '\n' ' ')"
    else
        failed=1
        echo "test-dist: $name FAILED (rc $rc, ${took}s); its log:"
        sed 's/^/    /' "$WORK/$name.log"
    fi
done
echo "test-dist: $((SECONDS - start))s in all"
exit $failed
