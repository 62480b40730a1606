"""`winnow ablate`: does a smaller curated dataset beat a larger raw one? Read top to bottom.

1. the configuration (options or an `[ablate]` TOML table);
2. preparing the data once: the held-out set (given, or carved from the reference arm, i.e. the
   raw data, before any curation) is deduplicated, and every training row that is the same item
   (same id), an exact or a near duplicate of a held-out row is removed from every arm, counted;
3. the plan: arms x sizes x seeds x budgets. Equal compute (primary): every run sees the same
   number of examples, `epochs` x the largest arm, so a smaller set is repeated more often. Equal
   epochs (secondary): every run makes `epochs` passes over its own set. Subsets are nested (the
   first n of one seeded shuffle per seed);
4. running what is not done yet, up to `workers` processes; each finished run is recorded in
   runs/<key>/ and never redone, so an interrupted ablation resumes;
5. the report: results.csv/json, learning_curve.png, summary.md with the verdict.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import polars as pl

from curate import __version__
from curate.dataset import ID, LABEL, TEXT, Columns
from curate.errors import ConfigError, OutputError, RunError
from train import stats
from train.config import TrainConfig, read_dataset
from train.features import FeatureConfig, bags, featurize
from train.overlap import exact_keys, find_overlap

BUDGETS = ("compute", "epochs")
STOP_AFTER_ENV = "WINNOW_ABLATE_STOP_AFTER"  # test hook: fail after this many runs finish
MARKER = "ablation.json"


# --- 1. configuration ------------------------------------------------------------------------
@dataclass
class AblateConfig:
    arms: dict[str, str] = field(default_factory=dict)  # name -> dataset path, in order
    reference: str = ""  # the raw arm: held-out is carved from it (default: the first arm)
    sizes: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])  # <= 1: fraction
    seeds: int = 5
    budgets: list[str] = field(default_factory=lambda: list(BUDGETS))
    epochs: float = 5.0  # equal epochs: passes per run; equal compute: x the largest arm
    heldout: str = ""  # a held-out dataset; empty: carve `carve` of the reference arm
    carve: float = 0.2
    overlap_threshold: float = 0.7  # shingle Jaccard of a near duplicate
    overlap_ngram: int = 2
    workers: int = 1
    threads: int = 1  # torch threads per run (small models gain nothing); 0: cores // workers
    seed: int = 0
    train: dict = field(default_factory=dict)  # TrainConfig fields (task, dim, lr, ...)

    def validate(self) -> AblateConfig:
        if len(self.arms) < 2:
            raise ConfigError("an ablation needs at least two arms (--arm NAME=PATH, twice)")
        for name in self.arms:
            if not name or not name.replace("-", "").replace("_", "").isalnum():
                raise ConfigError(f"arm name '{name}' must be letters, digits, - or _")
        if self.reference and self.reference not in self.arms:
            raise ConfigError(f"--reference '{self.reference}' is not an arm")
        if not self.sizes or any(s <= 0 for s in self.sizes):
            raise ConfigError("--sizes must be positive (fractions <= 1, or row counts)")
        if self.seeds < 1:
            raise ConfigError("--seeds must be >= 1")
        if not self.budgets or any(b not in BUDGETS for b in self.budgets):
            raise ConfigError(f"budgets must be among {', '.join(BUDGETS)}")
        if not 0 < self.carve < 1:
            raise ConfigError("--carve must be a fraction between 0 and 1")
        if self.workers < 1 or self.threads < 0:
            raise ConfigError("--workers must be >= 1 and --threads >= 0")
        unknown = set(self.train) - {f for f in TrainConfig.__dataclass_fields__}
        if unknown or {"seed", "examples", "epochs", "threads"} & set(self.train):
            raise ConfigError(
                f"[ablate.train] takes TrainConfig fields but seed, examples, epochs and threads; "
                f"got {', '.join(sorted(self.train))}"
            )
        self.train_config().validate()
        return self

    @property
    def ref(self) -> str:
        return self.reference or next(iter(self.arms))

    def train_config(self) -> TrainConfig:
        t = dict(self.train)
        if t.get("char_ngrams"):
            t["char_ngrams"] = tuple(t["char_ngrams"])
        return TrainConfig(**t)

    def run_threads(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 1) // self.workers)


def load_config(path: Path) -> AblateConfig:
    """An `[ablate]` table; arm and held-out paths are relative to the file."""
    from curate.config import load_toml

    raw = load_toml(path)
    if set(raw) != {"ablate"}:
        raise ConfigError("expected one [ablate] table", path)
    values = dict(raw["ablate"])
    allowed = set(AblateConfig.__dataclass_fields__)
    for key in values:
        if key not in allowed:
            raise ConfigError(
                f"unknown key '{key}' in [ablate]; allowed: {', '.join(sorted(allowed))}", path
            )
    base = Path(path).parent
    values["arms"] = {k: str(base / v) for k, v in values.get("arms", {}).items()}
    if values.get("heldout"):
        values["heldout"] = str(base / values["heldout"])
    try:
        return AblateConfig(**values)
    except TypeError as e:
        raise ConfigError(str(e), path) from e


def parse_sizes(text: str) -> list[float]:
    """'0.25,0.5,1.0' or '100,500,1.0': a number with a point or below 1 is a fraction."""
    try:
        return [float(s) if ("." in s or float(s) < 1) else int(s) for s in text.split(",") if s]
    except ValueError:
        raise ConfigError(f"--sizes must be comma-separated numbers, got '{text}'") from None


# --- 2. preparing the data -------------------------------------------------------------------
def prepare(cfg: AblateConfig, out: Path, columns: Columns) -> dict:
    """Writes prepared/<arm>.parquet and prepared/heldout.parquet; returns the overlap report."""
    folder = out / "prepared"
    if (folder / "overlap.json").is_file():
        return json.loads((folder / "overlap.json").read_text())
    classify = cfg.train_config().task == "classify"
    arms = {
        name: read_dataset(Path(p), columns, need_labels=classify) for name, p in cfg.arms.items()
    }
    if cfg.heldout:
        heldout = read_dataset(Path(cfg.heldout), columns, need_labels=classify)
        source = cfg.heldout
    else:
        heldout = carve(arms[cfg.ref], cfg.carve, cfg.seed, classify)
        source = (
            f"carved: {cfg.carve:.0%} of arm '{cfg.ref}' (stratified by label, seed {cfg.seed})"
        )
    # the held-out set itself: one copy of each text (exact duplicates would count twice)
    keys = exact_keys(heldout[TEXT])
    first = np.unique(keys, axis=0, return_index=True)[1]
    dropped = heldout.height - len(first)
    heldout = heldout[np.sort(first)]
    report = {"heldout": {"source": source, "rows": heldout.height, "duplicates_dropped": dropped}}
    report["arms"] = {}
    held_ids = set(heldout[ID].to_list())
    tmp = out / ".prepared.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, df in arms.items():
        same_id = df[ID].is_in(list(held_ids)).to_numpy()
        o = find_overlap(heldout[TEXT], df[TEXT], cfg.overlap_threshold, cfg.overlap_ngram)
        drop = same_id | o["exact"] | o["near"]
        report["arms"][name] = {
            "path": cfg.arms[name],
            "rows": df.height,
            "same_id": int(same_id.sum()),
            "exact": int((o["exact"] & ~same_id).sum()),
            "near": int((o["near"] & ~same_id).sum()),
            "removed": int(drop.sum()),
            "rows_after": int((~drop).sum()),
        }
        if (~drop).sum() == 0:
            raise ConfigError(f"arm '{name}' has no rows left after removing held-out overlap")
        df.filter(pl.Series(~drop)).write_parquet(tmp / f"{name}.parquet")
    heldout.write_parquet(tmp / "heldout.parquet")
    (tmp / "overlap.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.rename(tmp, folder)
    return report


def carve(df: pl.DataFrame, fraction: float, seed: int, stratify: bool) -> pl.DataFrame:
    """A seeded `fraction` of the rows (of each label, when stratified), in dataset order."""
    rng = np.random.default_rng(seed)
    groups = df[LABEL].to_numpy() if stratify else np.zeros(df.height)
    picked = []
    for g in sorted(set(groups.tolist())):
        rows = np.flatnonzero(groups == g)
        k = round(fraction * len(rows))
        picked.append(rng.permutation(rows)[:k])
    return df[np.sort(np.concatenate(picked))]


# --- 3. the plan -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    arm: str
    size: int
    seed: int
    examples: int

    @property
    def key(self) -> str:
        return f"{self.arm}__n{self.size}__s{self.seed}__e{self.examples}"


def plan(cfg: AblateConfig, rows: dict[str, int]) -> tuple[list[dict], list[Job]]:
    """(one row per arm, size, seed and budget; the distinct training runs they need)."""
    budget = math.ceil(cfg.epochs * max(rows.values()))  # equal compute: examples seen per run
    lines, jobs = [], {}
    for arm, full in rows.items():
        sizes = sorted(
            {min(full, round(s * full) if isinstance(s, float) else int(s)) for s in cfg.sizes}
        )
        for n in sizes:
            for seed in range(cfg.seeds):
                for b in cfg.budgets:
                    job = Job(
                        arm,
                        max(1, n),
                        seed,
                        budget if b == "compute" else math.ceil(cfg.epochs * n),
                    )
                    jobs[job.key] = job
                    lines.append(
                        {
                            "arm": arm,
                            "size": job.size,
                            "full": n == full,
                            "seed": seed,
                            "budget": b,
                            "key": job.key,
                        }
                    )
    return lines, list(jobs.values())


# --- 4. running ------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _read(path: str) -> pl.DataFrame:
    return pl.read_parquet(path)


@lru_cache(maxsize=4)
def _bags(path: str, features: FeatureConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An arm's bags, featurised once per worker process; runs take subsets of them."""
    return bags(*featurize(_read(path)[TEXT], features))


