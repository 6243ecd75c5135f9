#!/usr/bin/env bash
# check_ft_wheel.sh WORKDIR [WHEEL]: the free-threaded wheel (default dist/'s
# cp313t manylinux2014_x86_64 one, from `make wheel-2014-ft`) in a brand-new
# virtualenv on CPython 3.13t (packaging/free_threaded_python.sh) with NumPy
# 2.3.5 from PyPI, on a PATH without `go` and with PYTHON_GIL unset. It must
# import from the venv with version.go's version and leave the GIL off (the shim
# declares Py_MOD_GIL_NOT_USED: without it CPython turns the GIL back on for the
# whole process at import), `python -m pybuf` must pass and report the GIL off,
# and ft_wheel_use.py (NumPy views of one buffer on two threads) must pass.
# Each check asserts: a wrong wheel fails the script. Run by test_dist.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=$("$HERE/free_threaded_python.sh")
source "$HERE/common.sh"
WORK=$1
WHEEL=${2:-$(dist_wheel manylinux2014_x86_64)}
VENV=$WORK/venv
[[ $ABITAG == *t ]] || { echo "check_ft_wheel: $PYTHON is not a free-threaded CPython"; exit 1; }
tools_venv

new_venv "$VENV"
# --no-compile: pip compiling NumPy's bytecode on 3.13t took 3 of this check's 13 s
venv_pip "$VENV" install --no-compile --only-binary=:all: "$WHEEL" numpy==2.3.5

unset PYTHON_GIL # the GIL's state must be the one importing pybuf leaves
export PATH="$VENV/bin:$(path_without_go)" PYTHONDONTWRITEBYTECODE=1
if command -v go >/dev/null; then
    echo "go is still on PATH: $(command -v go)"
    exit 1
fi
cd "$WORK" # not the repository: `import pybuf` must find the installed package
python - "$VERSION" "$VENV" <<'PY'
import importlib.metadata, os, sys, sysconfig
assert sysconfig.get_config_var("Py_GIL_DISABLED"), "not a free-threaded CPython"
import pybuf
import numpy as np
version, venv = sys.argv[1:]
assert os.path.realpath(pybuf.__file__).startswith(os.path.realpath(venv) + os.sep), pybuf.__file__
assert pybuf.__version__ == importlib.metadata.version("pybuf-go") == version, pybuf.__version__
assert pybuf._pybuf._core_info()["asserts"] is False, "wheel built without NDEBUG"
assert not sys._is_gil_enabled(), "importing pybuf turned the GIL on"
print("numpy", np.__version__)
PY
python -m pybuf >selfcheck.log
cat selfcheck.log
grep -qxF "  GIL       off (free-threaded build)" selfcheck.log ||
    { echo "check_ft_wheel: python -m pybuf does not report the GIL off"; exit 1; }
python "$HERE/ft_wheel_use.py"
