"""Two versions of a dataset compared: metric deltas, rows added and removed (by id and by
content), label changes, and drift of the length, language and label distributions as effect
sizes (Wasserstein distance, Jensen-Shannon divergence, population stability index), never
p-values: with a million rows everything is "significant"; what matters is how much it moved.

OLD and NEW are reports (report.json, or folders holding one) or datasets, stage outputs and runs;
row-level comparisons need the data, so they are null when either side is a report file only.
The diff's `metrics` are gateable like a report's (`winnow gate diff.json --checks ...`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.dataset import Columns, Dataset
from curate.errors import InputError
from curate.report.build import build_report, resolve_source
from curate.report.files import load_metrics_doc

DIFF_SCHEMA_VERSION = 1
EPS = 1e-4  # PSI smoothing of empty bins
TOP_TRANSITIONS = 20


@dataclass
class Side:
    path: Path
    report: dict
    data: Path | None  # the kept rows, when we have data and not only a report


def _side(path: str | Path, columns: Columns) -> Side:
    p = Path(path)
    if p.is_file() and p.suffix == ".json":
        return Side(p, load_metrics_doc(p), None)
    if not p.exists():
        raise InputError("does not exist", p)
    src = resolve_source(p)
    data = None if src.kind == "dataset" and not _has_parquet(src.data) else src.data
    doc = load_metrics_doc(p) if (p / "report.json").is_file() else build_report(p, columns)
    if doc.get("kind") != "report":
        raise InputError("not a report (a diff cannot be diffed)", p)
    return Side(p, doc, data)


def _has_parquet(p: Path) -> bool:
    return (p.is_file() and p.suffix == ".parquet") or (p.is_dir() and any(p.glob("*.parquet")))


@dataclass
class RowKeys:
    ids: np.ndarray  # uint64 hashes of ids
    content: np.ndarray  # uint64 hashes of texts
    labels: np.ndarray  # int32 codes into the shared vocabulary, -1 = no label
    has_label: bool


def _row_keys(path: Path, columns: Columns, vocab: dict[str, int], is_dataset: bool) -> RowKeys:
    """Hashes of ids and texts and label codes, shard by shard: 20 bytes a row."""
    ds = Dataset.open(path, columns if is_dataset else Columns())  # ids must be unique
    ids, content, labels = [], [], []
    for _shard, df in ds.iter_shards():
        ids.append(df["id"].hash(seed=1).to_numpy())
        content.append(df["text"].fill_null("").hash(seed=2).to_numpy())
        if ds.has_label:
            lab = df["label"]
            for v in lab.drop_nulls().unique().sort().to_list():
                vocab.setdefault(v, len(vocab))
            codes = lab.replace_strict(vocab, default=-1, return_dtype=pl.Int32)
            labels.append(codes.fill_null(-1).to_numpy())
        else:
            labels.append(np.full(df.height, -1, np.int32))
    cat = np.concatenate
    return RowKeys(cat(ids), cat(content), cat(labels), ds.has_label)


def _row_changes(old: RowKeys, new: RowKeys, vocab: dict[str, int]) -> tuple[dict, dict]:
    metrics: dict = {}
    in_old = np.isin(new.ids, old.ids)
    in_new = np.isin(old.ids, new.ids)
    metrics["rows.added_by_id"] = int((~in_old).sum())
    metrics["rows.removed_by_id"] = int((~in_new).sum())
    metrics["rows.common_by_id"] = int(in_old.sum())
    metrics["rows.added_by_content"] = int((~np.isin(new.content, old.content)).sum())
    metrics["rows.removed_by_content"] = int((~np.isin(old.content, new.content)).sum())
    metrics["rows.added_fraction"] = _frac(metrics["rows.added_by_id"], new.ids.size)
    metrics["rows.removed_fraction"] = _frac(metrics["rows.removed_by_id"], old.ids.size)
    labels: dict = {"transitions": {}}
    if old.has_label and new.has_label:
        _, io, inew = np.intersect1d(old.ids, new.ids, assume_unique=True, return_indices=True)
        a, b = old.labels[io], new.labels[inew]
        both = (a >= 0) & (b >= 0)
        changed = both & (a != b)
        metrics["label.changed"] = int(changed.sum())
        metrics["label.changed_fraction"] = _frac(int(changed.sum()), int(both.sum()))
        metrics["label.gained"] = int(((a < 0) & (b >= 0)).sum())
        metrics["label.lost"] = int(((a >= 0) & (b < 0)).sum())
        names = {v: k for k, v in vocab.items()}
        pairs, counts = (
            np.unique(np.stack([a[changed], b[changed]], axis=1), axis=0, return_counts=True)
            if changed.any()
            else (np.zeros((0, 2), int), np.zeros(0, int))
        )
        order = sorted(range(len(counts)), key=lambda i: (-counts[i], names[pairs[i][0]]))
        labels["transitions"] = {
            f"{names[pairs[i][0]]} -> {names[pairs[i][1]]}": int(counts[i])
            for i in order[:TOP_TRANSITIONS]
        }
    else:
        for k in ("label.changed", "label.changed_fraction", "label.gained", "label.lost"):
            metrics[k] = None
    return metrics, labels


def _frac(n: float, d: float) -> float | None:
    return n / d if d else None


def _probs(counts: dict | list, keys: list) -> np.ndarray:
    if isinstance(counts, dict):
        v = np.array([counts.get(k, 0) for k in keys], dtype=np.float64)
    else:
        v = np.asarray(counts, dtype=np.float64)
    s = v.sum()
    return v / s if s else v


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits: 0 (same) .. 1 (disjoint)."""
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / b[nz])).sum())

    return max(0.0, (kl(p, m) + kl(q, m)) / 2)


