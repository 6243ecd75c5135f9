"""``python -m pybuf.gobuild bundle [module ...]``: several Go modules, one process.

A process runs one Go runtime, so Go modules built separately (each its own
wheel, its own c-shared library) cannot be imported together. Each wheel
carries its Go module's source (pybuf.gobuild); this command builds every
installed Go module, or the named ones, with the installed pybuf's core into
one library, and installs it as the distribution ``pybuf-go-bundle`` (entry
point group ``pybuf.go_bundle``). From then on that library is the process's
core whatever is imported first, and each module loads its functions from it
(pybuf.gomodule). Rebuild after installing or upgrading a Go module; ``pip
uninstall pybuf-go-bundle`` goes back to separate libraries.

Everything read from an installed distribution is checked as the loader
checks it: the library must be confined to its own distribution
(gomodule.checked_library), its source directory too, and the source must be
the one its manifest records. The generated go.mod comes from pybuf._gobuilder.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Any

from . import _gosource
from ._gobuilder import PYBUF_MODULE, BuildModule, find_go, go_mod_json, is_directory_replacement, replace_flag
from .gomodule import BUNDLE_COMMAND, BUNDLE_GROUP, ENTRY_POINT_GROUP, LIBRARY_FILE, MANIFEST_FILE, SOURCE_DIR
from .gomodule import _entry_points, checked_library, read_manifest

DIST_NAME = "pybuf-go-bundle"
PACKAGE = "pybuf_go_bundle"
PYBUF_SOURCE_DIR = "_go"      # pybuf's own Go module, next to pybuf/__init__.py (setup.py)


class BundleError(Exception):
    """Why the bundle cannot be built (printed, exit status 1)."""


@dataclass
class GoModuleDist:
    """One installed Go module's wheel, as the bundle needs it."""

    dist: str                  # the distribution's name, for messages
    packages: dict[str, str]   # Python module name -> Go import path ("" when unknown)
    source: str = ""           # its Go module's source directory
    digest: str = ""           # what its manifest says that source is
    error: str = ""            # why it cannot be bundled


def site_dirs() -> set[str]:
    """Where this environment installs distributions (real paths)."""
    import site

    dirs = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    if site.ENABLE_USER_SITE:
        dirs.add(site.getusersitepackages())
    return {os.path.realpath(d) for d in dirs}


def installed_go_modules() -> list[GoModuleDist]:
    """The Go modules installed in this environment. A distribution found
    elsewhere on sys.path (the current directory is there for ``python -m``)
    is left out: its code would go into a library every later process loads."""
    found: dict[str, GoModuleDist] = {}
    sites = site_dirs()
    for ep in _entry_points(ENTRY_POINT_GROUP):
        try:
            root = os.path.realpath(str(ep.dist.locate_file("")))
        except Exception:  # a distribution too broken to locate
            continue
        if root not in sites:
            print(f"pybuf.gobuild bundle: leaving out {ep.value!r} of {root}, not an installed distribution's "
                  "folder", file=sys.stderr)
            continue
        library = checked_library(ep)  # confined to its distribution, or skipped with a warning
        if library is not None and library not in found:
            found[library] = from_manifest(ep, library)
    return list(found.values())


def from_manifest(ep: Any, library: str) -> GoModuleDist:
    try:
        dist = str(ep.dist.metadata["Name"])
    except Exception:  # a distribution too broken to name itself
        dist = ep.name
    manifest = read_manifest(library) or {}
    modules = manifest.get("modules")
    names = [m for m in modules if isinstance(m, str) and m.isidentifier()] if isinstance(modules, list) else []
    d = GoModuleDist(dist, dict.fromkeys(names, ""))
    source = manifest.get("source")
    packages = source.get("packages") if isinstance(source, dict) else None
    if not isinstance(source, dict) or source.get("dir") != SOURCE_DIR:
        d.error = f"it carries no Go source ({library}): rebuild its wheel with this pybuf's pybuf.gobuild"
    elif (not isinstance(packages, dict) or not packages
          or not all(isinstance(k, str) and k.isidentifier() and isinstance(v, str) and v
                     for k, v in packages.items())):
        d.error = f"its manifest names no Python module -> Go package pairs ({library})"
    else:
        d.packages = dict(packages)
        top = os.path.dirname(library)
        src = os.path.join(top, SOURCE_DIR)
        real_top = os.path.realpath(top)
        if (os.path.commonpath([real_top, os.path.realpath(src)]) != real_top
                or not os.path.isfile(os.path.join(src, "go.mod"))):
            d.error = f"{src} is not a Go module inside its package"
        elif _gosource.source_digest(src) != source.get("digest"):
            d.error = f"the Go source in {src} is not the one its wheel was built from"
        else:
            d.source, d.digest = os.path.realpath(src), str(source["digest"])
    return d


def select(dists: list[GoModuleDist], names: list[str]) -> list[GoModuleDist]:
    """The distributions holding ``names`` (all when none is named)."""
    owner: dict[str, GoModuleDist] = {}
    for d in dists:
        for name in d.packages:
            if name in owner:
                raise BundleError(f"the Python module {name} is in two distributions, {owner[name].dist} and "
                                  f"{d.dist}: uninstall one")
            owner[name] = d
    missing = [n for n in names if n not in owner]
    if missing:
        raise BundleError(f"no installed Go module is named {', '.join(missing)} (installed: "
                          f"{', '.join(sorted(owner)) or 'none'})")
    chosen = list({id(owner[n]): owner[n] for n in names}.values()) if names else dists
    for d in chosen:
        if d.error:
            raise BundleError(f"cannot bundle {d.dist}: {d.error}")
    return chosen