def run_job(job: Job, out: str, cfg_train: dict, threads: int, base_seed: int) -> dict:
    """Trains one (arm, size, seed, budget) and records it in runs/<key>/ (atomically)."""
    from train.trainer import fit, subset_bags

    folder = Path(out)
    arm_path = str(folder / "prepared" / f"{job.arm}.parquet")
    held_path = str(folder / "prepared" / "heldout.parquet")
    data, heldout = _read(arm_path), _read(held_path)
    rows = np.sort(
        np.random.default_rng([base_seed, job.seed]).permutation(data.height)[: job.size]
    )
    t = dict(cfg_train)
    if t.get("char_ngrams"):
        t["char_ngrams"] = tuple(t["char_ngrams"])
    cfg = TrainConfig(**t, seed=base_seed * 1000 + job.seed, examples=job.examples, threads=threads)
    cached = None
    if cfg.task == "classify":
        f = cfg.features()
        cached = (subset_bags(_bags(arm_path, f), rows), _bags(held_path, f))
    result = fit(data[rows], heldout, cfg, cached=cached)
    m = result.metrics
    record = {
        **asdict(job),
        "key": job.key,
        "train_rows": m["train_rows"],
        "examples_seen": m["examples_seen"],
        "epochs": round(m["examples_seen"] / m["train_rows"], 4),
        **{k: m[k] for k in ("accuracy", "macro_f1", "log_loss", "nats_per_char") if k in m},
        "train_seconds": result.timing["train_seconds"],
    }
    tmp = folder / "runs" / f".{job.key}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "scores.npy", result.item_scores)
    (tmp / "result.json").write_text(json.dumps(record, indent=2) + "\n")
    final = folder / "runs" / job.key
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    return record


