"""Where per-shard work runs. Stages never know: they hand a function and the items here.

Results always come back in item order, so outputs are byte-identical whatever the worker count.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from curate.errors import ConfigError

EXECUTORS = ("local",)


def map_items(
    fn: Callable[..., Any], items: Sequence[Any], args: tuple, workers: int, executor: str = "local"
) -> Iterator[Any]:
    """Yields `fn(item, *args)` for each item, in order; processes when workers > 1."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor '{executor}'; available: {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(items) <= 1:
        for item in items:
            yield fn(item, *args)
        return
    # spawn, not fork: polars and torch hold thread pools that a forked child would inherit broken
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=ctx) as pool:
        futures = [pool.submit(fn, item, *args) for item in items]
        try:
            for f in futures:
                yield f.result()
        finally:
            for f in futures:
                f.cancel()
