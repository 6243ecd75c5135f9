"""A copy of this checkout for tests that build a project with pip.

pip builds a local project inside its tree (setuptools' build/ and *.egg-info,
pybuf.gobuild's build/pybuf-go), and `make test` runs its legs side by side
(3.11, 3.12, 3.13, the wheels): two legs building in the one checkout would
write the same files at once. A test builds in its own copy instead. The whole
checkout is copied, not one example, because the examples' go.mod files point at
pybuf with `replace ... => ../..`.
"""
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What builds and tools leave in a checkout: never sources.
LEFT_OUT = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__",
                                  ".pytest_cache", ".mypy_cache", ".hypothesis", "*.so")


def checkout_copy(dest):
    """Copies the checkout's sources to `dest` (a path that does not exist yet);
    returns it as a str."""
    shutil.copytree(ROOT, dest, ignore=LEFT_OUT, symlinks=True)
    return str(dest)
