"""Scores a run against a truth file (which row got which injected noise): what each stage caught.

Truth columns: id, noise, source_id (the row a duplicate copies). A duplicate pair counts as
resolved when not both copies survive, whichever one the keep policy chose.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curate.errors import InputError

DUPLICATE_KINDS = ("exact_duplicate", "near_duplicate")


def load_truth(path: Path) -> pl.DataFrame:
    try:
        truth = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as e:
        raise InputError(f"cannot read truth file ({e})", path) from e
    missing = {"id", "noise", "source_id"} - set(truth.columns)
    if missing:
        raise InputError(f"truth file lacks columns {', '.join(sorted(missing))}", path)
    return truth.with_columns(pl.col("source_id").fill_null(""))


def score(stage_dirs: list[Path], truth: pl.DataFrame) -> list[dict]:
    """One row per noise kind: rows injected, rows rejected (by stage and reason; how many of
    them were the source of an injected copy), and for duplicates how many pairs collapsed to
    one survivor."""
    rejected = [
        pl.read_parquet(d / "rejected" / "*.parquet", columns=["id", "reason", "stage"])
        for d in stage_dirs
    ]
    gone = (
        pl.concat(rejected)
        if rejected
        else pl.DataFrame(schema={"id": pl.String, "reason": pl.String, "stage": pl.String})
    )
    flagged = _flagged(stage_dirs)
    t = truth.join(gone, on="id", how="left")
    gone_ids = set(gone["id"].to_list())
    copied = set(truth.filter(pl.col("noise").is_in(DUPLICATE_KINDS))["source_id"].to_list())
    rows = []
    for kind, part in t.group_by("noise", maintain_order=True):
        hit = part.filter(pl.col("reason").is_not_null())
        reasons = hit.group_by("stage", "reason").len().sort("len", descending=True)
        row = {
            "noise": kind[0],
            "rows": part.height,
            "rejected": hit.height,
            "by_reason": {f"{s}:{r}": n for s, r, n in reasons.iter_rows()},
            # a source of an injected copy may go while its copy is kept: that is no loss
            "rejected_sources": int(hit["id"].is_in(list(copied)).sum()),
            # label.issue on a row the last label stage kept or rejected: a suspected wrong label
            "label_issues": int(part["id"].is_in(flagged).sum()),
        }
        if kind[0] in DUPLICATE_KINDS:
            pairs = part.select("id", "source_id").iter_rows()
            row["pairs_resolved"] = sum((a in gone_ids) or (b in gone_ids) for a, b in pairs)
        rows.append(row)
    return sorted(rows, key=lambda r: r["noise"])


def _flagged(stage_dirs: list[Path]) -> list[str]:
    """Ids of rows the label stage flagged (label.issue) in the last stage that has the signal."""
    for d in reversed(stage_dirs):
        files = sorted((d / "data").glob("*.parquet")) + sorted((d / "rejected").glob("*.parquet"))
        if files and "label.issue" in pl.read_parquet_schema(files[0]):
            flags = pl.concat([pl.read_parquet(f, columns=["id", "label.issue"]) for f in files])
            return flags.filter(pl.col("label.issue").fill_null(False))["id"].to_list()
    return []
