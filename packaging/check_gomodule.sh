#!/usr/bin/env bash
# check_gomodule.sh WORKDIR: the Go module example as a user gets it. Its
# wheel is built (`pip wheel`, Go on PATH) in a venv holding only dist/'s
# pybuf wheel and setuptools, then installed with that pybuf wheel and NumPy
# into a brand-new venv on a PATH without `go`, where `python -m
# pybuf.gomodule gostats` (the self-check) and examples/gostats/usage.py must
# pass. Run by test_dist.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"
WORK=$1
WHEEL=$(dist_wheel native)

BUILD=$WORK/build-venv
new_venv "$BUILD"
venv_pip "$BUILD" install --only-binary=:all: "$WHEEL" "setuptools>=77" wheel
PATH="$BUILD/bin:$PATH" venv_pip "$BUILD" wheel --no-build-isolation --no-deps \
    -w "$WORK/wheels" "$ROOT/examples/gostats"
GOWHEEL=$(ls "$WORK/wheels"/gostats-*.whl)
echo "built $(basename "$GOWHEEL")"

RUN=$WORK/run-venv
new_venv "$RUN"
venv_pip "$RUN" install --only-binary=:all: "$WHEEL" "$GOWHEEL" "numpy>=2,<3"
export PATH="$RUN/bin:$(path_without_go)" PYTHONDONTWRITEBYTECODE=1
if command -v go >/dev/null; then
    echo "go is still on PATH: $(command -v go)"
    exit 1
fi
cd "$WORK"
python -m pybuf.gomodule gostats
python "$ROOT/examples/gostats/usage.py" >usage.log
grep -q "pinned after the last view: 0" usage.log
echo "self-check: gostats wheel ok without Go"
