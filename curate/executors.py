"""Where per-shard work runs. Stages never know: they hand a function and the shards here.

Results always come back in shard order, so outputs are byte-identical whatever the worker count.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from curate.errors import ConfigError

EXECUTORS = ("local",)


def map_shards(
    fn: Callable[..., Any],
    stage: Any,
    dataset: Any,
    tmp: Path,
    workers: int,
    executor: str = "local",
) -> Iterator[Any]:
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor '{executor}'; available: {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if workers == 1 or len(dataset.shards) == 1:
        for shard in dataset.shards:
            yield fn(stage, dataset, shard, tmp)
        return
    # spawn, not fork: polars and torch hold thread pools that a forked child would inherit broken
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(fn, stage, dataset, shard, tmp) for shard in dataset.shards]
        for f in futures:
            yield f.result()
