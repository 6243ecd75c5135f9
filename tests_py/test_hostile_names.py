"""Names, formats and entry points from anywhere are data, not trust.

Segment names reach pybuf from pickles and Dask headers, /dev/shm is writable
by every local user, and any folder on sys.path may hold a *.dist-info: what
they name is checked before anything is opened, mapped, created, unlinked or
loaded (docs/SHARED_MEMORY.md, docs/GO_EXTENSIONS.md)."""
import json
import os
import pickle
import pwd
import subprocess
import sys
import textwrap
import uuid
import warnings
from importlib.metadata import PathDistribution
from pathlib import Path

import numpy as np
import pytest

import pybuf
from pybuf import _distributed, _pybuf, gomodule, shm

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX shared memory in /dev/shm")


def unique_name():
    return f"pybuf_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fifo():
    """A FIFO in /dev/shm, as any local user can make one."""
    name = unique_name()
    os.mkfifo(f"/dev/shm/{name}")
    yield name
    os.remove(f"/dev/shm/{name}")


@pytest.fixture
def seg():
    s = shm.create(4096)
    yield s
    s.unlink()


class _Reduces:
    """What a peer sends: pybuf's own reconstructor with arguments of its choice."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


# ---------------------------------------------------------------- a FIFO under a segment's name

def attempt_in_child(code):
    """What `code` raises in a fresh interpreter (a blocking open would hang it:
    the timeout then fails the test instead of the whole run)."""
    body = "".join("    " + line + "\n" for line in textwrap.dedent(code).strip().splitlines())
    script = f"try:\n{body}    print('no error')\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@pytest.mark.parametrize("readonly", [True, False])
def test_attach_refuses_a_fifo_at_once(fifo, readonly):
    out = attempt_in_child(f"from pybuf import shm\nshm.attach({fifo!r}, readonly={readonly})")
    assert out == f'ValueError name "{fifo}" is not a shared-memory segment'


def test_unpickling_a_segment_named_after_a_fifo_refuses_at_once(fifo):
    data = pickle.dumps(_Reduces(shm._attach_pickled, (fifo, True, None)))
    out = attempt_in_child(f"import pickle\npickle.loads({data!r})")
    assert out == f'ValueError name "{fifo}" is not a shared-memory segment'


def test_unpickling_a_buffer_named_after_a_fifo_refuses_at_once(fifo):
    data = pickle.dumps(_Reduces(shm._rebuild_buffer, (fifo, 0, (1,), "B", (1,), True, None)))
    out = attempt_in_child(f"import pickle\npickle.loads({data!r})")
    assert out == f'ValueError name "{fifo}" is not a shared-memory segment'


def test_dask_header_naming_a_fifo_fails_its_task_at_once(fifo):
    header = {"pybuf": "shm", "spec": [fifo, 0, [1], "B", [1], True], "host": None}
    out = attempt_in_child(f"""
        import distributed
        from pybuf import _distributed
        node = _distributed.deserialize_buffer({header!r}, [])
        print(node)
        raise SystemExit
    """)
    assert out.endswith(f'failed: name "{fifo}" is not a shared-memory segment>'), out


# ---------------------------------------------------------------- a NUL inside a name

def test_attach_with_a_nul_in_the_name_maps_nothing(seg):
    with pytest.raises(ValueError, match=r"^name .* contains a NUL character$"):
        shm.attach(seg.name + "\x00.tenant-b")


def test_unlink_with_a_nul_in_the_name_removes_nothing(seg):
    with pytest.raises(ValueError, match=r"^name .* contains a NUL character$"):
        shm.unlink(seg.name + "\x00.tenant-b")
    assert os.path.exists(f"/dev/shm/{seg.name}")


def test_create_with_a_nul_in_the_name_creates_nothing():
    name = unique_name()
    with pytest.raises(ValueError, match=r"^name .* contains a NUL character$"):
        shm.create(64, name=name + "\x00suffix")
    assert not os.path.exists(f"/dev/shm/{name}")


# ---------------------------------------------------------------- a segment of another user

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a segment to another uid needs root")


@pytest.fixture
def foreign(seg):
    """seg, given to the user 'nobody' (chown)."""
    uid = pwd.getpwnam("nobody").pw_uid
    os.chown(f"/dev/shm/{seg.name}", uid, -1)
    return seg, uid


@needs_root
def test_attach_refuses_a_segment_of_another_uid_naming_it(foreign):
    seg, uid = foreign
    with pytest.raises(ValueError) as raised:
        shm.attach(seg.name, readonly=True)
    assert str(raised.value) == (
        f'name "{seg.name}": the segment belongs to uid {uid}, not to this process\'s uid {os.geteuid()}; '
        "its owner can truncate it under every reader (SIGBUS). Pass allow_foreign=True to attach it anyway")


@needs_root
def test_allow_foreign_attaches_a_segment_of_another_uid(foreign):
    seg, _ = foreign
    np.asarray(seg.buffer(0, 4))[:] = [1, 2, 3, 4]
    with shm.attach(seg.name, readonly=True, allow_foreign=True) as other:
        assert np.asarray(other.buffer(0, 4)).tolist() == [1, 2, 3, 4]


@needs_root
def test_unpickling_never_attaches_a_segment_of_another_uid(foreign):
    seg, uid = foreign
    with pytest.raises(ValueError, match=f"belongs to uid {uid}"):
        pickle.loads(pickle.dumps(seg.buffer(0, 4)))


def test_allow_foreign_also_attaches_ones_own_segment(seg):
    with shm.attach(seg.name, allow_foreign=True) as other:
        assert other.size == seg.size and other.readonly is False


# ---------------------------------------------------------------- formats from a stream

MANY_UNNAMED = "i" * 3000
UNNAMED_ERROR = "format from a stream has 3000 fields without a name; at most 128 are accepted"


def test_local_code_may_still_make_many_unnamed_fields():
    assert pybuf.alloc((), MANY_UNNAMED).format == MANY_UNNAMED


@pytest.mark.parametrize("protocol", [4, 5])
def test_unpickling_a_buffer_by_value_bounds_its_format(protocol):
    data = pickle.dumps(pybuf.alloc((), MANY_UNNAMED), protocol=protocol)
    with pytest.raises(ValueError, match=f"^{UNNAMED_ERROR}"):
        pickle.loads(data)


def test_unpickling_a_buffer_by_name_bounds_its_format_before_mapping():
    name = unique_name()  # no such segment: the format is refused first
    data = pickle.dumps(_Reduces(shm._rebuild_buffer, (name, 0, (), MANY_UNNAMED, (), True, None)))
    with pytest.raises(ValueError, match=f"^{UNNAMED_ERROR}"):
        pickle.loads(data)


def test_dask_header_by_value_bounds_its_format():
    header = {"pybuf": "bytes", "shape": [], "format": MANY_UNNAMED, "readonly": True}
    with pytest.raises(ValueError, match=f"^{UNNAMED_ERROR}"):
        _distributed.deserialize_buffer(header, [bytes(12000)])


def test_dask_header_by_name_bounds_a_numpy_dtype_string():
    header = {"pybuf": "shm", "spec": [unique_name(), 0, [1], "i4," * 100, [1200], True], "host": None}
    node = _distributed.deserialize_buffer(header, [])
    assert str(node).endswith("failed: format from a stream is not PEP 3118 and is 300 bytes long; "
                              "at most 64 are accepted for a NumPy dtype string>"), str(node)


def test_stream_format_must_be_a_str():
    with pytest.raises(TypeError, match="^format must be a str, not bytes$"):
        _pybuf._check_stream_format(b"i")


def test_named_record_formats_still_round_trip():
    fmt = "T{" + "".join(f"<i:f{i}:" for i in range(100)) + "}"
    b = pybuf.alloc(2, fmt)
    out = pickle.loads(pickle.dumps(b))
    assert out.format == fmt and np.asarray(out).dtype.names[-1] == "f99"


# ---------------------------------------------------------------- pybuf.go_library entry points

def planted_dist(tmp_path, value, *, manifest=True, record=True, library="x/lib.so"):
    """A distribution rooted at tmp_path announcing `value`; `library` (relative)
    is made with gobuild's manifest next to it and listed in RECORD as asked."""
    lib = tmp_path / library
    lib.parent.mkdir(parents=True, exist_ok=True)
    lib.write_bytes(b"\x7fELF not really")
    if manifest:
        (lib.parent / gomodule.MANIFEST_FILE).write_text(json.dumps({"abi": _pybuf._core_abi()}))
    info = tmp_path / "zz_planted-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zz-planted\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[pybuf.go_library]\n000 = {value}\n")
    if record:
        (info / "RECORD").write_text(f"{library},,\nzz_planted-1.0.dist-info/METADATA,,\n")
    dist = PathDistribution(info)
    (ep,) = [e for e in dist.entry_points if e.group == gomodule.ENTRY_POINT_GROUP]
    return ep


