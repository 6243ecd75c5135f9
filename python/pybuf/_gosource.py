"""The Go source a library is rebuilt from: a Go module's files that its packages need.

A Go module's wheel carries its own module's source (pybuf.gobuild), and
pybuf's wheel carries pybuf's (setup.py), so that ``python -m pybuf.gobuild
bundle`` can build several of them into one library later. Which files make a
package is Go's decision (build constraints, cgo, embed patterns): ``go list``
names them, this only copies. Nothing here imports anything of pybuf: setup.py
runs it before pybuf is built.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

# Every kind of file `go list` names as part of a package's build, except tests.
_FILE_FIELDS = ("GoFiles", "CgoFiles", "CFiles", "CXXFiles", "MFiles", "HFiles", "FFiles",
                "SFiles", "SwigFiles", "SwigCXXFiles", "SysoFiles", "EmbedFiles")
MODULE_FILES = ("go.mod", "go.sum")


def module_files(go: str, root: str, patterns: list[str]) -> list[str]:
    """The files, relative to ``root`` (a Go module's directory, holding its
    go.mod), that build ``patterns`` and every package of this module they
    import, with go.mod and go.sum."""
    fields = ",".join(("Dir", "Module", *_FILE_FIELDS))
    p = subprocess.run([go, "list", "-deps", f"-json={fields}", *patterns], cwd=root, capture_output=True,
                       text=True, env=dict(os.environ, CGO_ENABLED="1"))
    if p.returncode != 0:
        raise RuntimeError(f"go list -deps {' '.join(patterns)} failed in {root}:\n{p.stderr}")
    real_root = os.path.realpath(root)
    files = {name for name in MODULE_FILES if os.path.isfile(os.path.join(root, name))}
    decoder, text, at = json.JSONDecoder(), p.stdout, 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            break
        pkg, at = decoder.raw_decode(text, at)
        if not (pkg.get("Module") or {}).get("Main"):
            continue  # the standard library and other modules: Go fetches those itself
        rel_dir = os.path.relpath(os.path.realpath(pkg["Dir"]), real_root)
        for field in _FILE_FIELDS:
            for name in pkg.get(field) or ():
                files.add(os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/"))
    return sorted(files)


def copy_module(go: str, root: str, patterns: list[str], dest: str) -> str:
    """Copies module_files() into ``dest`` (replacing it); their digest (source_digest)."""
    files = module_files(go, root, patterns)
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    for rel in files:
        target = os.path.join(dest, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(root, *rel.split("/")), target)
    return source_digest(dest)


def source_digest(top: str) -> str:
    """sha256 over every file's relative path and content under ``top``: what a
    Go module's manifest records, and a bundle compares to find itself stale."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, top).replace(os.sep, "/")
            with open(path, "rb") as f:
                data = f.read()
            h.update(f"{rel}\0{len(data)}\0".encode())
            h.update(data)
    return h.hexdigest()
