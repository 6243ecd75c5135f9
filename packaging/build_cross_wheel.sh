#!/usr/bin/env bash
# build_cross_wheel.sh ARCH (x86_64 or aarch64): a manylinux2014 (glibc 2.17)
# wheel for ARCH and the CPython that PYTHON is, from dist/'s sdist, into
# dist/pybuf_go-VERSION-cpXY-cpXY-manylinux2014_ARCH.manylinux_2_17_ARCH.whl
# (cpXY-cpXYt for a free-threaded CPython: `make wheel-2014-ft`).
#
# The same setup.py builds it as for the native wheel, with zig (PyPI's
# `ziglang`, from packaging/cross_fetch.sh) as the C compiler for both cgo and
# the shim, targeting ARCH-linux-gnu.2.17: zig links against glibc 2.17's
# symbol versions whatever glibc this machine has; `auditwheel repair` then
# picks the oldest tag the symbol versions allow (it offers --plat choices for
# this machine's architecture only). For aarch64 Go builds with
# GOARCH=arm64 and the shim compiles against Debian's arm64 CPython headers; the
# host PYTHON must then be the same CPython version (3.11: the one Debian
# bookworm has for arm64). `auditwheel show` must confirm the tag.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh"
source "$HERE/cross_env.sh"
unset PYBUF_FAULT # a test-only fault must never reach a published wheel
ARCH=$1
PLAT=manylinux2014_$ARCH
TARGET=$ARCH-linux-gnu.2.17
SDIST=$DIST/pybuf_go-$VERSION.tar.gz
[[ -f $SDIST ]] || { echo "build_cross_wheel: no $SDIST (make sdist first)"; exit 1; }
PYTHON=$PYTHON "$HERE/cross_fetch.sh" >/dev/null
tools_venv

CC_TARGET=$PYBUF_CROSS/zig/bin/cc-$TARGET
export CGO_ENABLED=1 CC=$CC_TARGET LDSHARED="$CC_TARGET -shared"
case $ARCH in
x86_64) export GOARCH=amd64 ;;
aarch64)
    [[ $ABITAG == cp311 ]] || { echo "build_cross_wheel: aarch64 needs a CPython 3.11 PYTHON (Debian's arm64 headers are 3.11's)"; exit 1; }
    export GOARCH=arm64
    # The target's headers first (before the host's, which setuptools adds);
    # the extension's name and the wheel's platform are the target's. CFLAGS
    # replaces CPython's own flags, which it must keep: without -O zig compiles
    # in its Debug mode, with the UBSan runtime calls the wheel cannot resolve.
    CFLAGS="-I$PYBUF_CROSS/include-$PYTAG-aarch64/python3.11 $("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("CFLAGS"))')"
    export CFLAGS
    export SETUPTOOLS_EXT_SUFFIX=.cpython-311-aarch64-linux-gnu.so _PYTHON_HOST_PLATFORM=linux-aarch64
    ;;
*) echo "build_cross_wheel: ARCH is x86_64 or aarch64, not $ARCH"; exit 1 ;;
esac

WORK=$ROOT/build/cross-$ARCH-$ABITAG
LOG=$WORK.log
WHEELS="$DIST/pybuf_go-$VERSION-$PYTAG-$ABITAG-*$PLAT*.whl"
# shellcheck disable=SC2086  # $WHEELS is a glob
rm -rf "$WORK" $WHEELS
mkdir -p "$WORK/raw"
tar -xzf "$SDIST" -C "$WORK"
# From the sdist, as the native wheel: what is published is what the sdist ships.
"$TOOLS/bin/python" -m build --wheel --no-isolation --outdir "$WORK/raw" "$WORK/pybuf_go-$VERSION" >"$LOG" 2>&1 ||
    { cat "$LOG"; exit 1; }
env -u _PYTHON_HOST_PLATFORM PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/auditwheel" repair -w "$DIST" "$WORK/raw"/*.whl >>"$LOG" 2>&1 ||
    { cat "$LOG"; exit 1; }
# shellcheck disable=SC2086
WHEEL=$(ls $WHEELS)
# auditwheel show: the tag the symbol versions allow, and nothing grafted.
"$TOOLS/bin/auditwheel" show "$WHEEL" >"$WORK/show.txt"
tr -s '\n ' ' ' <"$WORK/show.txt" | grep -q "is consistent with the following platform tag: \"manylinux_2_17_$ARCH\"" ||
    { cat "$WORK/show.txt"; exit 1; }
if "$TOOLS/bin/python" -m zipfile -l "$WHEEL" | grep -q '\.libs/'; then
    echo "build_cross_wheel: auditwheel grafted libraries into $WHEEL"
    exit 1
fi
echo "$WHEEL"
