"""Running code in subinterpreters, over CPython's private modules (3.12: _xxsubinterpreters,
3.13: _interpreters), and getting a JSON result back through a pipe.

Nothing here imports pybuf.
"""
import json
import os
import sys
import textwrap

if sys.version_info >= (3, 13):
    import _interpreters as _api
elif sys.version_info >= (3, 12):
    import _xxsubinterpreters as _api
else:
    _api = None

# 3.11 has no subinterpreter that an extension can declare support for.
SUBINTERPRETERS = sys.version_info >= (3, 12)
# Own-GIL interpreters where ctypes loads too (3.12's _ctypes refuses them).
OWN_GIL = sys.version_info >= (3, 13)


class SubinterpreterError(AssertionError):
    """Code run in a subinterpreter raised; the message is its traceback."""


def create(own_gil=False):
    if sys.version_info >= (3, 13):
        return _api.create(_api.new_config("isolated" if own_gil else "legacy"))
    return _api.create(isolated=own_gil)


def destroy(interp):
    _api.destroy(interp)


def run(interp, code):
    """Runs `code` (dedented) in `interp`; raises SubinterpreterError if it raised."""
    code = textwrap.dedent(code)
    if sys.version_info >= (3, 13):
        exc = _api.run_string(interp, code)
        if exc is not None:
            raise SubinterpreterError(exc.errdisplay or exc.formatted)
    else:
        try:
            _api.run_string(interp, code)
        except _api.RunFailedError as e:
            raise SubinterpreterError(str(e)) from None


def run_json(interp, code):
    """Runs `code`, which sets `result`, and returns that result (through JSON; up to
    64 KiB, the pipe is read once the code has run)."""
    r, w = os.pipe()
    try:
        run(interp, textwrap.dedent(code) + textwrap.dedent(f"""
            import json as _json, os as _os
            _data = _json.dumps(result).encode()
            while _data:
                _data = _data[_os.write({w}, _data):]
            del _json, _os, _data
        """))
        os.close(w)
        w = -1
        chunks = []
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
        return json.loads(b"".join(chunks))
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
