"""The one stage mechanism every stage uses: signals, then decisions (DESIGN.md section 2).

A stage computes signal columns `<stage>.<signal>` on a shard, then its ordered rules decide:
the first failing rule becomes the row's `reason`. `run_stage` does the rest for every stage:
output-folder safety, the up-to-date check, per-shard work on an executor, `data/` + `rejected/`
+ `manifest.json` written into a hidden temporary folder and renamed into place at the end.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from curate import __version__
from curate.atomic import sweep_stale
from curate.config import as_dict, canonical_sha256
from curate.dataset import Columns, Dataset, Shard, read_json, write_shard
from curate.errors import OutputError, RunError
from curate.executors import LocalExecutor, make_executor
from curate.lock import FolderLock
from curate.resume import Partial, record_shard
from curate.scratch import SCRATCH_FORMAT, SUFFIX, read_frame, write_frame

MANIFEST_SCHEMA_VERSION = 1
REASON, STAGE = "reason", "stage"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Rule:
    """A named decision: `fails` is True where the row is rejected for `reason`."""

    reason: str
    fails: pl.Expr


class Stage:
    """Subclasses set `name` and `config_class` and implement `signals` and `rules`."""

    name: ClassVar[str]
    config_class: ClassVar[type]
    threads: ClassVar[bool] = False
    """True: the stage's tasks spend their time outside the GIL (compiled nogil loops, numpy,
    polars, Arrow), so its local workers are threads of one process rather than processes."""

    def __init__(self, config: Any = None):
        self.config = config if config is not None else self.config_class()

    def prepare(self, dataset: Dataset, ctx: StageContext) -> None:
        """Global pass over the whole dataset before per-shard work (e.g. dedup clusters)."""

    def signals(self, df: pl.DataFrame, shard: Shard) -> pl.DataFrame:
        raise NotImplementedError

    def rules(self) -> list[Rule]:
        raise NotImplementedError

    def extra_fingerprints(self, mode: str) -> dict:
        """Fingerprints of inputs other than the dataset (e.g. dedup's --against dataset)."""
        return {}

    def manifest_extra(self) -> dict:
        """Stage-specific facts for the manifest (e.g. dedup's S-curve)."""
        return {}

    def summed_signals(self) -> list[str]:
        """Signal columns whose totals over all rows go to the manifest (e.g. redactions)."""
        return []

    def decide(self, df: pl.DataFrame) -> pl.Series:
        reason: pl.Expr = pl.lit(None, dtype=pl.String)
        for rule in reversed(self.rules()):
            reason = (
                pl.when(rule.fails.fill_null(False)).then(pl.lit(rule.reason)).otherwise(reason)
            )
        return df.with_columns(reason.alias(REASON))[REASON]  # a bare literal broadcasts


@dataclass
class StageContext:
    """What a stage's global pass may use: a scratch folder (removed at the end; kept across an
    interrupted run with the same input and config, so a stage may reuse what it finds there)
    and the executor, so per-shard parts of the global pass run in parallel like everything else,
    on this machine or on a Ray cluster."""

    workdir: Path
    executor: Any
    seed: int = 0
    hooks: Any = None

    def map(self, fn: Callable[..., Any], items: list[Any], *args: Any) -> list[Any]:
        """`[fn(item, *args) for item in items]`, in order, on the run's executor."""
        out = []
        for res in self.executor.map(fn, items, args):
            out.append(res)
            if self.hooks is not None:
                self.hooks.after("tasks")
        return out


class ShardDecisions:
    """Signals a global pass computed for the whole dataset (row order of the shards, one after
    the other), split into per-shard files so each shard's worker reads only its own rows."""

    def __init__(self, folder: Path):
        self.folder = folder

    @classmethod
    def write(
        cls, frame: pl.DataFrame, dataset: Dataset, folder: Path, start: int = 0
    ) -> ShardDecisions:
        """`frame` holds the dataset's rows from `start` on, in shard order."""
        shutil.rmtree(folder, ignore_errors=True)  # an interrupted run's half-written one
        folder.mkdir()
        for s in dataset.shards:
            write_frame(frame.slice(start, s.rows), folder / f"{s.index:05d}{SUFFIX}")
            start += s.rows
        return cls(folder)

    def attach(self, df: pl.DataFrame, shard: Shard) -> pl.DataFrame:
        """The shard's frame with its decision columns (replacing same-named input columns)."""
        decisions = read_frame(self.folder / f"{shard.index:05d}{SUFFIX}")
        return pl.concat([df.drop(decisions.columns, strict=False), decisions], how="horizontal")


@dataclass
class StageResult:
    out: Path
    manifest: dict
    skipped: bool = False
    counts: dict = field(init=False)

    def __post_init__(self) -> None:
        self.counts = self.manifest["counts"]

    def summary_row(self, label: str) -> dict:
        c = self.counts
        return {
            "stage": label,
            "status": "skipped" if self.skipped else "ran",
            "input": c["input"],
            "kept": c["kept"],
            "rejected": c["rejected"],
            "by_reason": c["by_reason"],
            "seconds": 0.0 if self.skipped else self.manifest["timings"]["total_s"],
        }


@dataclass(frozen=True)
class RunOptions:
    columns: Columns = field(default_factory=Columns)
    seed: int = 0
    workers: int = 1
    executor: str = "local"
    force: bool = False
    fingerprint: str = "sha256"
    ray_address: str = ""


def run_stage(
    stage: Stage,
    input_path: str | Path,
    out: str | Path,
    options: RunOptions = RunOptions(),
    progress: Progress | None = None,
) -> StageResult:
    """Runs one stage into OUT, holding OUT's lock (a second writer exits 2) and resuming the
    work of an earlier interrupted run with the same input and config (curate/resume.py)."""
    input_path, out = Path(input_path), Path(out)
    check_output_path(input_path, out, options.force)
    with FolderLock(out):
        return _run_locked(stage, input_path, out, options, progress)


def _run_locked(
    stage: Stage,
    input_path: Path,
    out: Path,
    options: RunOptions,
    progress: Progress | None,
) -> StageResult:
    started = _now()
    t0 = time.perf_counter()
    executor = make_executor(
        options.executor, options.workers, options.ray_address, threads=stage.threads
    )
    if isinstance(executor, LocalExecutor):  # workers start while the input is read
        executor.warm(("curate.stage", type(stage).__module__))
    try:
        return _run_with(stage, input_path, out, options, progress, executor, started, t0)
    finally:
        executor.__exit__(None, None, None)


def _run_with(
    stage: Stage,
    input_path: Path,
    out: Path,
    options: RunOptions,
    progress: Progress | None,
    executor: Any,
    started: str,
    t0: float,
) -> StageResult:
    dataset = Dataset.open(input_path, options.columns)
    resolved = {
        "stage": stage.name,
        "params": as_dict(stage.config),
        "columns": options.columns.as_dict(),
    }
    config_sha = canonical_sha256(resolved)
    fingerprints = dataset.fingerprint(options.fingerprint)
    extra = stage.extra_fingerprints(options.fingerprint)
    partial = Partial(out)
    sweep_stale(out)

    previous = read_manifest(out)
    if previous is not None and _up_to_date(
        previous, out, config_sha, fingerprints, extra, options
    ):
        partial.discard()  # e.g. killed between renaming OUT into place and cleaning up
        return StageResult(out=out, manifest=previous, skipped=True)
    if out.exists() and any(out.iterdir()) and not options.force:
        raise OutputError(
            "exists (an earlier winnow output made from another input or "
            "config); pass --force to replace it",
            out,
        )

    key = {
        "winnow_version": __version__,
        "scratch_format": SCRATCH_FORMAT,
        "config_sha256": config_sha,
        "seed": options.seed,
        "input": [{k: v for k, v in f.items() if k != "path"} for f in fingerprints],
        "extra": extra,
    }
    resumed = partial.open(key)
    hooks = _KillHooks(stage.name)
    t_prepare = time.perf_counter()
    ctx = StageContext(partial.work, executor, options.seed, hooks)
    with executor:
        prepared = partial.load_prepared() if resumed else None
        if prepared is not None:
            stage = prepared
        else:
            stage.prepare(dataset, ctx)
            partial.save_prepared(stage)
            hooks.after("prepared")
        t_shards = time.perf_counter()
        done = partial.finished_shards()
        reused = len(done)
        todo = [s for s in dataset.shards if s.index not in done]
        if progress and done:
            progress(stage.name, len(done), len(dataset.shards))
        for shard, res in zip(
            todo, executor.map(_process_shard, todo, (stage, dataset, partial)), strict=True
        ):
            done[shard.index] = res
            if progress:
                progress(stage.name, len(done), len(dataset.shards))
            hooks.after("shards")
    results = [done[s.index] for s in dataset.shards]
    t_end = time.perf_counter()
    by_reason: dict[str, int] = {}
    for r in results:
        for k, v in r["by_reason"].items():
            by_reason[k] = by_reason.get(k, 0) + v
    kept = sum(r["data"]["rows"] for r in results)
    rejected = sum(r["rejected"]["rows"] for r in results)
    if kept + rejected != dataset.rows:  # the nothing-lost invariant, checked on every run
        partial.discard()
        raise RunError(
            f"row count mismatch: {dataset.rows} in, {kept} kept + {rejected} rejected", out
        )
    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "stage": stage.name,
        "winnow_version": __version__,
        "config": resolved,
        "config_sha256": config_sha,
        "input": {
            "path": str(input_path),
            "data_dir": str(dataset.data_dir),
            "fingerprint": options.fingerprint,
            "shards": fingerprints,
            "rows": dataset.rows,
            "extra": extra,
        },
        "output": {
            "data": [r["data"] for r in results],
            "rejected": [r["rejected"] for r in results],
        },
        "counts": {
            "input": dataset.rows,
            "kept": kept,
            "rejected": rejected,
            "by_reason": dict(sorted(by_reason.items())),
        },
        "stage_info": {
            **stage.manifest_extra(),
            **(
                {"signal_sums": _add_up([r["sums"] for r in results])}
                if stage.summed_signals()
                else {}
            ),
        },
        "timings": {
            "open_s": round(t_prepare - t0, 4),
            "prepare_s": round(t_shards - t_prepare, 4),
            "shards_s": round(t_end - t_shards, 4),
            "total_s": round(time.perf_counter() - t0, 4),
        },
        "seed": options.seed,
        "executor": {"name": options.executor, "workers": options.workers},
        # work an interrupted earlier run had finished, reused here (same key)
        "resumed": {"prepare": prepared is not None, "shards": reused},
        "started": started,
        "finished": _now(),
    }
    partial.finish(manifest)
    return StageResult(out=out, manifest=manifest)


