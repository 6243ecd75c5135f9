"""libarchive over ctypes: a data block is valid until the next read.

archive_read_data_block hands out a block that the next call (another
block, the next header) may overwrite or free; archive_read_free frees
everything; archive_read_open_memory reads the caller's bytes in place
(uncompressed tar blocks point straight into them). So three owners, each
the parent of the next:

    the input bytes (pybuf.from_buffer)  <-  the archive  <-  the current block

A view of a block keeps the archive and the input alive; the next read first
invalidates the current block, which refuses (BufferError naming the views)
while one of them lives instead of letting libarchive overwrite it.

Run it: ``python examples/trees/archive_blocks.py``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import tarfile

import pybuf

ARCHIVE_OK = 0
ARCHIVE_EOF = 1
ARCHIVE_WARN = -20

_lib = ctypes.CDLL(ctypes.util.find_library("archive") or "libarchive.so.13")
_lib.archive_read_new.restype = ctypes.c_void_p
_lib.archive_read_new.argtypes = []
for _f in (_lib.archive_read_support_format_all, _lib.archive_read_support_filter_all,
           _lib.archive_read_free):
    _f.restype = ctypes.c_int
    _f.argtypes = [ctypes.c_void_p]
_lib.archive_read_open_memory.restype = ctypes.c_int
_lib.archive_read_open_memory.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
_lib.archive_read_next_header.restype = ctypes.c_int
_lib.archive_read_next_header.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
_lib.archive_entry_pathname.restype = ctypes.c_char_p
_lib.archive_entry_pathname.argtypes = [ctypes.c_void_p]
_lib.archive_read_data_block.restype = ctypes.c_int
_lib.archive_read_data_block.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
                                         ctypes.POINTER(ctypes.c_size_t),
                                         ctypes.POINTER(ctypes.c_int64)]
_lib.archive_error_string.restype = ctypes.c_char_p
_lib.archive_error_string.argtypes = [ctypes.c_void_p]


class Archive:
    """Reads an archive held in memory, entry by entry, block by block."""

    def __init__(self, data: bytes, name: str = "archive") -> None:
        source = pybuf.from_buffer(data, readonly=True, name=f"{name} input")
        handle = _lib.archive_read_new()
        if not handle:
            raise MemoryError("archive_read_new")
        _lib.archive_read_support_format_all(handle)
        _lib.archive_read_support_filter_all(handle)
        # The archive's memory belongs to the input's: the input is given
        # back only after archive_read_free has run.
        self.owner = source.owner.child(_lib.archive_read_free, arg=handle, name=name)
        self._handle = handle
        self._block: pybuf.Owner | None = None
        self._check(_lib.archive_read_open_memory(handle, source.address, source.nbytes))

    def _check(self, rc: int) -> int:
        if rc < ARCHIVE_WARN:
            message = _lib.archive_error_string(self._handle) or b"unknown error"
            raise OSError(f"libarchive: {message.decode()}")
        return rc

    def _next_call(self) -> None:
        """Before any call that invalidates the current block."""
        if self.owner.closed:
            raise ValueError("the archive is closed")
        if self._block is not None:
            self._block.invalidate()  # BufferError while a view of it lives
            self._block = None

    def next_entry(self) -> str | None:
        """The next entry's path, or None at the end."""
        self._next_call()
        entry = ctypes.c_void_p()
        if self._check(_lib.archive_read_next_header(self._handle, ctypes.byref(entry))) == ARCHIVE_EOF:
            return None
        path: bytes = _lib.archive_entry_pathname(entry)
        return path.decode()

    def read_block(self) -> pybuf.Buffer | None:
        """The next block of the current entry (valid until the next call), or None."""
        self._next_call()
        address, size, offset = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_int64()
        while True:
            rc = self._check(_lib.archive_read_data_block(
                self._handle, ctypes.byref(address), ctypes.byref(size), ctypes.byref(offset)))
            if rc == ARCHIVE_EOF:
                return None
            if size.value:
                break
        self._block = self.owner.child(name=f"block at {offset.value}")
        return self._block.buffer(address.value, size.value, readonly=True)

    def close(self) -> None:
        """archive_read_free once the last view of a block is gone."""
        self.owner.close()


def make_tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def main() -> None:
    archive = Archive(make_tar({"a.txt": b"alpha\n", "b.txt": b"bravo\n"}))
    while (path := archive.next_entry()) is not None:
        block = archive.read_block()
        assert block is not None
        view = memoryview(block)
        print(path, bytes(view))
        try:
            archive.read_block()  # would overwrite `view`
        except BufferError as e:
            print("refused:", str(e).splitlines()[0])
        view.release()
        del block
    archive.close()
    print(archive.owner.released)  # True


if __name__ == "__main__":
    main()
