"""Builds a report from a run folder, a stage output folder or a plain dataset.

One streaming pass over the shards (kept rows, then each stage's rejected rows), one shard in
memory at a time, every statistic mergeable (curate/report/stats.py). Metrics get stable dotted
ids (DESIGN.md section 5); report.json is the source of truth and holds no wall-clock times, so
the same input gives the same bytes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from curate import __version__
from curate.dataset import Columns, Dataset, read_table
from curate.errors import InputError, RunError
from curate.report.stats import LENGTH_EDGES, Counts, Histogram, Sketch
from curate.stage import read_manifest

SCHEMA_VERSION = 1
QUANTILES = {"p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9, "p99": 0.99}
SIGNAL_STATS = ("mean", "min", "p10", "p50", "p90", "p99", "max")
SAMPLES_PER_REASON = 5
SAMPLE_CHARS = 400
WALL_CLOCK_KEYS = ("started", "finished", "timings")
# columns a report reads besides the signals: never the whole row
LANGUAGE, ISSUE, GIVEN, SOURCE, CLUSTER_SIZE = (
    "filter.language",
    "label.issue",
    "label.given",
    "label.source",
    "dedup.cluster_size",
)


@dataclass
class StageFolder:
    folder: str
    """The folder name (`02-dedup`)."""
    name: str
    """The name in metric ids (`dedup`): the recipe's stage name."""
    path: Path
    manifest: dict

    @property
    def kind(self) -> str:
        return self.manifest["stage"]


@dataclass
class Source:
    path: Path
    kind: str  # run | stage | dataset
    stages: list[StageFolder]
    data: Path
    truth: list[dict] | None = None  # run.json's scorecard against a truth file, if any


def resolve_source(path: str | Path) -> Source:
    """A run folder (run.json), a stage output folder (manifest.json + data/) or a dataset."""
    path = Path(path)
    if not path.exists():
        raise InputError("does not exist", path)
    if path.is_dir() and (path / "run.json").is_file():
        try:
            run = json.loads((path / "run.json").read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"unreadable run.json ({e})", path) from e
        if run.get("status") != "complete":
            raise RunError(
                f"run is not complete (status '{run.get('status')}'); finish it first", path
            )
        stages = []
        for folder in run.get("stages", []):
            manifest = read_manifest(path / folder)
            if manifest is None or not (path / folder / "data").is_dir():
                raise InputError(f"stage folder '{folder}' is missing or has no manifest", path)
            name = re.sub(r"^\d+-", "", folder)
            stages.append(StageFolder(folder, name, path / folder, manifest))
        if not stages:
            raise InputError("run.json lists no stages", path)
        truth = run.get("truth", {}).get("by_noise") if isinstance(run.get("truth"), dict) else None
        return Source(path, "run", stages, stages[-1].path / "data", truth)
    if path.is_dir() and (path / "data").is_dir():
        manifest = read_manifest(path)
        if manifest is not None:
            stage = StageFolder(path.name, manifest["stage"], path, manifest)
            return Source(path, "stage", [stage], path / "data")
    return Source(path, "dataset", [], path)


def _read(path: Path, wanted: list[str], rename: dict[str, str] | None = None) -> pl.DataFrame:
    try:
        names = pq.read_schema(path).names
        # one shard at a time on this thread: Arrow's pool decodes its columns side by side
        # (1 GB run folder: 10.7 -> 9.9 s)
        table = read_table(path, [c for c in wanted if c in names], use_threads=True)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"cannot read Parquet data ({str(e).splitlines()[0]})", path) from e
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    return df.rename({k: v for k, v in (rename or {}).items() if k in df.columns and k != v})


def _is_signal(name: str, dtype: pl.DataType) -> bool:
    return "." in name and (dtype.is_numeric() or dtype == pl.Boolean)