def psi(p: np.ndarray, q: np.ndarray) -> float:
    """Population stability index, empty bins smoothed: < 0.1 stable, > 0.25 a real shift."""
    p, q = np.maximum(p, EPS), np.maximum(q, EPS)
    p, q = p / p.sum(), q / q.sum()
    return float(((q - p) * np.log(q / p)).sum())


def wasserstein(points: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """Earth mover's distance between two distributions on the same sorted points."""
    cdf = np.cumsum(p - q)[:-1]
    return float(np.abs(cdf) @ np.diff(points))


def _categorical_drift(old: dict, new: dict) -> dict:
    keys = sorted(set(old) | set(new))
    if not keys or not sum(old.values()) or not sum(new.values()):
        return {"js": None, "psi": None}
    p, q = _probs(old, keys), _probs(new, keys)
    return {"js": js_divergence(p, q), "psi": psi(p, q)}


def _length_drift(old: dict, new: dict) -> dict:
    if old["edges"] != new["edges"] or not sum(old["kept"]) or not sum(new["kept"]):
        return {"wasserstein_chars": None, "wasserstein_log2": None, "js": None, "psi": None}
    edges = np.asarray(old["edges"])
    mids = np.concatenate([[0.5], np.sqrt(edges[1:-1] * edges[2:])])  # [0,1) then geometric
    p, q = _probs(old["kept"], []), _probs(new["kept"], [])
    used = (p > 0) | (q > 0)
    return {
        "wasserstein_chars": wasserstein(mids, p, q),
        "wasserstein_log2": wasserstein(np.log2(mids), p, q),
        "js": js_divergence(p[used], q[used]),
        "psi": psi(p[used], q[used]),
    }


def diff(old: str | Path, new: str | Path, columns: Columns = Columns()) -> dict:
    a, b = _side(old, columns), _side(new, columns)
    ma, mb = a.report["metrics"], b.report["metrics"]
    metrics: dict = {}
    deltas = {}
    for key in sorted(set(ma) & set(mb)):
        va, vb = ma[key], mb[key]
        if _is_num(va) and _is_num(vb):
            deltas[key] = {"old": va, "new": vb, "delta": vb - va}
            metrics[f"delta.{key}"] = vb - va
    da, db = a.report["distributions"], b.report["distributions"]
    drift = {
        "length": _length_drift(da["length_chars"], db["length_chars"]),
        "language": _categorical_drift(da["language"]["kept"], db["language"]["kept"]),
        "label": _categorical_drift(da["label"]["kept"], db["label"]["kept"]),
    }
    for dist, values in drift.items():
        for k, v in values.items():
            metrics[f"drift.{dist}.{k}"] = v
    labels: dict = {"transitions": {}}
    if a.data is not None and b.data is not None:
        vocab: dict[str, int] = {}
        ka = _row_keys(a.data, columns, vocab, a.report["source"]["kind"] == "dataset")
        kb = _row_keys(b.data, columns, vocab, b.report["source"]["kind"] == "dataset")
        rows, labels = _row_changes(ka, kb, vocab)
    else:
        rows = {
            k: None
            for k in (
                "rows.added_by_id",
                "rows.removed_by_id",
                "rows.common_by_id",
                "rows.added_by_content",
                "rows.removed_by_content",
                "rows.added_fraction",
                "rows.removed_fraction",
                "label.changed",
                "label.changed_fraction",
                "label.gained",
                "label.lost",
            )
        }
    metrics.update(rows)
    return {
        "schema_version": DIFF_SCHEMA_VERSION,
        "kind": "diff",
        "old": {
            "path": str(a.path),
            "kind": a.report["source"]["kind"],
            "rows_compared": a.data is not None,
        },
        "new": {
            "path": str(b.path),
            "kind": b.report["source"]["kind"],
            "rows_compared": b.data is not None,
        },
        "metrics": {k: _clean(v) for k, v in sorted(metrics.items())},
        "deltas": deltas,
        "added_metrics": sorted(set(mb) - set(ma)),
        "removed_metrics": sorted(set(ma) - set(mb)),
        "label_transitions": labels["transitions"],
        "drift": drift,
    }


def _is_num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _clean(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _f(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:+,}"
    return f"{v:+.4g}" if isinstance(v, float) else str(v)


def to_markdown(d: dict, top: int = 30) -> str:
    m = d["metrics"]
    lines = [f"### winnow diff: `{d['old']['path']}` -> `{d['new']['path']}`", ""]
    if m.get("rows.added_by_id") is not None:
        lines += ["| rows | by id | by content |", "| --- | ---: | ---: |"]
        lines.append(f"| added | {m['rows.added_by_id']:,} | {m['rows.added_by_content']:,} |")
        lines.append(
            f"| removed | {m['rows.removed_by_id']:,} | {m['rows.removed_by_content']:,} |"
        )
        lines.append(f"| in both | {m['rows.common_by_id']:,} | |")
        if m.get("label.changed") is not None:
            lines += [
                "",
                f"Labels changed on {m['label.changed']:,} rows present in both"
                f" ({_pct(m['label.changed_fraction'])}).",
            ]
            for k, v in d["label_transitions"].items():
                lines.append(f"- {k}: {v:,}")
    else:
        lines.append("Row-level changes need the data: one side is a report file only.")
    lines += [
        "",
        "| drift | Wasserstein | Jensen-Shannon (bits) | PSI |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, v in d["drift"].items():
        w = v.get("wasserstein_chars")
        wtxt = "-" if w is None else f"{w:.4g} chars ({v['wasserstein_log2']:.3g} octaves)"
        js = "-" if v["js"] is None else f"{v['js']:.4g}"
        ps = "-" if v["psi"] is None else f"{v['psi']:.4g}"
        lines.append(f"| {name} | {wtxt if name == 'length' else ''} | {js} | {ps} |")
    changed = [(k, x) for k, x in d["deltas"].items() if x["delta"] != 0]
    changed.sort(key=lambda kx: (-abs(kx[1]["delta"]) / max(abs(kx[1]["old"]), 1e-12), kx[0]))
    if changed:
        lines += ["", f"Metrics that moved ({len(changed):,}; largest relative change first):", ""]
        lines += ["| metric | old | new | delta |", "| --- | ---: | ---: | ---: |"]
        for k, x in changed[:top]:
            old = f"{x['old']:.6g}" if isinstance(x["old"], float) else f"{x['old']:,}"
            new = f"{x['new']:.6g}" if isinstance(x["new"], float) else f"{x['new']:,}"
            lines.append(f"| `{k}` | {old} | {new} | {_f(x['delta'])} |")
    for what in ("added_metrics", "removed_metrics"):
        if d[what]:
            names = ", ".join(f"`{k}`" for k in d[what][:20])
            more = f" and {len(d[what]) - 20} more" if len(d[what]) > 20 else ""
            lines += ["", f"{what.replace('_', ' ').capitalize()}: {names}{more}"]
    return "\n".join(lines) + "\n"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def to_json(d: dict) -> str:
    return json.dumps(d, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
