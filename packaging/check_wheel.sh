#!/usr/bin/env bash
# check_wheel.sh WORKDIR NUMPY [KIND]: installs dist/'s wheel (KIND: "native",
# the default, or manylinux2014_x86_64; common.sh's dist_wheel) into a brand-new
# virtualenv on a PATH without `go`, with NUMPY ("numpy>=2,<3", "numpy==1.26.4"
# or "none"), and checks it there: it imports from the venv with the version
# of version.go, `python -m pybuf` passes, and a pytest subset passes (plus the
# demo when NumPy is there). Run by test_dist.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"
WORK=$1 NUMPY=$2 KIND=${3:-native}
WHEEL=$(dist_wheel "$KIND")
VENV=$WORK/venv

new_venv "$VENV"
reqs=("$WHEEL" "pytest>=8")
[[ $NUMPY != none ]] && reqs+=("$NUMPY")
venv_pip "$VENV" install --only-binary=:all: "${reqs[@]}"

export PATH="$VENV/bin:$(path_without_go)" PYTHONDONTWRITEBYTECODE=1
if command -v go >/dev/null; then
    echo "go is still on PATH: $(command -v go)"
    exit 1
fi
cd "$WORK" # not the repository: `import pybuf` must find the installed package
python - "$VERSION" "$VENV" "$NUMPY" <<'PY'
import importlib.metadata, os, sys
import pybuf
version, venv, numpy = sys.argv[1:]
assert os.path.realpath(pybuf.__file__).startswith(os.path.realpath(venv) + os.sep), pybuf.__file__
assert pybuf.__version__ == importlib.metadata.version("pybuf-go") == version, pybuf.__version__
# the shim's assert()s are for the test build only (cshim/release.c)
assert pybuf._pybuf._core_info()["asserts"] is False, "wheel built without NDEBUG"
try:
    import numpy as np
except ImportError:
    assert numpy == "none", "NumPy missing"
else:
    assert numpy != "none", "NumPy present in the no-NumPy venv"
    print("numpy", np.__version__)
PY
python -m pybuf
T=$ROOT/tests_py
if [[ $NUMPY == none ]]; then
    tests=("$T/test_no_numpy.py" "$T/test_selfcheck.py")
else
    python "$ROOT/examples/seed_demo.py" >demo.log
    tests=("$T/test_no_numpy.py" "$T/test_selfcheck.py" "$T/test_consumers.py" "$T/test_dlpack.py" "$T/test_layout.py" "$T/test_scenario.py")
fi
deselect=()
if [[ $NUMPY == numpy==1.* ]]; then
    # NumPy 1.x, not pybuf: its np.from_dlpack asks only for legacy DLPack
    # capsules and marks every array read-only, and its PEP 3118 parser lacks
    # 'n'/'N' (ssize_t). These tests state the NumPy 2 behaviour.
    for t in test_dlpack.py::test_from_dlpack_shares_memory test_dlpack.py::test_release_waits_for_dlpack_array \
        test_dlpack.py::test_unconsumed_capsule_holds_memory test_dlpack.py::test_readonly_versioned \
        test_dlpack.py::test_dlpack_alloc_and_region "test_layout.py::test_itemsize_agrees_with_numpy[n]" \
        "test_layout.py::test_itemsize_agrees_with_numpy[N]"; do
        deselect+=(--deselect "tests_py/$t")
    done
fi
python -m pytest -q -p no:cacheprovider "${deselect[@]}" "${tests[@]}"
