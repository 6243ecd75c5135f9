# Sourced by the cross-build scripts: where packaging/cross_fetch.sh keeps what
# it obtains (outside the repository, made once) and the pinned versions.
PYBUF_CROSS=${PYBUF_CROSS:-$HOME/.cache/pybuf/cross}
ZIG_VERSION=0.15.2
# zig's own cache (the glibc 2.17 stubs it builds per target) lives there too.
export ZIG_GLOBAL_CACHE_DIR=$PYBUF_CROSS/zig-cache ZIG_LOCAL_CACHE_DIR=$PYBUF_CROSS/zig-cache
SYSROOT_ARM64=$PYBUF_CROSS/arm64
QEMU_AARCH64=$PYBUF_CROSS/qemu/usr/bin/qemu-aarch64-static