@dataclass
class RowStats:
    """What a set of rows (kept, or rejected) adds up to; every part merges shard by shard."""

    rows: int = 0
    chars: int = 0
    length: Sketch = field(default_factory=Sketch)
    length_hist: Histogram = field(default_factory=lambda: Histogram(LENGTH_EDGES))
    languages: Counts = field(default_factory=Counts)
    has_language: bool = False
    labels: Counts = field(default_factory=Counts)
    has_label: bool = False
    label_sources: Counts = field(default_factory=Counts)
    judged: Counts = field(default_factory=Counts)  # rows with a label.issue verdict, by class
    issues: Counts = field(default_factory=Counts)
    has_issue: bool = False
    cluster_sizes: Sketch = field(default_factory=Sketch)  # sizes of clusters with duplicates
    clusters: int = 0
    cluster_buckets: Counts = field(default_factory=Counts)
    has_clusters: bool = False
    signals: dict[str, Sketch] = field(default_factory=dict)
    flags: dict[str, list[int]] = field(default_factory=dict)  # bool signal: [true, non-null]

    def add(self, df: pl.DataFrame, signals: bool = True, clusters: bool = False) -> None:
        self.rows += df.height
        lengths = df["text"].str.len_chars().fill_null(0).to_numpy()
        self.chars += int(lengths.sum())
        self.length.add(lengths)
        self.length_hist.add(lengths)
        if LANGUAGE in df.columns:
            self.has_language = True
            self.languages.add(_value_counts(df[LANGUAGE].fill_null("und")))
        if "label" in df.columns:
            self.has_label = True
            self.labels.add(_value_counts(df["label"].drop_nulls()))
        if SOURCE in df.columns:
            self.label_sources.add(_value_counts(df[SOURCE].drop_nulls()))
        if ISSUE in df.columns:
            self.has_issue = True
            klass = df[GIVEN] if GIVEN in df.columns else df["label"]
            if GIVEN in df.columns and "label" in df.columns:
                klass = klass.fill_null(df["label"])
            judged = df.select(klass.alias("c"), df[ISSUE].alias("i")).filter(
                pl.col("i").is_not_null() & pl.col("c").is_not_null()
            )
            self.judged.add(_value_counts(judged["c"]))
            self.issues.add(_value_counts(judged.filter(pl.col("i"))["c"]))
        if clusters and CLUSTER_SIZE in df.columns:
            self.has_clusters = True
            sizes = df[CLUSTER_SIZE].drop_nulls().to_numpy()
            self.clusters += int(sizes.size)
            self.cluster_sizes.add(sizes[sizes > 1])
            buckets = np.ceil(np.log2(np.maximum(sizes, 1))).astype(np.int64)
            uniq, n = np.unique(buckets, return_counts=True)
            self.cluster_buckets.add(
                {_size_bucket(int(b)): int(c) for b, c in zip(uniq, n, strict=True)}
            )
        if not signals:
            return
        for name, dtype in df.schema.items():
            if not _is_signal(name, dtype):
                continue
            col = df[name]
            if dtype == pl.Boolean:
                f = self.flags.setdefault(name, [0, 0, 0])
                f[0] += int(col.sum() or 0)
                f[1] += col.len() - col.null_count()
                f[2] += col.null_count()
            else:
                self.signals.setdefault(name, Sketch()).add(
                    col.cast(pl.Float64).fill_null(float("nan")).to_numpy()
                )


def _size_bucket(b: int) -> str:
    """Cluster sizes bucketed by powers of two: 1, 2, 3-4, 5-8, 9-16, ..."""
    if b <= 1:
        return str(2**b)
    return f"{2 ** (b - 1) + 1}-{2**b}"


def _value_counts(s: pl.Series) -> dict:
    vc = s.value_counts()
    return dict(zip(vc[s.name].to_list(), vc["count"].to_list(), strict=True))


@dataclass
class Rejected:
    """Rejected rows of one stage folder: counts and characters per reason, samples."""

    by_reason: Counts = field(default_factory=Counts)
    chars: Counts = field(default_factory=Counts)
    samples: dict[str, list[dict]] = field(default_factory=dict)
    rows: RowStats = field(default_factory=RowStats)

    def add(self, df: pl.DataFrame, samples: int) -> None:
        if df.height == 0:
            return
        self.rows.add(df, signals=False)
        lens = df.select(pl.col("reason"), pl.col("text").str.len_chars().fill_null(0).alias("n"))
        agg = (
            lens.group_by("reason")
            .agg(pl.len().alias("rows"), pl.col("n").sum().alias("n"))
            .sort("reason")
        )
        for reason, rows, n in agg.iter_rows():
            self.by_reason.add({reason: rows})
            self.chars.add({reason: n})
        for reason in sorted(set(df["reason"].to_list())):
            have = self.samples.setdefault(reason, [])
            if len(have) >= samples:
                continue
            rows = df.filter(pl.col("reason") == reason).head(samples - len(have))
            for rid, text in rows.select("id", "text").iter_rows():
                text = text or ""
                have.append(
                    {
                        "id": rid,
                        "text": text[:SAMPLE_CHARS],
                        "truncated": len(text) > SAMPLE_CHARS,
                    }
                )