class _KillHooks:
    """Test hooks that SIGKILL this process at a chosen point, like a crash or `kill -9`:
    WINNOW_TEST_KILL_AFTER_SHARDS=K (after K shards finished by this process),
    WINNOW_TEST_KILL_AFTER_TASKS=K (after K tasks of the global pass), WINNOW_TEST_KILL_PREPARED=1
    (once the global pass is checkpointed), limited to one stage by WINNOW_TEST_KILL_STAGE;
    with WINNOW_TEST_HOOK_PAUSE=1 the process first sleeps there (a run that is still going)."""

    ENV: ClassVar[dict[str, str]] = {
        "shards": "WINNOW_TEST_KILL_AFTER_SHARDS",
        "tasks": "WINNOW_TEST_KILL_AFTER_TASKS",
        "prepared": "WINNOW_TEST_KILL_PREPARED",
    }

    def __init__(self, stage: str):
        only = os.environ.get("WINNOW_TEST_KILL_STAGE", "")
        active = not only or only == stage
        self.limits = {
            k: int(os.environ.get(v, "0") or 0) if active else 0 for k, v in self.ENV.items()
        }
        self.counts = dict.fromkeys(self.ENV, 0)

    def after(self, kind: str) -> None:
        if not self.limits[kind]:
            return
        self.counts[kind] += 1
        if self.counts[kind] >= self.limits[kind]:
            if os.environ.get("WINNOW_TEST_HOOK_PAUSE"):  # hold the lock until killed
                time.sleep(600)
            os.kill(os.getpid(), signal.SIGKILL)


