"""Which shared memory this process sees: the token a by-name pickle carries.

A segment name means something only to processes that share one /dev/shm:
the same boot of the same machine, and the same mount (a container, or a
process under ``unshare -m`` with its own tmpfs, has another one although the
kernel is the same). The token is the boot id and the device number of the
/dev/shm mount, so it differs in either case.
"""

from __future__ import annotations

import functools
import os

SHM_DIR = "/dev/shm"
_BOOT_ID = "/proc/sys/kernel/random/boot_id"


@functools.lru_cache(maxsize=1)
def host_token() -> str | None:
    """``"<boot id>/<st_dev of /dev/shm>"``, or None where either is unknown."""
    try:
        with open(_BOOT_ID) as f:
            boot = f.read().strip()
        device = os.stat(SHM_DIR).st_dev
    except OSError:
        return None
    return f"{boot}/{device:x}"


def foreign_segment_message(name: str) -> str:
    return (
        f'name "{name}": the segment lives in the shared memory of another host or container '
        f"(another {SHM_DIR}); pybuf.shm objects travel by name only between processes that share {SHM_DIR}"
    )


def check_same_host(name: str, token: str | None) -> None:
    """Raise SegmentNotFoundError when a by-name pickle was made where /dev/shm is another one.

    ``token=None`` comes from pickles made before the token existed: no check.
    """
    if token is not None and token != host_token():
        from ._pybuf import SegmentNotFoundError

        raise SegmentNotFoundError(foreign_segment_message(name))