def _fingerprint(cfg: AblateConfig, columns: Columns) -> str:
    from curate.dataset import Dataset

    inputs = {}
    for name, p in [*cfg.arms.items(), ("heldout", cfg.heldout)]:
        if p:
            inputs[name] = [
                {k: v for k, v in f.items() if k != "path"}
                for f in Dataset.open(p, columns, check_ids=False).fingerprint("stat")
            ]
    blob = json.dumps(
        {
            "config": {**asdict(cfg), "workers": 0},  # workers never change a result
            # the model as resolved: a change of defaults is a change of settings
            "model": asdict(cfg.train_config().with_defaults()),
            "version": __version__,
            "inputs": inputs,
            "columns": columns.as_dict(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def run_ablation(
    cfg: AblateConfig,
    out: Path,
    columns: Columns = Columns(),
    force: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    cfg.validate()
    out = Path(out)
    fingerprint = _fingerprint(cfg, columns)
    marker = out / MARKER
    if out.exists() and any(out.iterdir()):
        if not marker.is_file():
            raise OutputError("exists and is not a winnow ablation; refusing to write into it", out)
        earlier = json.loads(marker.read_text()).get("fingerprint")
        if earlier != fingerprint:
            if not force:
                raise OutputError(
                    "holds an ablation of other inputs or settings; pass --force to start over",
                    out,
                )
            shutil.rmtree(out)
    elif not out.parent.exists():
        raise OutputError("parent folder of the output does not exist", out)
    out.mkdir(exist_ok=True)
    marker.write_text(
        json.dumps({"fingerprint": fingerprint, "config": asdict(cfg)}, indent=2) + "\n"
    )

    started = time.perf_counter()
    overlap = prepare(cfg, out, columns)
    rows = {a: r["rows_after"] for a, r in overlap["arms"].items()}
    lines, jobs = plan(cfg, rows)
    done = {j.key for j in jobs if (out / "runs" / j.key / "result.json").is_file()}
    todo = [j for j in jobs if j.key not in done]
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0") or 0)
    args = (str(out), cfg.train, cfg.run_threads(), cfg.seed)
    finished = 0
    if progress:
        progress(len(done), len(jobs), f"{len(done)} of {len(jobs)} runs already done")
    if cfg.workers == 1 or len(todo) <= 1:
        for job in todo:
            run_job(job, *args)
            finished += 1
            if progress:
                progress(len(done) + finished, len(jobs), job.key)
            if stop_after and finished >= stop_after:
                raise RunError(
                    f"stopped after {finished} runs ({STOP_AFTER_ENV}); re-run to resume"
                )
    else:
        with ProcessPoolExecutor(cfg.workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_job, job, *args): job for job in todo}
            for f in as_completed(futures):
                f.result()
                finished += 1
                if progress:
                    progress(len(done) + finished, len(jobs), futures[f].key)
                if stop_after and finished >= stop_after:
                    for other in futures:
                        other.cancel()
                    raise RunError(
                        f"stopped after {finished} runs ({STOP_AFTER_ENV}); re-run to resume"
                    )
    summary = report(cfg, out, lines, overlap)
    summary.update(
        runs=len(jobs),
        runs_resumed=len(done),
        runs_trained=finished,
        seconds=round(time.perf_counter() - started, 2),
    )
    return summary


# --- 5. the report ---------------------------------------------------------------------------
def report(cfg: AblateConfig, out: Path, lines: list[dict], overlap: dict) -> dict:
    task = cfg.train_config().task
    metric, higher = ("accuracy", True) if task == "classify" else ("nats_per_char", False)
    results = []
    for line in lines:
        rec = json.loads((out / "runs" / line["key"] / "result.json").read_text())
        results.append({**line, **{k: v for k, v in rec.items() if k not in line and k != "size"}})
    df = pl.DataFrame(results)
    _write_atomic(out / "results.json", json.dumps(results, indent=2) + "\n")
    buf = df.drop("key").write_csv()
    _write_atomic(out / "results.csv", buf)

    ref = cfg.ref
    groups: dict = {}
    for r in results:
        groups.setdefault((r["budget"], r["arm"], r["size"]), []).append(r)
    table = []
    for (budget, arm, size), rs in sorted(
        groups.items(),
        key=lambda kv: (BUDGETS.index(kv[0][0]), list(cfg.arms).index(kv[0][1]), kv[0][2]),
    ):
        ci = stats.mean_ci([r[metric] for r in rs])
        table.append(
            {
                "budget": budget,
                "arm": arm,
                "size": size,
                "full": rs[0]["full"],
                "examples_seen": rs[0]["examples_seen"],
                "seeds": len(rs),
                **ci,
                "values": [r[metric] for r in sorted(rs, key=lambda r: r["seed"])],
            }
        )

    comparisons = []
    for budget in cfg.budgets:
        ref_full = _full(groups, budget, ref)
        for arm in cfg.arms:
            if arm == ref or ref_full is None:
                continue
            cand_full = _full(groups, budget, arm)
            if cand_full is None:
                continue
            a = _scores(out, cand_full)
            b = _scores(out, ref_full)
            boot = stats.paired_bootstrap(a.mean(0), b.mean(0), seed=cfg.seed)
            mc = stats.mcnemar(a[0] > 0.5, b[0] > 0.5) if task == "classify" else None
            v = stats.verdict(
                arm,
                ref,
                [r[metric] for r in cand_full],
                [r[metric] for r in ref_full],
                boot["p"],
                metric,
                higher,
            )
            ref_mean = float(np.mean([r[metric] for r in ref_full]))
            curve = [t for t in table if t["budget"] == budget and t["arm"] == arm]
            cross = stats.crossover(
                [t["size"] for t in curve], [t["mean"] for t in curve], ref_mean, higher
            )
            comparisons.append(
                {
                    "budget": budget,
                    "candidate": arm,
                    "reference": ref,
                    "candidate_rows": cand_full[0]["train_rows"],
                    "reference_rows": ref_full[0]["train_rows"],
                    "verdict": v.as_dict(),
                    "paired_bootstrap": boot,
                    "mcnemar_seed0": mc,
                    "crossover_size": cross,
                }
            )
    plot = learning_curve(cfg, table, out / "learning_curve.png", metric)
    primary = next((c for c in comparisons if c["budget"] == cfg.budgets[0]), None)
    headline = (
        primary["verdict"]["sentence"]
        + f" (equal {'compute' if primary['budget'] == 'compute' else 'epochs'})"
        if primary
        else "no comparison"
    )
    summary = {
        "metric": metric,
        "higher_is_better": higher,
        "verdict": headline,
        "comparisons": comparisons,
        "table": table,
        "overlap": overlap,
        "plot": str(plot),
        "output": str(out),
    }
    _write_atomic(out / "summary.md", _markdown(cfg, summary))
    _write_atomic(out / "summary.json", json.dumps(summary, indent=2, default=float) + "\n")
    return summary


def _full(groups: dict, budget: str, arm: str) -> list[dict] | None:
    sizes = [k[2] for k in groups if k[0] == budget and k[1] == arm]
    if not sizes:
        return None
    return sorted(groups[(budget, arm, max(sizes))], key=lambda r: r["seed"])


def _scores(out: Path, runs: list[dict]) -> np.ndarray:
    """(seeds x items) per-item scores of the runs, in seed order."""
    return np.stack([np.load(out / "runs" / r["key"] / "scores.npy") for r in runs])


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def learning_curve(cfg: AblateConfig, table: list[dict], path: Path, metric: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = [b for b in BUDGETS if b in cfg.budgets]
    fig, axes = plt.subplots(1, len(budgets), figsize=(5.5 * len(budgets), 4), squeeze=False)
    for ax, budget in zip(axes[0], budgets, strict=True):
        for arm in cfg.arms:
            pts = [t for t in table if t["budget"] == budget and t["arm"] == arm]
            if not pts:
                continue
            x = [t["size"] for t in pts]
            mean = np.array([t["mean"] for t in pts])
            line = ax.plot(x, mean, marker="o", label=f"{arm} (mean of {pts[0]['seeds']} seeds)")[0]
            ax.scatter(
                [t["size"] for t in pts for _ in t["values"]],
                [v for t in pts for v in t["values"]],
                s=10, alpha=0.5, color=line.get_color(), label=f"{arm}: one seed",
            )  # fmt: skip
            ax.fill_between(
                x,
                [t["lo"] for t in pts],
                [t["hi"] for t in pts],
                alpha=0.2,
                color=line.get_color(),
                label=f"{arm} 95% interval",
            )
        ax.set_xscale("log")
        ax.set_xlabel("training rows")
        ax.set_ylabel(f"held-out {metric}")
        title = "equal compute (same examples seen)" if budget == "compute" else "equal epochs"
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def _markdown(cfg: AblateConfig, s: dict) -> str:
    m = s["metric"]
    scale = 100.0 if m in ("accuracy", "macro_f1") else 1.0
    lines = ["# Ablation", "", f"**Verdict:** {s['verdict']}.", ""]
    o = s["overlap"]
    lines += [
        f"Held-out: {o['heldout']['rows']:,} rows ({o['heldout']['source']}; "
        f"{o['heldout']['duplicates_dropped']} exact duplicates within it dropped).",
        "",
        "| arm | rows | same id as held-out | exact duplicates | near duplicates | removed "
        "| rows left |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for arm, r in o["arms"].items():
        lines.append(
            f"| {arm} | {r['rows']:,} | {r['same_id']:,} | {r['exact']:,} | {r['near']:,} | "
            f"{r['removed']:,} | {r['rows_after']:,} |"
        )
    unit = " (points)" if scale == 100 else ""
    dp = 2 if scale == 100 else 4  # decimals: points of accuracy, or nats
    lines += [
        "",
        f"## Held-out {m}{unit}: mean over seeds, 95% interval, seed spread (std)",
        "",
        "| budget | arm | rows | examples seen | seeds | mean | 95% interval | std |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for t in s["table"]:
        lines.append(
            f"| {t['budget']} | {t['arm']} | {t['size']:,} | {t['examples_seen']:,} | "
            f"{t['seeds']} | {t['mean'] * scale:.{dp}f} | {t['lo'] * scale:.{dp}f} .. "
            f"{t['hi'] * scale:.{dp}f} | {t['std'] * scale:.{dp}f} |"
        )
    lines += ["", "## Comparisons (full arms, paired over the same held-out items)", ""]
    for c in s["comparisons"]:
        b, v = c["paired_bootstrap"], c["verdict"]
        lines.append(
            f"- **equal {c['budget']}**: {c['candidate']} ({c['candidate_rows']:,} rows) vs "
            f"{c['reference']} ({c['reference_rows']:,} rows): {v['sentence']}."
        )
        lines.append(
            f"  Difference {b['diff'] * scale:+.{dp}f}, paired bootstrap 95% interval "
            f"{b['lo'] * scale:+.{dp}f} .. {b['hi'] * scale:+.{dp}f}, p = {b['p']:.3g}"
            + (
                f"; McNemar (seed 0): {c['mcnemar_seed0']['only_a']} items only {c['candidate']} "
                f"gets right, {c['mcnemar_seed0']['only_b']} only {c['reference']}, "
                f"p = {c['mcnemar_seed0']['p']:.3g}"
                if c["mcnemar_seed0"]
                else ""
            )
            + "."
        )
        cross = c["crossover_size"]
        lines.append(
            f"  Crossover: {c['candidate']} matches the full {c['reference']} arm at "
            + (f"{cross:,} rows." if cross is not None else "no size tried.")
        )
    lines += [
        "",
        "Differences smaller than twice the seed spread, or not found by the paired test "
        "(p >= 0.05), are called noise.",
        "",
        f"Plot: `{Path(s['plot']).name}`.",
        "",
    ]
    return "\n".join(lines)