def _process_shard(shard: Shard, stage: Stage, dataset: Dataset, partial: Partial) -> dict:
    df = stage.signals(dataset.read_shard(shard), shard)
    reason = stage.decide(df)
    name = f"part-{shard.index:05d}.parquet"
    rejected = df.filter(reason.is_not_null()).with_columns(
        reason.filter(reason.is_not_null()), pl.lit(stage.name).alias(STAGE)
    )
    counts = rejected[REASON].value_counts()
    sums = df.select(pl.col(c).sum() for c in stage.summed_signals()).to_dicts()
    result = {
        "data": _write_whole(df.filter(reason.is_null()), partial.out / "data" / name),
        "rejected": _write_whole(rejected, partial.out / "rejected" / name),
        "by_reason": dict(zip(counts[REASON].to_list(), counts["count"].to_list(), strict=True)),
        "sums": sums[0] if sums else {},
    }
    record_shard(partial.done, shard.index, result)
    return result


def _write_whole(df: pl.DataFrame, path: Path) -> dict:
    """write_shard, through a temporary name: a killed writer never leaves half a file."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    entry = write_shard(df, tmp)
    os.replace(tmp, path)
    return {**entry, "path": path.name}


def _add_up(parts: list[dict]) -> dict:
    total: dict = {}
    for part in parts:
        for k, v in part.items():
            total[k] = total.get(k, 0) + (v or 0)
    return dict(sorted(total.items()))


def read_manifest(folder: Path) -> dict | None:
    m = read_json(folder / "manifest.json")
    return m if isinstance(m, dict) and "winnow_version" in m and "stage" in m else None


def is_winnow_output(folder: Path) -> bool:
    return read_manifest(folder) is not None or (folder / "run.json").is_file()


def check_output_path(input_path: Path, out: Path, force: bool) -> None:
    """Never write into the input, and never replace a folder winnow did not make."""
    src, dst = input_path.resolve(), out.resolve()
    if dst == src or src in dst.parents:
        raise OutputError("output folder is the input or inside it", out)
    if dst in src.parents:
        raise OutputError("output folder contains the input; choose another folder", out)
    if out.exists():
        if not out.is_dir():
            raise OutputError("output exists and is not a folder", out)
        if any(out.iterdir()) and not is_winnow_output(out):
            raise OutputError(
                "output folder exists and is not a winnow output; refusing to overwrite it", out
            )
    if not out.parent.exists():
        raise OutputError("parent folder of the output does not exist", out)


def _up_to_date(
    prev: dict,
    out: Path,
    config_sha: str,
    fingerprints: list[dict],
    extra: dict,
    options: RunOptions,
) -> bool:
    if (
        prev.get("config_sha256") != config_sha
        or prev.get("winnow_version") != __version__
        or prev.get("seed") != options.seed
        or prev.get("input", {}).get("shards") != fingerprints
        or prev.get("input", {}).get("extra", {}) != extra
    ):
        return False
    for part in ("data", "rejected"):  # outputs still there
        for entry in prev.get("output", {}).get(part, []):
            if not (out / part / entry["path"]).is_file():
                return False
    return True


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
