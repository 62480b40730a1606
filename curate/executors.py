"""Where per-shard work runs. Stages never know: they hand a function and the items here.

Results always come back in item order, so outputs are byte-identical whatever the worker count
or executor. One process pool serves a whole stage (its global pass and its per-shard pass):
starting Python workers costs about a second each, too much to pay twice. A stage whose tasks
spend their time outside the GIL (compiled nogil loops, numpy, polars, Arrow) runs them on
threads of this process instead: no worker start, no pickling, one copy of what a task loads.
`make_executor` picks the local pool or Ray (curate/ray_executor.py); both have `workers`,
`processes`, `map` and `with`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from typing import Any

import pyarrow as pa

from curate.errors import ConfigError

EXECUTORS = ("local", "ray")


def make_executor(name: str, workers: int = 1, address: str = "", threads: bool = False):
    """The executor a run asked for: `local` (this machine; `threads`: workers are threads of
    this process) or `ray` (a Ray cluster: the one at `address`, or a local one started for the
    run; always processes)."""
    if name == "local":
        if address:
            raise ConfigError("--ray-address needs --executor ray")
        return LocalExecutor(workers, threads=threads)
    if name == "ray":
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        from curate.ray_executor import RayExecutor

        return RayExecutor(workers, address)
    raise ConfigError(f"unknown executor '{name}'; available: {', '.join(EXECUTORS)}")


class LocalExecutor:
    """In-process for one worker; otherwise this process plus `workers - 1` spawned processes,
    or, with `threads`, `workers` threads of this process."""

    name = "local"

    def __init__(self, workers: int = 1, name: str = "local", threads: bool = False):
        if name != "local":
            raise ConfigError(f"LocalExecutor runs only 'local', not '{name}' (see make_executor)")
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.threads = threads
        self._pool: ProcessPoolExecutor | None = None
        self._threads: ThreadPoolExecutor | None = None

    @property
    def processes(self) -> int:
        """Processes the tasks run in: what each loads once (compiled code, caches) it loads
        this many times."""
        return 1 if self.threads else self.workers

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._threads is not None:
            self._threads.shutdown(cancel_futures=True)
            self._threads = None
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
            pa.set_cpu_count(self._arrow_threads)
        release_free_memory()

    def warm(self, modules: Sequence[str] = ("curate.stage",)) -> None:
        """Starts the worker processes now, each importing `modules`, so that their
        start (about 0.7 s each) overlaps the run's planning instead of delaying its first
        parallel step. No-op with one worker, threads or a pool already started."""
        if self.workers == 1 or self.threads or self._pool is not None:
            return
        # spawn, not fork: polars and torch hold thread pools a forked child inherits broken.
        # Each worker is one core's worth of work: its polars runs single-threaded, and so
        # does Arrow's pool, here too (this process is one of the workers) until the pool
        # closes: two threads per process on as many processes as cores measured ~6% slower
        os.environ.setdefault("POLARS_MAX_THREADS", "1")
        self._arrow_threads = pa.cpu_count()
        pa.set_cpu_count(1)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers - 1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_die_with_parent,
            initargs=(os.getpid(),),
        )
        for _ in range(self.workers - 1):  # one task per worker: the pool spawns them all
            self._pool.submit(_import, tuple(modules))

    def map(self, fn: Callable[..., Any], items: Sequence[Any], args: tuple = ()) -> Iterator[Any]:
        """Yields `fn(item, *args)` for each item, in item order.

        With workers > 1 this process is one of the workers: it takes items from the back of the
        queue while `workers - 1` spawned processes take them from the front, so no core idles
        while the others start (about a second each)."""
        if self.workers == 1 or len(items) <= 1:
            for item in items:
                yield fn(item, *args)
            return
        if self.threads:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="winnow")
            # Executor.map submits every item at once and cancels the rest if one fails
            yield from self._threads.map(lambda item: fn(item, *args), items)
            return
        self.warm()
        assert self._pool is not None
        pending = deque(range(len(items)))
        results: dict[int, Any] = {}
        inflight: dict[Future, int] = {}
        try:
            for nxt in range(len(items)):
                while nxt not in results:
                    for f in [f for f in inflight if f.done()]:
                        results[inflight.pop(f)] = f.result()
                    # two items queued per worker: it never waits for the parent to refill
                    while pending and len(inflight) < 2 * (self.workers - 1):
                        i = pending.popleft()
                        inflight[self._pool.submit(fn, items[i], *args)] = i
                    if nxt in results:
                        break
                    if pending:
                        i = pending.pop()
                        results[i] = fn(items[i], *args)
                    else:
                        wait(inflight, return_when=FIRST_COMPLETED)
                yield results.pop(nxt)
        finally:
            for f in inflight:
                f.cancel()


def release_free_memory() -> None:
    """Gives the memory a stage freed back to the system: this process runs the next stage of a
    `winnow run`, and Arrow's pool and glibc's per-thread arenas keep freed pages (dedup on two
    threads, 50k documents: 467 -> 326 MB RSS after the stage)."""
    pa.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _import(modules: tuple[str, ...]) -> None:
    import importlib

    for name in modules:
        importlib.import_module(name)


def _die_with_parent(parent: int) -> None:
    """A worker whose parent is killed (kill -9 never lets the pool shut down) would wait on its
    queue forever: on Linux the kernel sends it SIGKILL when the parent dies. (Also: a worker's
    Arrow pool gets one thread, as its polars does.)"""
    pa.set_cpu_count(1)
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the worker lingers until its queue breaks
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
