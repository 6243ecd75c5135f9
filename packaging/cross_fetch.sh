#!/usr/bin/env bash
# cross_fetch.sh: obtains, once, what the manylinux2014 and aarch64 wheels are
# built and tested with, into $PYBUF_CROSS (default ~/.cache/pybuf/cross):
#   zig/         a virtualenv with PyPI's `ziglang` (the C compiler for glibc 2.17,
#                both architectures) and bin/cc-<target> wrappers for CC
#   qemu/        Debian's qemu-user-static (amd64), unpacked: qemu-aarch64-static
#   arm64/       Debian bookworm arm64 packages unpacked with dpkg -x: glibc,
#                CPython 3.11 and its headers (the sysroot the emulated tests run in)
#   include-cp311-aarch64/  the arm64 CPython headers with the arm64 pyconfig.h
#   site-cp311-aarch64/     NumPy 2.x's and pytest's aarch64 wheels, installed
# Each piece is made in a temporary directory and renamed into place when
# complete, under a lock: safe to start twice, in the background, or with
# SIGINT ignored; a piece already there is not fetched again.
# Debian's packages come through the machine's own apt sources (the URIs of
# /etc/apt/sources.list.d/debian.sources), with a private apt state in the cache.
set -euo pipefail
source "$(dirname "$0")/cross_env.sh"
PYTHON=${PYTHON:-python3}
mkdir -p "$PYBUF_CROSS"
exec 9>"$PYBUF_CROSS/.lock"
flock 9

# piece NAME KEY CMD...: runs CMD with $TMP set to a fresh directory that
# becomes $PYBUF_CROSS/NAME when CMD succeeds; KEY (what the piece holds: a
# version, a package list) is kept in its .done, and a new KEY makes it anew.
piece() {
    local name=$1 key=$2
    shift 2
    [[ "$(cat "$PYBUF_CROSS/$name/.done" 2>/dev/null)" == "$key" ]] && return 0
    rm -rf "${PYBUF_CROSS:?}/$name" "$PYBUF_CROSS/$name.tmp"
    TMP=$PYBUF_CROSS/$name.tmp
    mkdir -p "$TMP"
    echo "cross_fetch: $name"
    "$@"
    echo "$key" >"$TMP/.done"
    mv "$TMP" "$PYBUF_CROSS/$name"
}

fetch_zig() {
    "$PYTHON" -m venv "$TMP"
    "$TMP/bin/python" -m pip --disable-pip-version-check -q install "ziglang==$ZIG_VERSION"
    mkdir -p "$TMP/bin"
    # The venv moves into place after this: the wrappers name its final path.
    for target in x86_64-linux-gnu.2.17 aarch64-linux-gnu.2.17; do
        cat >"$TMP/bin/cc-$target" <<EOF
#!/bin/sh
# CC for $target: PyPI's zig as a C compiler for that glibc (packaging/cross_fetch.sh).
exec "$PYBUF_CROSS/zig/bin/python" -m ziglang cc -target $target "\$@"
EOF
        chmod +x "$TMP/bin/cc-$target"
    done
}

# A private apt: its own sources (Debian bookworm, amd64 and arm64), lists and
# cache under $PYBUF_CROSS/apt; the machine's apt state is not touched.
APT=$PYBUF_CROSS/apt
apt_private() {
    APT_CONFIG=$APT/apt.conf apt-get -q "$@"
}
setup_apt() {
    [[ -e $APT/.updated ]] && return 0
    local uris keyring
    uris=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    keyring=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    [[ -n $uris ]] || { echo "cross_fetch: no URIs in /etc/apt/sources.list.d/debian.sources"; exit 1; }
    mkdir -p "$APT"/{sources.list.d,parts,lists/partial,cache/archives/partial,debs}
    : >"$APT/status"
    cat >"$APT/sources.list.d/bookworm.sources" <<EOF
Types: deb
URIs: $uris
Suites: bookworm
Components: main
Architectures: amd64 arm64
Signed-By: ${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
EOF
    cat >"$APT/apt.conf" <<EOF
APT::Architecture "amd64";
APT::Architectures { "amd64"; "arm64"; };
APT::Sandbox::User "root";
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "$APT/sources.list.d";
Dir::Etc::Parts "$APT/parts";
Dir::State::Lists "$APT/lists";
Dir::State::status "$APT/status";
Dir::Cache "$APT/cache";
EOF
    apt_private update >"$APT/update.log" 2>&1 || { cat "$APT/update.log"; exit 1; }
    touch "$APT/.updated"
}

# unpack_debs DIR PKG...: apt-get download, then dpkg -x each into DIR.
unpack_debs() {
    local dir=$1
    shift
    setup_apt
    (cd "$APT/debs" && apt_private download "$@" >"$APT/download.log" 2>&1) ||
        { cat "$APT/download.log"; exit 1; }
    local p deb
    for p in "$@"; do
        deb=$(ls "$APT/debs/${p%%:*}_"*"_${p##*:}.deb")
        dpkg -x "$deb" "$dir"
        rm "$deb" # unpacked is what is kept
    done
}

fetch_qemu() {
    unpack_debs "$TMP" qemu-user-static:amd64
    # One emulator is used, of the package's thirty-odd (about 370 MB in all).
    find "$TMP/usr/bin" -name 'qemu-*' ! -name qemu-aarch64-static -delete
    "$TMP/usr/bin/qemu-aarch64-static" --version | head -1
}

# CPython 3.11 for arm64 and what its stdlib modules, NumPy's wheel (libgcc_s,
# libstdc++) and the tests' helper libraries load.
ARM64_DEBS=(libc6 libgcc-s1 libstdc++6 zlib1g libexpat1 libffi8 libbz2-1.0 liblzma5 libssl3
    libuuid1 libsqlite3-0 libcrypt1 python3.11-minimal libpython3.11-minimal
    libpython3.11-stdlib libpython3.11-dev)
fetch_arm64() {
    unpack_debs "$TMP" "${ARM64_DEBS[@]/%/:arm64}"
    # Absolute symlinks (the loader's, the libraries') would point out of the
    # sysroot on the host: made relative, they hold wherever the sysroot is.
    local link
    find "$TMP" -type l -lname '/*' | while read -r link; do
        ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$TMP$(readlink "$link")")" "$link"
    done
}

# Debian splits pyconfig.h by architecture (include/python3.11/pyconfig.h only
# picks one): the shim is compiled against a plain copy with the arm64 one.
fetch_include() {
    local sys=$PYBUF_CROSS/arm64
    cp -r "$sys/usr/include/python3.11" "$TMP/python3.11"
    cp "$sys/usr/include/aarch64-linux-gnu/python3.11/pyconfig.h" "$TMP/python3.11/pyconfig.h"
}

SITE_REQS=("numpy>=2,<3" "pytest>=8" "cffi>=1.16")
# The emulated tests' site-packages: wheels for the target, installed by the
# host's pip (--platform/--target), never run on the host.
fetch_site() {
    "$PYTHON" -m pip --disable-pip-version-check -q install --target "$TMP" \
        --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp --abi cp311 \
        --only-binary=:all: "${SITE_REQS[@]}"
}

piece zig "ziglang==$ZIG_VERSION" fetch_zig
piece qemu qemu-user-static fetch_qemu
piece arm64 "${ARM64_DEBS[*]}" fetch_arm64
piece include-cp311-aarch64 "${ARM64_DEBS[*]}" fetch_include
piece site-cp311-aarch64 "${SITE_REQS[*]}" fetch_site
echo "cross_fetch: ready in $PYBUF_CROSS"