def build_report(
    path: str | Path,
    columns: Columns = Columns(),
    samples: int = SAMPLES_PER_REASON,
    progress=None,
) -> dict:
    """The report of a run folder, a stage output folder or a dataset, as a JSON-ready dict."""
    source = resolve_source(path)
    kept = RowStats()
    if source.kind == "dataset":
        dataset = Dataset.open(source.data, columns, check_ids=False)
        rename = {columns.text: "text", columns.label: "label", columns.id: "id"}
    else:
        dataset = Dataset.open(source.data, Columns(), check_ids=False)
        rename = {}
    schema = pl.Schema(pl.from_arrow(dataset.schema.empty_table()).schema)
    wanted = [columns.text if source.kind == "dataset" else "text"]
    if dataset.has_label:
        wanted.append(columns.label if source.kind == "dataset" else "label")
    wanted += [
        c for c, t in schema.items() if c in (LANGUAGE, ISSUE, GIVEN, SOURCE) or _is_signal(c, t)
    ]
    dedup_stage = next((s for s in source.stages if s.kind == "dedup"), None)
    steps = len(dataset.shards) + sum(
        len(list((s.path / "rejected").glob("*.parquet"))) for s in source.stages
    )
    done = 0
    for shard in dataset.shards:
        kept.add(_read(shard.path, wanted, rename), clusters=dedup_stage is None)
        done += 1
        if progress:
            progress("report", done, steps)

    rejected: dict[str, Rejected] = {}
    for st in source.stages:
        rej = rejected[st.folder] = Rejected()
        for f in sorted((st.path / "rejected").glob("*.parquet")):
            rej.add(_read(f, ["id", "text", "reason", LANGUAGE, ISSUE, GIVEN, "label"]), samples)
            done += 1
            if progress:
                progress("report", done, steps)
        want = st.manifest.get("counts", {}).get("by_reason", {})
        if dict(rej.by_reason) != {k: v for k, v in want.items() if v}:
            raise RunError(
                f"rejected/ holds {dict(rej.by_reason)} but the manifest says {want}", st.path
            )
    clusters = kept
    if dedup_stage is not None:
        clusters = RowStats()
        for f in sorted((dedup_stage.path / "data").glob("*.parquet")):
            clusters.add(_read(f, ["text", CLUSTER_SIZE]), signals=False, clusters=True)
    return _assemble(source, dataset.rows, kept, rejected, clusters)


