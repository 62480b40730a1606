"""One writer per output: an exclusive `flock` on a lock file beside the folder being written.

The kernel drops the lock when its process dies, however it dies (SIGKILL included), so a crashed
run never blocks the next one and nothing has to judge whether a lock is stale. A second writer
fails at once (exit 2) rather than wait: two runs into one folder is a mistake to report, not
a queue. The file is removed on release; a writer that locked a file just removed by its holder
notices (the path no longer names its file) and tries again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from curate.errors import OutputError


class LockedError(OutputError):
    """Another live process holds the lock (exit 2)."""


class FolderLock:
    """`with FolderLock(out):` holds `.OUT.lock` beside OUT for the block."""

    def __init__(self, out: Path, what: str = "output"):
        self.out = Path(out)
        self.path = self.out.parent / f".{self.out.name}.lock"
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise LockedError(
                    f"another winnow process (pid {holder}) is writing this {self.what}; "
                    "wait for it to finish or stop it (its lock goes with it)",
                    self.out,
                ) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                self._fd = fd
                return
            os.close(fd)  # the holder removed this file as we locked it: lock the new one

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):  # unlinked while locked: none takes it
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None
