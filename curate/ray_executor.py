"""The Ray executor: the same `map` as the local pool, each item a Ray task on a cluster.

What runs where: the driver (the `winnow` process) opens the dataset, plans and writes the
manifest; every per-shard step (clean, dedup hashing, LSH band grouping and pair verification,
filter signals, label functions and features, writing output shards) is a task on the cluster.
Tasks read input shards and write their outputs by path, so on a multi-node cluster the input,
the output folder and winnow itself must be at the same paths on every node (a shared file
system, like datatrove's executors). Results come back in item order: outputs are byte-identical
to the local executor's.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from curate.errors import ConfigError, RunError

INSTALL = "pip install 'winnow[ray]'"


def _ray():
    try:
        import ray
    except ImportError as e:
        raise ConfigError(f"the ray executor needs Ray, which is not installed: {INSTALL}") from e
    return ray


class RayExecutor:
    """Tasks on the Ray cluster at `address` ("auto": the one `ray start` made on this machine),
    or on a local cluster of `workers` CPUs started for the run. The connection is made once per
    process and kept for the next stages (starting a local cluster costs seconds); Ray closes it
    when the process exits. A process already connected to Ray (a notebook, a test that called
    `ray.init`) keeps its cluster."""

    name = "ray"

    def __init__(self, workers: int = 1, address: str = ""):
        self._ray = _ray()
        self.workers = workers
        self.address = address

    @property
    def processes(self) -> int:
        """Ray's workers are processes: each loads what a task needs once."""
        return self.workers

    def __enter__(self) -> RayExecutor:
        ray = self._ray
        if not ray.is_initialized():
            # tasks see the driver's environment: polars in each task uses one core, like a
            # local worker does, instead of every task starting a thread per core
            env = {"env_vars": {"POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "1")}}
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "runtime_env": env,
            }
            try:
                if self.address:
                    ray.init(address=self.address, **kwargs)
                else:
                    ray.init(num_cpus=self.workers, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = self.address or "a local cluster"
                raise RunError(f"cannot start or reach Ray at {where}: {e}") from e
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, cpus)
        return self

    def __exit__(self, *exc: object) -> None:
        pass  # the connection serves the run's next stages too

    def map(self, fn: Callable[..., Any], items: Sequence[Any], args: tuple = ()) -> Iterator[Any]:
        """Yields `fn(item, *args)` for each item, in item order; at most two tasks per CPU are
        in flight, so a large item list never floods the cluster's object store."""
        ray = self._ray
        if not items:
            return
        task = ray.remote(num_cpus=1, max_retries=2)(fn)
        shared = [ray.put(a) for a in args]  # one copy in the object store, not one per task
        pending: deque = deque()
        nxt = 0
        limit = 2 * self.workers
        try:
            while nxt < len(items) or pending:
                while nxt < len(items) and len(pending) < limit:
                    pending.append(task.remote(items[nxt], *shared))
                    nxt += 1
                ref = pending.popleft()
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayTaskError as e:  # the task's own error, exit code kept
                    cause = getattr(e, "cause", None)
                    raise (cause if isinstance(cause, BaseException) else e) from None
        finally:
            for ref in pending:
                ray.cancel(ref)