def refused(ep):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert gomodule.checked_library(ep) is None
    assert [w.category for w in caught] == [RuntimeWarning]
    message = str(caught[0].message)
    assert message.startswith(f"pybuf: not loading the Go library {ep.value!r} that distribution 'zz-planted'")
    return message


def test_entry_point_inside_its_distribution_is_loaded(tmp_path):
    ep = planted_dist(tmp_path, "x:lib.so")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gomodule.checked_library(ep) == str(tmp_path / "x" / "lib.so")


def test_entry_point_with_an_absolute_path_is_refused(tmp_path):
    lib = tmp_path / "x" / "lib.so"
    ep = planted_dist(tmp_path, f"x:{lib}")
    assert "is an absolute path" in refused(ep)


def test_entry_point_climbing_out_with_dotdot_is_refused(tmp_path):
    ep = planted_dist(tmp_path, "x:../../x/lib.so")
    assert "leaves its package" in refused(ep)


def test_entry_point_with_a_package_that_is_no_name_is_refused(tmp_path):
    ep = planted_dist(tmp_path, "..x:lib.so")
    assert "is not a dotted package name" in refused(ep)


def test_entry_point_through_a_symlink_out_of_its_distribution_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "lib.so").write_bytes(b"")
    root = tmp_path / "root"
    (root / "x").mkdir(parents=True)
    (root / "x" / "link.so").symlink_to(outside / "lib.so")
    ep = planted_dist(root, "x:link.so", library="x/other.so")
    assert "outside the distribution's root" in refused(ep)


def test_entry_point_without_gobuilds_manifest_is_refused(tmp_path):
    ep = planted_dist(tmp_path, "x:lib.so", manifest=False)
    assert "pybuf.gobuild did not build it" in refused(ep)


def test_entry_point_not_in_its_record_is_refused(tmp_path):
    ep = planted_dist(tmp_path, "x:lib.so", library="x/lib.so")
    (Path(ep.dist._path) / "RECORD").write_text("zz_planted-1.0.dist-info/METADATA,,\n")
    assert "x/lib.so is not one of the distribution's files (RECORD)" in refused(ep)


def test_entry_point_of_a_distribution_without_record_needs_only_the_manifest(tmp_path):
    ep = planted_dist(tmp_path, "x:lib.so", record=False)
    assert gomodule.checked_library(ep) == str(tmp_path / "x" / "lib.so")


def test_entry_point_of_a_distribution_with_a_malformed_record_is_refused(tmp_path):
    ep = planted_dist(tmp_path, "x:lib.so")
    (Path(ep.dist._path) / "RECORD").write_text("x/lib.so,,,one field too many\n")
    assert "its RECORD cannot be read" in refused(ep)
