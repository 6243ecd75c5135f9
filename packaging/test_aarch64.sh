#!/usr/bin/env bash
# make test-aarch64: dist/'s manylinux2014_aarch64 wheel on an arm64 CPython 3.11
# (Debian bookworm's, in the sysroot packaging/cross_fetch.sh unpacks) under
# qemu-user, with NumPy's aarch64 wheel: `python -m pybuf`, the Go module
# examples/gostats built for aarch64 by pybuf.gobuild (its self-check and
# usage.py), then the pytest subset AARCH64_TESTS, from a directory outside
# the repository.
#
# The interpreter is started through a host script, bin/python, that runs
# qemu-aarch64-static -L SYSROOT with PYTHONHOME=SYSROOT/usr and passes its own
# path as the guest's argv[0] (qemu -0): sys.executable is then that script, so
# a test that starts `sys.executable` starts another emulated CPython (this
# machine has no binfmt_misc entry for aarch64). The tests' C helper libraries
# are compiled with zig for aarch64 (CC).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh"
source "$HERE/cross_env.sh"
"$HERE/cross_fetch.sh" >/dev/null
tools_venv
WHEEL=$(ls "$DIST/pybuf_go-$VERSION-cp311-cp311-"*manylinux2014_aarch64*.whl)
# The lifetime promise with aarch64 code: releases run once and only after the
# last view (lifetime), through every consumer (memoryview, NumPy, ctypes,
# DLPack), across processes (shm), and the self-check in a subprocess.
AARCH64_TESTS=${AARCH64_TESTS:-test_selfcheck.py test_lifetime.py test_consumers.py test_dlpack.py test_shm.py}
# Left to the x86_64 runs: tests that start several interpreters or worker pools
# (an emulated CPython with NumPy takes 6-15 s to start; these took 50-66 s each
# and hit their 60 s timeouts on a loaded machine). Cross-process shared memory
# stays in (test_two_processes_write_and_read_one_segment), and so does the
# self-check in a subprocess.
AARCH64_DESELECT=(
    test_shm.py::test_pool_and_process_workers
    test_shm.py::test_import_loads_no_go
    test_lifetime.py::test_garbage_cycle_through_export_python_release
    test_lifetime.py::test_garbage_cycle_through_memoryview_export_c_release
)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pybuf-aarch64.XXXXXX")
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

# A Go module as a Go developer publishes it for aarch64: examples/gostats built
# by pybuf.gobuild with PYBUF_GO_TARGET (zig, GOARCH=arm64) in a host venv that
# holds the x86_64 pybuf wheel, ziglang and setuptools, then repaired by auditwheel.
# (make test-dist has built that wheel when PYTHON is this CPython 3.11 too)
HOSTWHEEL=$(dist_wheel manylinux2014_x86_64 2>/dev/null) || HOSTWHEEL=$("$HERE/build_cross_wheel.sh" x86_64)
BUILD=$WORK/build-venv
new_venv "$BUILD"
venv_pip "$BUILD" install --only-binary=:all: "$HOSTWHEEL" "setuptools>=77" wheel \
    "ziglang==$ZIG_VERSION"
PATH="$BUILD/bin:$PATH" PYBUF_GO_TARGET=aarch64-linux-gnu.2.17 venv_pip "$BUILD" wheel --no-build-isolation \
    --no-deps -w "$WORK/raw" "$ROOT/examples/gostats"
PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/auditwheel" repair -w "$WORK/wheels" "$WORK/raw"/gostats-*.whl >"$WORK/repair.log" 2>&1 ||
    { cat "$WORK/repair.log"; exit 1; }
GOWHEEL=$(ls "$WORK/wheels"/gostats-*manylinux2014_aarch64*.whl)
echo "built $(basename "$GOWHEEL")"

SITE=$WORK/site
# The host's pip installs the wheels for the target; nothing of them runs here.
"$TOOLS/bin/python" -m pip "${PIPQ[@]}" install --no-deps --target "$SITE" \
    --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --abi cp311 \
    --only-binary=:all: "$WHEEL" "$GOWHEEL"
mkdir -p "$WORK/bin"
cat >"$WORK/bin/python" <<EOF
#!/bin/sh
PYTHONHOME=$SYSROOT_ARM64/usr PYTHONPATH=$SITE:$PYBUF_CROSS/site-cp311-aarch64 \\
    exec "$QEMU_AARCH64" -L "$SYSROOT_ARM64" -0 "\$0" "$SYSROOT_ARM64/usr/bin/python3.11" "\$@"
EOF
chmod +x "$WORK/bin/python"
PY=$WORK/bin/python

export CC=$PYBUF_CROSS/zig/bin/cc-aarch64-linux-gnu.2.17 PYTHONDONTWRITEBYTECODE=1
unset PYTHONPATH PYTHONHOME
cd "$WORK"
start=$SECONDS
"$PY" - "$VERSION" "$SITE" <<'PY'
import os, platform, sys
import numpy, pybuf
version, site = sys.argv[1:]
assert platform.machine() == "aarch64", platform.machine()
assert os.path.realpath(pybuf.__file__).startswith(os.path.realpath(site) + os.sep), pybuf.__file__
assert pybuf.__version__ == version, pybuf.__version__
# the shim's assert()s are for the test build only (cshim/release.c)
assert pybuf._pybuf._core_info()["asserts"] is False, "wheel built without NDEBUG"
print("aarch64:", platform.python_implementation(), platform.python_version(), "numpy", numpy.__version__)
PY
"$PY" -m pybuf
"$PY" -m pybuf.gomodule gostats
"$PY" "$ROOT/examples/gostats/usage.py" >usage.log
grep -q "pinned after the last view: 0" usage.log
echo "gostats: usage.py ok"
tests=() deselect=()
for t in $AARCH64_TESTS; do tests+=("$ROOT/tests_py/$t"); done
# (node ids as pytest names them, relative to its root directory, the repository)
for t in "${AARCH64_DESELECT[@]}"; do deselect+=(--deselect "tests_py/$t"); done
"$PY" -m pytest -q -p no:cacheprovider -rs --durations=5 "${deselect[@]}" "${tests[@]}"
echo "test-aarch64: $((SECONDS - start))s under emulation"
