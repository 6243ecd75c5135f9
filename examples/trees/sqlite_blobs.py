"""SQLite over ctypes: a column blob is valid until the next step.

sqlite3_column_blob's pointer belongs to the statement and is valid until
the next sqlite3_step, sqlite3_reset or sqlite3_finalize; sqlite3_close
fails while a statement is not finalized. So three levels of owners:

    the connection (sqlite3_close)  <-  a statement (sqlite3_finalize)  <-  its current row

The row owner has no release of its own: its memory is the statement's. A
view of a blob keeps the statement, and the connection, alive; the next step
or reset invalidates the row first, and refuses (BufferError naming the
views) while a view of it lives.

Run it: ``python examples/trees/sqlite_blobs.py``.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

import pybuf

SQLITE_OK = 0
SQLITE_ROW = 100
SQLITE_DONE = 101

_lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
_lib.sqlite3_open.restype = ctypes.c_int
_lib.sqlite3_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
_lib.sqlite3_close.restype = ctypes.c_int
_lib.sqlite3_close.argtypes = [ctypes.c_void_p]
_lib.sqlite3_errmsg.restype = ctypes.c_char_p
_lib.sqlite3_errmsg.argtypes = [ctypes.c_void_p]
_lib.sqlite3_exec.restype = ctypes.c_int
_lib.sqlite3_exec.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                              ctypes.c_void_p, ctypes.c_void_p]
_lib.sqlite3_prepare_v2.restype = ctypes.c_int
_lib.sqlite3_prepare_v2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                    ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
for _f in (_lib.sqlite3_step, _lib.sqlite3_reset, _lib.sqlite3_finalize):
    _f.restype = ctypes.c_int
    _f.argtypes = [ctypes.c_void_p]
_lib.sqlite3_column_blob.restype = ctypes.c_void_p
_lib.sqlite3_column_blob.argtypes = [ctypes.c_void_p, ctypes.c_int]
_lib.sqlite3_column_bytes.restype = ctypes.c_int
_lib.sqlite3_column_bytes.argtypes = [ctypes.c_void_p, ctypes.c_int]


class SQLiteError(Exception):
    pass


class Connection:
    """A database connection; closed (sqlite3_close) after its statements."""

    def __init__(self, path: str = ":memory:") -> None:
        db = ctypes.c_void_p()
        rc = _lib.sqlite3_open(path.encode(), ctypes.byref(db))
        handle = db.value
        if rc != SQLITE_OK:
            _lib.sqlite3_close(handle)
            raise SQLiteError(f"sqlite3_open({path!r}): {rc}")
        self._handle = handle

        def close_connection() -> None:
            # SQLITE_BUSY here would mean a statement outlived its connection
            if (rc := _lib.sqlite3_close(handle)) != SQLITE_OK:
                raise SQLiteError(f"sqlite3_close: {rc}, a statement is not finalized")

        self.owner = pybuf.Owner(close_connection, name=f"sqlite {path}")

    def _error(self, what: str) -> SQLiteError:
        message: bytes = _lib.sqlite3_errmsg(self._handle)
        return SQLiteError(f"{what}: {message.decode()}")

    def execute(self, sql: str) -> None:
        if self.owner.closed:
            raise ValueError("the connection is closed")
        if _lib.sqlite3_exec(self._handle, sql.encode(), None, None, None) != SQLITE_OK:
            raise self._error("sqlite3_exec")

    def prepare(self, sql: str) -> Statement:
        return Statement(self, sql)

    def close(self) -> None:
        """Closes its statements too; sqlite3_close once the last view is gone."""
        self.owner.close()


class Statement:
    """A prepared statement; ``blob(i)`` views column i of the current row."""

    def __init__(self, connection: Connection, sql: str) -> None:
        if connection.owner.closed:
            raise ValueError("the connection is closed")
        stmt = ctypes.c_void_p()
        if _lib.sqlite3_prepare_v2(connection._handle, sql.encode(), -1, ctypes.byref(stmt),
                                   None) != SQLITE_OK:
            raise connection._error("sqlite3_prepare_v2")
        self._handle = stmt.value
        self.owner = connection.owner.child(_lib.sqlite3_finalize, arg=self._handle, name=sql)
        self._row: pybuf.Owner | None = None

    def _next_call(self) -> None:
        """Before a call that invalidates the current row's blobs."""
        if self.owner.closed:
            raise ValueError("the statement is closed")
        if self._row is not None:
            self._row.invalidate()  # BufferError while a view of the row lives
            self._row = None

    def step(self) -> bool:
        """True when a row is ready (its blobs valid until the next step)."""
        self._next_call()
        rc = _lib.sqlite3_step(self._handle)
        if rc == SQLITE_DONE:
            return False
        if rc != SQLITE_ROW:
            raise SQLiteError(f"sqlite3_step: {rc}")
        self._row = self.owner.child(name=f"row of {self.owner.name}")
        return True

    def reset(self) -> None:
        self._next_call()
        _lib.sqlite3_reset(self._handle)

    def blob(self, column: int) -> pybuf.Buffer:
        if self._row is None:
            raise ValueError("no current row: call step() first")
        address = _lib.sqlite3_column_blob(self._handle, column)
        size = _lib.sqlite3_column_bytes(self._handle, column)
        if not address:
            return pybuf.alloc(0)  # an empty blob (or NULL): no memory to view
        return self._row.buffer(address, size, readonly=True)

    def close(self) -> None:
        """sqlite3_finalize once the last view of its rows is gone."""
        self.owner.close()


def main() -> None:
    db = Connection()
    db.execute("CREATE TABLE t (b BLOB); INSERT INTO t VALUES (x'01020304'), (x'0a0b')")
    stmt = db.prepare("SELECT b FROM t")
    stmt.step()
    first = np.asarray(stmt.blob(0))
    print(first.tolist())  # [1, 2, 3, 4]
    try:
        stmt.step()  # would invalidate `first`
    except BufferError as e:
        print("refused:", str(e).splitlines()[0])
    kept = first.copy()
    del first
    stmt.step()
    second = np.asarray(stmt.blob(0))
    db.close()  # finalize, then close, after `second` is gone
    print(kept.tolist(), second.tolist(), db.owner.released)  # [1, 2, 3, 4] [10, 11] False
    del second
    print(stmt.owner.released, db.owner.released)  # True True


if __name__ == "__main__":
    main()