def pybuf_source() -> str:
    import pybuf

    src = os.path.join(os.path.dirname(os.path.abspath(pybuf.__file__)), PYBUF_SOURCE_DIR)
    if not os.path.isfile(os.path.join(src, "go.mod")):
        raise BundleError(f"this pybuf was installed without its Go source ({src}): reinstall pybuf-go")
    return src


def build_module(go: str, work: str, dists: list[GoModuleDist]) -> BuildModule:
    """The generated module: pybuf from the installed pybuf, each Go module
    from its wheel's source, their replacements of other modules by version.
    A replacement by a directory cannot come along (the wheel does not carry
    it) unless it is pybuf or one of the bundled modules."""
    pybuf = pybuf_source()
    b = BuildModule(os.path.join(work, "module"), sums=[os.path.join(pybuf, "go.sum")])
    b.require_dir(PYBUF_MODULE, pybuf)
    mods = [(d, go_mod_json(go, os.path.join(d.source, "go.mod"))) for d in dists]
    paths: dict[str, GoModuleDist] = {}
    for d, mod in mods:
        path = mod["Module"]["Path"]
        if path in paths or path == PYBUF_MODULE:
            raise BundleError(f"{d.dist} and {paths[path].dist if path in paths else 'pybuf'} are the same Go "
                              f"module, {path}")
        paths[path] = d
        b.require_dir(path, d.source)
        b.sums.append(os.path.join(d.source, "go.sum"))
    replaced: dict[str, str] = {}  # old module[@version] -> the -replace flag
    for d, mod in mods:
        for r in mod.get("Replace") or ():
            old = r["Old"]["Path"]
            if old == PYBUF_MODULE or old in paths:
                continue
            if is_directory_replacement(r):
                raise BundleError(f"{d.dist}: its go.mod replaces {old} with the directory {r['New']['Path']}, "
                                  "which its wheel does not carry")
            flag = replace_flag(r)
            if replaced.setdefault(f"{old}@{r['Old'].get('Version') or ''}", flag) != flag:
                raise BundleError(f"{d.dist}: its go.mod replaces {old} otherwise than another bundled module")
    b.requires += replaced.values()
    return b


def wheel(work: str, library: str, manifest: bytes) -> str:
    """A wheel of the distribution pybuf-go-bundle holding the library, its
    manifest and the entry point that announces it."""
    tag = "py3-none-" + sysconfig.get_platform().replace("-", "_").replace(".", "_")
    info = f"{PACKAGE}-1.dist-info"
    with open(library, "rb") as f:
        lib = f.read()
    files = {
        f"{PACKAGE}/__init__.py": b'"""Every installed Go module in one library: python -m pybuf.gobuild bundle."""\n',
        f"{PACKAGE}/{LIBRARY_FILE}": lib,
        f"{PACKAGE}/{MANIFEST_FILE}": manifest,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {DIST_NAME}\nVersion: 1\nSummary: Every installed "
                            f"Go module in one library, built by {BUNDLE_COMMAND}\n".encode(),
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: pybuf.gobundle\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(),
        f"{info}/entry_points.txt": f"[{BUNDLE_GROUP}]\nbundle = {PACKAGE}:{LIBRARY_FILE}\n".encode(),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = os.path.join(work, f"{PACKAGE}-1-{tag}.whl")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def bundle(names: list[str]) -> list[str]:
    """Builds and installs the bundle; the Python modules it holds."""
    import json

    dists = select(installed_go_modules(), names)
    if not dists:
        raise BundleError(f"no Go module is installed (entry point group {ENTRY_POINT_GROUP})")
    go = find_go()
    with tempfile.TemporaryDirectory(prefix="pybuf-go-bundle-") as work:
        b = build_module(go, work, dists)
        b.write(go)
        packages = [pkg for d in dists for pkg in d.packages.values()]
        modules = [name for d in dists for name in d.packages]
        library = os.path.join(work, LIBRARY_FILE)
        manifest = json.loads(b.build(go, list(dict.fromkeys(packages)), modules, library,
                                      os.path.join(work, "stubs")))
        manifest["bundle"] = {name: {"dist": d.dist, "digest": d.digest} for d in dists for name in d.packages}
        whl = wheel(work, library, (json.dumps(manifest) + "\n").encode())
        p = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                            "--no-deps", "--no-index", "--force-reinstall", whl], capture_output=True, text=True)
        if p.returncode != 0:
            raise BundleError(f"pip could not install the bundle:\n{p.stderr}{p.stdout}")
    return modules


USAGE = f"usage: {BUNDLE_COMMAND} [module ...]   (no module: every installed Go module)"


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "bundle" or any(a.startswith("-") for a in argv[1:]):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        modules = bundle(argv[1:])
    except BundleError as e:
        print(f"pybuf.gobuild bundle: {e}", file=sys.stderr)
        return 1
    print(f"pybuf.gobuild bundle: installed {DIST_NAME} holding {', '.join(modules)}")
    return 0
