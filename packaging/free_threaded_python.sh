#!/usr/bin/env bash
# Usage: packaging/free_threaded_python.sh [--tsan]
#
# Obtains CPython 3.13t (free-threaded, --disable-gil) once, under
# ~/.cache/pybuf/cpython-3.13t, and prints the path of its interpreter.
# With --tsan, the same interpreter built with ThreadSanitizer
# (--with-thread-sanitizer), under ~/.cache/pybuf/cpython-3.13t-tsan, with
# CPython's own suppressions for its free-threaded build kept beside it as
# share/tsan-suppressions.txt (make test-tsan, docs/RELIABILITY.md).
#
# No free-threaded CPython is packaged for this Debian, so the source comes from
# Debian trixie's python3.13 source package through apt, with a private sources
# list and private state (the system's apt configuration is untouched), and is
# built with `./configure --disable-gil`. About 15 minutes on 2 cores; a second run
# finds the interpreter and returns at once. Safe to run in the background with
# SIGINT ignored: nothing here waits on a terminal, and a build cut short leaves
# no interpreter behind, so the next run builds again.
set -euo pipefail

CACHE=${PYBUF_CACHE:-$HOME/.cache/pybuf}
NAME=cpython-3.13t
CONFIGURE=(--disable-gil --without-ensurepip)
if [[ ${1:-} == --tsan ]]; then
    NAME=cpython-3.13t-tsan
    CONFIGURE+=(--with-thread-sanitizer)
    # a race CPython itself reports while the build runs the new interpreter
    # must not fail the build (TSan's exit status is 66 after a report)
    export TSAN_OPTIONS=exitcode=0
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--tsan]" >&2
    exit 2
fi
PREFIX=$CACHE/$NAME
PYTHON_FT=$PREFIX/bin/python3.13t
WORK=$CACHE/$NAME-src
JOBS=${JOBS:-2}

# The interpreter is installed last and checked here, so its presence means a
# complete install.
usable() {
    [[ -x $PYTHON_FT ]] &&
        "$PYTHON_FT" -c 'import sys, sysconfig; sys.exit(not sysconfig.get_config_var("Py_GIL_DISABLED"))' 2>/dev/null
}

if usable; then
    echo "$PYTHON_FT"
    exit 0
fi

mkdir -p "$CACHE"
# One build at a time: a second caller waits for the first, then finds the result.
exec 9>"$CACHE/$NAME.lock"
flock 9
if usable; then
    echo "$PYTHON_FT"
    exit 0
fi

log() { echo "free_threaded_python: $*" >&2; }

rm -rf "$WORK"
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/archives/partial" "$WORK/download"

# apt reads deb822 lists only from files named *.sources.
cat >"$WORK/apt/trixie.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# Option names are case-insensitive: one sourcelist option, parts switched off.
APT=(apt-get -q -o "Dir::Etc::sourcelist=$WORK/apt/trixie.sources"
    -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$WORK/apt/lists"
    -o "Dir::Cache::Archives=$WORK/apt/archives")

log "fetching the python3.13 source package from Debian trixie"
"${APT[@]}" update >&2
(cd "$WORK/download" && "${APT[@]}" source --download-only python3.13 >&2)

orig=$(ls "$WORK"/download/python3.13_*.orig.tar.xz | head -n1)
log "building $(basename "$orig") with ${CONFIGURE[*]} into $PREFIX"
mkdir -p "$WORK/src"
tar -xJf "$orig" -C "$WORK/src" --strip-components=1

rm -rf "$PREFIX"
cd "$WORK/src"
./configure "${CONFIGURE[@]}" --prefix="$PREFIX" >"$WORK/configure.log" 2>&1 ||
    { tail -n 40 "$WORK/configure.log" >&2; exit 1; }
make -j"$JOBS" >"$WORK/make.log" 2>&1 || { tail -n 40 "$WORK/make.log" >&2; exit 1; }
make install >"$WORK/install.log" 2>&1 || { tail -n 40 "$WORK/install.log" >&2; exit 1; }
cp Tools/tsan/suppressions_free_threading.txt "$PREFIX/share/tsan-suppressions.txt"

usable || { log "built, but $PYTHON_FT is not a free-threaded interpreter"; exit 1; }
# The sources are only needed to build: keep the cache small.
rm -rf "$WORK"
log "done: $("$PYTHON_FT" -VV)"
echo "$PYTHON_FT"
