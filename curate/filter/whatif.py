"""`winnow what-if`: re-decide a filter output under other thresholds from its cached signals."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curate.errors import ConfigError, InputError
from curate.filter.stage import FilterConfig, what_if
from curate.stage import read_manifest


def what_if_folder(folder: Path, cfg: FilterConfig, rules_file: Path | None = None) -> dict:
    manifest = read_manifest(folder)
    if manifest is None or manifest.get("stage") != "filter":
        raise InputError("not a filter stage output (no manifest.json with stage = filter)", folder)
    files = [f for p in ("data", "rejected") for f in sorted((folder / p).glob("*.parquet"))]
    # signals only: the text itself is never read again
    frame = pl.concat(
        [pl.scan_parquet(f).select(pl.col(r"^filter\..*$")) for f in files], how="diagonal_relaxed"
    ).collect()
    try:
        result = what_if(frame, cfg)
    except ValueError as e:
        raise ConfigError(str(e), rules_file) from e
    return result
