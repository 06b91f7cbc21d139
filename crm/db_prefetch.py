"""Read the database file once, in the background, when it is opened.

Why: caller-ID runs at ring time and reads a few random pages of the phone index and of
the contacts table. On a just-started server those pages are on disk: at 1M contacts the
first lookups' p99 was ~4 ms (disk reads) against ~0.2 ms once the pages were cached.
One sequential read of the file (~1.7 s for 880 MB here, mostly waiting on the disk, on
a daemon thread) leaves it in the kernel's page cache, as PostgreSQL's pg_prewarm does.
``posix_fadvise(WILLNEED)`` was tried first: on this machine's disk it read nothing.

Only when the file fits comfortably in the memory the machine has free (a quarter of
it), so a database bigger than the machine's memory does not push everything else out.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def free_memory_bytes() -> int:
    """Memory the system has free now (0 where it cannot say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def read_through(path: Path) -> int:
    """Read ``path`` start to end into one reused buffer; the bytes read."""
    done = 0
    buffer = bytearray(CHUNK)
    try:
        with open(path, "rb", buffering=0) as file:
            while count := file.readinto(buffer):
                done += count
    except OSError as exc:  # a read-ahead that cannot be had only costs speed
        log.debug("database %s: no read-ahead (%s)", path, exc)
    return done


def prefetch(path: Path, free_bytes: int | None = None) -> threading.Thread | None:
    """Start reading ``path`` on a daemon thread; None if it is not worth it or too big."""
    free = free_memory_bytes() if free_bytes is None else free_bytes
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size == 0 or size > free // 4:
        return None
    reader = threading.Thread(target=read_through, args=(path,), name="db-prefetch",
                              daemon=True)
    reader.start()
    return reader
