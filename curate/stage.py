"""The one stage mechanism every stage uses: signals, then decisions (DESIGN.md section 2).

A stage computes signal columns `<stage>.<signal>` on a shard, then its ordered rules decide:
the first failing rule becomes the row's `reason`. `run_stage` does the rest for every stage:
output-folder safety, the up-to-date check, per-shard work on an executor, `data/` + `rejected/`
+ `manifest.json` written into a hidden temporary folder and renamed into place at the end.
"""

from __future__ import annotations

import datetime as dt
import json
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
from curate.atomic import fresh_tmp, replace_atomically
from curate.config import as_dict, canonical_sha256
from curate.dataset import Columns, Dataset, Shard, read_json, write_shard
from curate.errors import OutputError, RunError
from curate.executors import LocalExecutor

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
    """What a stage's global pass may use: a scratch folder (removed at the end) and the executor,
    so per-shard parts of the global pass run in parallel like everything else."""

    workdir: Path
    executor: LocalExecutor
    seed: int = 0

    def map(self, fn: Callable[..., Any], items: list[Any], *args: Any) -> list[Any]:
        """`[fn(item, *args) for item in items]`, in order, on the run's executor."""
        return list(self.executor.map(fn, items, args))


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
        folder.mkdir()
        for s in dataset.shards:
            frame.slice(start, s.rows).write_parquet(folder / f"{s.index:05d}.parquet")
            start += s.rows
        return cls(folder)

    def attach(self, df: pl.DataFrame, shard: Shard) -> pl.DataFrame:
        """The shard's frame with its decision columns (replacing same-named input columns)."""
        decisions = pl.read_parquet(self.folder / f"{shard.index:05d}.parquet")
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


def run_stage(
    stage: Stage,
    input_path: str | Path,
    out: str | Path,
    options: RunOptions = RunOptions(),
    progress: Progress | None = None,
) -> StageResult:
    input_path, out = Path(input_path), Path(out)
    check_output_path(input_path, out, options.force)
    started = _now()
    t0 = time.perf_counter()
    dataset = Dataset.open(input_path, options.columns)
    resolved = {
        "stage": stage.name,
        "params": as_dict(stage.config),
        "columns": options.columns.as_dict(),
    }
    config_sha = canonical_sha256(resolved)
    fingerprints = dataset.fingerprint(options.fingerprint)
    extra = stage.extra_fingerprints(options.fingerprint)

    previous = read_manifest(out)
    if previous is not None and _up_to_date(
        previous, out, config_sha, fingerprints, extra, options
    ):
        return StageResult(out=out, manifest=previous, skipped=True)
    if out.exists() and any(out.iterdir()) and not options.force:
        raise OutputError(
            "exists (an earlier winnow output made from another input or "
            "config); pass --force to replace it",
            out,
        )

    executor = LocalExecutor(options.workers, options.executor)
    tmp = fresh_tmp(out)
    try:
        (tmp / "data").mkdir()
        (tmp / "rejected").mkdir()
        t_prepare = time.perf_counter()
        ctx = StageContext(tmp / ".work", executor, options.seed)
        ctx.workdir.mkdir()
        with executor:
            stage.prepare(dataset, ctx)
            t_shards = time.perf_counter()
            kill_after = int(os.environ.get("WINNOW_TEST_KILL_AFTER_SHARDS", "0"))
            results = []
            shards = executor.map(_process_shard, dataset.shards, (stage, dataset, tmp))
            for done, res in enumerate(shards, start=1):
                results.append(res)
                if progress:
                    progress(stage.name, done, len(dataset.shards))
                if kill_after and done >= kill_after:  # test hook: die like a SIGKILLed run
                    os.kill(os.getpid(), signal.SIGKILL)
        t_end = time.perf_counter()
        shutil.rmtree(ctx.workdir)
        by_reason: dict[str, int] = {}
        for r in results:
            for k, v in r["by_reason"].items():
                by_reason[k] = by_reason.get(k, 0) + v
        kept = sum(r["data"]["rows"] for r in results)
        rejected = sum(r["rejected"]["rows"] for r in results)
        if kept + rejected != dataset.rows:  # the nothing-lost invariant, checked on every run
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
            "started": started,
            "finished": _now(),
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        )
        replace_atomically(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return StageResult(out=out, manifest=manifest)


def _process_shard(shard: Shard, stage: Stage, dataset: Dataset, tmp: Path) -> dict:
    df = stage.signals(dataset.read_shard(shard), shard)
    reason = stage.decide(df)
    name = f"part-{shard.index:05d}.parquet"
    rejected = df.filter(reason.is_not_null()).with_columns(
        reason.filter(reason.is_not_null()), pl.lit(stage.name).alias(STAGE)
    )
    counts = rejected[REASON].value_counts()
    sums = df.select(pl.col(c).sum() for c in stage.summed_signals()).to_dicts()
    return {
        "data": write_shard(df.filter(reason.is_null()), tmp / "data" / name),
        "rejected": write_shard(rejected, tmp / "rejected" / name),
        "by_reason": dict(zip(counts[REASON].to_list(), counts["count"].to_list(), strict=True)),
        "sums": sums[0] if sums else {},
    }


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
