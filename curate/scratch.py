"""Frames a run writes for itself and reads back: the scratch files under a partial output
(dedup's per-shard metadata and graph steps, the decisions a global pass hands to each shard).

Arrow IPC, uncompressed: these files are read once or twice by the same run, on this machine or
on a cluster node sharing the folder, so Parquet's encoding and compression bought nothing and
cost most of dedup's steps after hashing at 50k rows (a 50k-row frame of ids and keys: 14 ms to
write as Parquet, 3 ms as IPC; a 3k-row shard's frame read back 1.3 ms through polars' Parquet
reader, 0.2 ms through Arrow's IPC reader). A run's outputs stay Parquet (curate/dataset.py).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.ipc

SUFFIX = ".arrow"
# in the resume key: an interrupted run's scratch files are reused only by code that reads them
# the same way (2: IPC scratch frames, raw key and band-pair files)
SCRATCH_FORMAT = 2


def write_frame(frame: pl.DataFrame, path: Path) -> None:
    frame.write_ipc(path, compression="uncompressed")


def read_frame(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    with pa.OSFile(str(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    if columns is not None:
        table = table.select(columns)
    out = pl.from_arrow(table, rechunk=False)
    assert isinstance(out, pl.DataFrame)
    return out