def _assemble(
    source: Source,
    kept_rows: int,
    kept: RowStats,
    rejected: dict[str, Rejected],
    clusters: RowStats,
) -> dict:
    m: dict[str, float | int | None] = {}
    stages = source.stages
    rows_in = stages[0].manifest["counts"]["input"] if stages else kept_rows
    if stages and stages[-1].manifest["counts"]["kept"] != kept_rows:
        raise RunError(
            f"data/ holds {kept_rows} rows but the manifest says "
            f"{stages[-1].manifest['counts']['kept']}",
            stages[-1].path,
        )
    rej_rows = sum(sum(r.by_reason.values()) for r in rejected.values())
    rej_chars = sum(sum(r.chars.values()) for r in rejected.values())
    m["rows.input"] = rows_in
    m["rows.kept"] = kept_rows
    m["rows.rejected"] = rej_rows
    m["rows.kept_fraction"] = _frac(kept_rows, rows_in)
    m["chars.input"] = kept.chars + rej_chars
    m["chars.kept"] = kept.chars
    m["chars.rejected"] = rej_chars
    m["chars.kept_fraction"] = _frac(kept.chars, kept.chars + rej_chars)

    stage_rows, reasons, reason_chars = [], Counts(), Counts()
    kinds: dict[str, list[StageFolder]] = {}
    for st in stages:
        c, rej = st.manifest["counts"], rejected[st.folder]
        kinds.setdefault(st.kind, []).append(st)
        p = f"stage.{st.name}"
        m[f"{p}.rows.input"] = c["input"]
        m[f"{p}.rows.kept"] = c["kept"]
        m[f"{p}.rows.rejected"] = c["rejected"]
        m[f"{p}.rejected_fraction"] = _frac(c["rejected"], c["input"])
        m[f"{p}.chars.rejected"] = sum(rej.chars.values())
        for reason, n in sorted(rej.by_reason.items()):
            m[f"{p}.reason.{reason}.rows"] = n
            m[f"{p}.reason.{reason}.fraction"] = _frac(n, c["input"])
            m[f"{p}.reason.{reason}.chars"] = rej.chars[reason]
        reasons.add(rej.by_reason)
        reason_chars.add(rej.chars)
        stage_rows.append(
            {
                "folder": st.folder,
                "name": st.name,
                "stage": st.kind,
                "input": c["input"],
                "kept": c["kept"],
                "rejected": c["rejected"],
                "by_reason": dict(sorted(rej.by_reason.items())),
                "chars_rejected": sum(rej.chars.values()),
            }
        )
    # characters into and out of each stage, measured on the text as it left its last stage:
    # what the final data keeps plus what this stage and later ones rejected
    later = kept.chars
    for st in reversed(stages):
        rej = sum(rejected[st.folder].chars.values())
        m[f"stage.{st.name}.chars.kept"] = later
        m[f"stage.{st.name}.chars.input"] = later + rej
        later += rej
    for reason, n in sorted(reasons.items()):
        m[f"reason.{reason}.rows"] = n
        m[f"reason.{reason}.fraction"] = _frac(n, rows_in)
        m[f"reason.{reason}.chars"] = reason_chars[reason]

    # dedup: fractions of the (first) dedup stage's input; cluster sizes of its kept rows
    m["dedup.exact_fraction"] = m["dedup.near_fraction"] = m["dedup.fraction"] = None
    if "dedup" in kinds:
        base = kinds["dedup"][0].manifest["counts"]["input"]
        by = Counts()
        for st in kinds["dedup"]:
            by.add(rejected[st.folder].by_reason)
        m["dedup.exact_fraction"] = _frac(by.get("exact_duplicate", 0), base)
        m["dedup.near_fraction"] = _frac(by.get("near_duplicate", 0), base)
        m["dedup.fraction"] = _frac(sum(by.values()), base)
    if clusters.has_clusters:
        m["dedup.clusters"] = clusters.clusters
        m["dedup.clusters_with_duplicates"] = clusters.cluster_sizes.count
        m["dedup.cluster_size.mean"] = clusters.cluster_sizes.mean
        m["dedup.cluster_size.max"] = clusters.cluster_sizes.quantile(1.0)
        for q in ("p50", "p90", "p99"):
            m[f"dedup.cluster_size.{q}"] = _round(clusters.cluster_sizes.quantile(QUANTILES[q]))

    # filter: each rule's drop fraction (first failing rule) over the filter stage's input
    if "filter" in kinds:
        base = kinds["filter"][0].manifest["counts"]["input"]
        rules: set[str] = set()
        by = Counts()
        for st in kinds["filter"]:
            rules |= set(st.manifest.get("stage_info", {}).get("thresholds", {}))
            by.add(rejected[st.folder].by_reason)
        for rule in sorted(rules | set(by)):
            m[f"filter.{rule}.rows"] = by.get(rule, 0)
            m[f"filter.{rule}.fraction"] = _frac(by.get(rule, 0), base)

    # a run scored against a truth file: what happened to each kind of injected noise
    for t in source.truth or []:
        p = f"truth.{t['noise']}"
        m[f"{p}.rows"] = t["rows"]
        m[f"{p}.rejected"] = t["rejected"]
        m[f"{p}.rejected_fraction"] = _frac(t["rejected"], t["rows"])
        m[f"{p}.label_issues"] = t.get("label_issues", 0)
        if "pairs_resolved" in t:
            m[f"{p}.pairs_resolved_fraction"] = _frac(t["pairs_resolved"], t["rows"])

    # lengths of kept rows
    for stat, value in _summary(kept.length).items():
        m[f"length.chars.{stat}"] = value

    # languages of kept rows
    if kept.has_language:
        m["language.count"] = len(kept.languages)
        for lang, n in sorted(kept.languages.items()):
            m[f"language.fraction.{lang}"] = _frac(n, kept.rows)

    # labels: distribution and balance of kept rows; issues over every row that got a verdict
    m["label.coverage"] = _frac(sum(kept.labels.values()), kept.rows) if kept.has_label else None
    if kept.labels:
        counts = np.array([n for _, n in sorted(kept.labels.items())], dtype=np.float64)
        total = counts.sum()
        m["label.classes"] = len(counts)
        for c, n in sorted(kept.labels.items()):
            m[f"label.class_fraction.{c}"] = n / total
        m["label.class_balance"] = float(counts.min() / counts.max())
        p = counts / total
        m["label.class_entropy"] = (
            float(-(p * np.log(p)).sum() / math.log(len(p))) if len(p) > 1 else 1.0
        )
    for src, n in sorted(kept.label_sources.items()):
        m[f"label.source_fraction.{src}"] = _frac(n, kept.rows)
    judged, issues = Counts(kept.judged), Counts(kept.issues)
    has_issue = kept.has_issue
    for rej in rejected.values():
        judged.add(rej.rows.judged)
        issues.add(rej.rows.issues)
        has_issue |= rej.rows.has_issue
    m["label.issue_fraction"] = (
        _frac(sum(issues.values()), sum(judged.values())) if has_issue else None
    )
    if has_issue:
        m["label.issues"] = sum(issues.values())
        for c, n in sorted(judged.items()):
            m[f"label.issue_fraction.{c}"] = _frac(issues.get(c, 0), n)

    # every signal column of the kept rows
    for name, sk in sorted(kept.signals.items()):
        summary = _summary(sk)
        for stat in SIGNAL_STATS:
            m[f"signal.{name}.{stat}"] = summary[stat]
        m[f"signal.{name}.null_fraction"] = _frac(sk.nulls, sk.count + sk.nulls)
    for name, (true, nonnull, nulls) in sorted(kept.flags.items()):
        m[f"signal.{name}.true_fraction"] = _frac(true, nonnull)
        m[f"signal.{name}.null_fraction"] = _frac(nulls, nonnull + nulls)

    rej_all = RowStats()
    for rej in rejected.values():
        rej_all.length_hist.merge(rej.rows.length_hist)
        rej_all.languages.add(rej.rows.languages)
    distributions = {
        "length_chars": {
            "edges": kept.length_hist.to_json()["edges"],
            "kept": kept.length_hist.counts.tolist(),
            "rejected": rej_all.length_hist.counts.tolist(),
        },
        "language": {"kept": kept.languages.sorted(), "rejected": rej_all.languages.sorted()},
        "label": {"kept": kept.labels.sorted()},
        "label_issues": {c: [issues.get(c, 0), n] for c, n in sorted(judged.items())},
        "cluster_size": dict(
            sorted(clusters.cluster_buckets.items(), key=lambda kv: int(kv[0].split("-")[0]))
        ),
    }
    sample_list = [
        {
            "stage": st.name,
            "reason": reason,
            "rows": rejected[st.folder].by_reason[reason],
            "samples": rows,
        }
        for st in stages
        for reason, rows in sorted(rejected[st.folder].samples.items())
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "report",
        "winnow_version": __version__,
        "source": {"path": str(source.path), "kind": source.kind},
        "stages": stage_rows,
        "metrics": {k: _clean(v) for k, v in sorted(m.items())},
        "distributions": distributions,
        "samples": sample_list,
        "manifests": {st.folder: _strip_wall_clock(st.manifest) for st in stages},
    }


def _summary(sk: Sketch) -> dict[str, float | None]:
    out: dict[str, float | None] = {"mean": sk.mean, "min": sk.quantile(0), "max": sk.quantile(1)}
    for name, q in QUANTILES.items():
        out[name] = _round(sk.quantile(q))
    return out


def _frac(n: float, d: float) -> float | None:
    return n / d if d else None


def _round(x: float | None) -> float | None:
    """Sketch quantiles are good to 1%: 6 significant digits carry all they know."""
    return None if x is None else float(f"{x:.6g}")


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _strip_wall_clock(value):
    """Manifests minus start and finish times and timings: the report depends on data only."""
    if isinstance(value, dict):
        return {k: _strip_wall_clock(v) for k, v in value.items() if k not in WALL_CLOCK_KEYS}
    if isinstance(value, list):
        return [_strip_wall_clock(v) for v in value]
    return value
