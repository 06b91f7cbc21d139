"""Read a large database file once, in another process, when it is opened.

Why: caller-ID runs at ring time and reads a few random pages of the phone index and of
the contacts table. On a just-started server those pages are on disk: at 1M contacts the
first lookups' p99 was ~3.5 ms (disk reads) against ~0.2-0.5 ms once the pages were
cached. One sequential read of the file (~1.7 s for 880 MB here) leaves it in the
kernel's page cache, as PostgreSQL's pg_prewarm does. ``posix_fadvise(WILLNEED)`` was
tried first: on this machine's disk it read nothing.

Why another process: closing *any* descriptor of the database file in this process drops
every POSIX lock SQLite holds on it (SQLite's "how to corrupt your database", 2.2): a
reader thread here made a WAL reader in the same process see stale data. ``cat`` in a
child process has its own descriptors and locks.

Only for files of at least ``MIN_BYTES`` (smaller ones are read quickly anyway) that fit
in a quarter of the memory the machine has free, so a database bigger than the memory
does not push everything else out.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path

log = logging.getLogger(__name__)

MIN_BYTES = 64 << 20


def free_memory_bytes() -> int:
    """Memory the system has free now (0 where it cannot say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def worth_it(size: int, free_bytes: int) -> bool:
    """Whether a file of ``size`` bytes should be read ahead with ``free_bytes`` free."""
    return MIN_BYTES <= size <= free_bytes // 4


def _read_in_child(cat: str, path: Path) -> None:
    try:
        subprocess.run([cat, str(path)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    except OSError as exc:  # a read-ahead that cannot be had only costs speed
        log.debug("database %s: no read-ahead (%s)", path, exc)


def prefetch(path: Path, free_bytes: int | None = None) -> threading.Thread | None:
    """Start reading ``path`` in a child process (a daemon thread waits for it); None if
    it is not worth it, too big, or there is no ``cat``."""
    cat = shutil.which("cat")
    try:
        size = path.stat().st_size
    except OSError:
        return None
    free = free_memory_bytes() if free_bytes is None else free_bytes
    if cat is None or not worth_it(size, free):
        return None
    waiter = threading.Thread(target=_read_in_child, args=(cat, path), name="db-prefetch",
                              daemon=True)
    waiter.start()
    return waiter
