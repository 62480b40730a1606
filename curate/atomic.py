"""Outputs appear whole or not at all: build in a hidden temporary folder beside OUT, rename."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def sweep_stale(out: Path) -> None:
    """Removes the `.OUT.tmp-<pid>` and `.OUT.old-<pid>` folders of dead earlier runs."""
    for stale in [*out.parent.glob(f".{out.name}.tmp-*"), *out.parent.glob(f".{out.name}.old-*")]:
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def write_atomically(path: Path, data: bytes) -> None:
    """The file appears whole or not at all, even if this process is killed while writing."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    tmp.write_bytes(data)
    os.replace(tmp, path)


def fresh_tmp(out: Path) -> Path:
    """A new empty `.OUT.tmp-<pid>` beside OUT, after sweeping those of dead earlier runs."""
    sweep_stale(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def replace_atomically(tmp: Path, out: Path) -> None:
    """Rename tmp to out; an existing out is moved aside first so no mix of both ever exists."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
