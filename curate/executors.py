"""Where per-shard work runs. Stages never know: they hand a function and the items here.

Results always come back in item order, so outputs are byte-identical whatever the worker count.
One process pool serves a whole stage (its global pass and its per-shard pass): starting Python
workers costs about a second each, too much to pay twice.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from curate.errors import ConfigError

EXECUTORS = ("local",)


class LocalExecutor:
    """In-process for one worker; a pool of `workers` spawned processes otherwise."""

    def __init__(self, workers: int = 1, name: str = "local"):
        if name not in EXECUTORS:
            raise ConfigError(f"unknown executor '{name}'; available: {', '.join(EXECUTORS)}")
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[..., Any], items: Sequence[Any], args: tuple = ()) -> Iterator[Any]:
        """Yields `fn(item, *args)` for each item, in order."""
        if self.workers == 1 or len(items) <= 1:
            for item in items:
                yield fn(item, *args)
            return
        if self._pool is None:
            # spawn, not fork: polars and torch hold thread pools a forked child inherits broken.
            # Each worker is one core's worth of work: its polars runs single-threaded.
            os.environ.setdefault("POLARS_MAX_THREADS", "1")
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        futures = [self._pool.submit(fn, item, *args) for item in items]
        try:
            for f in futures:
                yield f.result()
        finally:
            for f in futures:
                f.cancel()
