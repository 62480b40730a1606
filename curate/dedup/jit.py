"""Whether dedup's compiled kernels (curate/dedup/kernels.py) are loaded in this process.

Loading them costs ~0.7 s a process (numba's import, its registries, the cached machine code),
paid once: when the workers are threads, a thread of its own loads the kernels while the tasks
start on the numpy passes, which give the same bits (tests/test_tokens.py), and tasks switch to
the compiled loops once they are ready. Which shards took which path never shows in the output.
(The load is Python importing numba: it holds the GIL, so it overlaps little with other work.)
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_ready = threading.Event()
_lock = threading.Lock()  # one background loader
_loading = threading.Lock()  # one load at a time
_loader: threading.Thread | None = None


def load() -> None:
    """Loads the kernels now (waits for a background load already under way)."""
    _load()


def load_in_background() -> None:
    global _loader
    with _lock:
        if _loader is None and not _ready.is_set():
            _loader = threading.Thread(target=_load, name="winnow-jit", daemon=True)
            _loader.start()


def ready() -> bool:
    return _ready.is_set()


def _load() -> None:
    with _loading:
        if not _ready.is_set():
            _load_kernels()
            _ready.set()


def _load_kernels() -> None:
    import numpy as np
    import polars as pl

    from curate.dedup.kernels import jaccard_pairs
    from curate.dedup.signatures import oph_fingerprints
    from curate.dedup.tokens import doc_keys, token_hashes

    # one call of each kernel on a tiny input: numba loads a function's code on its first call
    with _no_scipy_blas():
        tokens, offsets = token_hashes(pl.Series(["a b c d e f g"]), True, compiled=True)
        doc_keys(tokens, offsets, compiled=True)
        oph_fingerprints(tokens, offsets.astype(np.int64), 5, 128, 0)
        one = np.zeros(1, np.int64)
        jaccard_pairs(np.zeros(1, np.uint32), one, one + 1, one, one, np.zeros(1))


@contextmanager
def _no_scipy_blas() -> Iterator[None]:
    """numba's first call imports its numpy support, which imports scipy.linalg only to learn
    whether compiled code may call BLAS (np.dot and friends, which these kernels never use):
    0.3-0.5 s a process, a third of the whole load. Unless scipy.linalg is already loaded, that
    one import fails for the duration (numba then reports no BLAS) and works again after."""
    name = "scipy.linalg.cython_blas"
    if name in sys.modules or "scipy.linalg" in sys.modules:
        yield
        return
    sys.modules[name] = None  # type: ignore[assignment]  # import of it raises ImportError
    try:
        yield
    finally:
        if sys.modules.get(name, 0) is None:
            del sys.modules[name]
