"""Datasets: folders of Parquet shards, read one shard at a time (DESIGN.md section 1).

A dataset is opened once, up front: every shard's footer and schema are checked and ids are
checked for uniqueness before any stage does work, so bad input fails fast with exit 2 and never
leaves half an output behind. Reading is then shard by shard, so memory is bounded by one shard.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from curate.arrays import distinct
from curate.errors import InputError

T = TypeVar("T")
R = TypeVar("R")

# Canonical column names every stage output uses; --text-column & co. map user names onto them.
TEXT, ID, LABEL = "text", "id", "label"
# Columns only rejected/ carries; an input that already has them would be silently overwritten.
RESERVED = ("reason", "stage")
# Keeps a row group near this many bytes of text: small enough to stream, large enough to scan fast.
ROW_GROUP_TEXT_BYTES = 32 * 1024 * 1024
MAX_ROW_GROUP_ROWS = 100_000


@dataclass(frozen=True)
class Columns:
    """Which input columns hold the text, the id and the label."""

    text: str = TEXT
    id: str = ID
    label: str = LABEL

    def as_dict(self) -> dict[str, str]:
        return {"text": self.text, "id": self.id, "label": self.label}


@dataclass(frozen=True)
class Shard:
    path: Path
    index: int
    rows: int

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Dataset:
    """An opened, validated dataset; `read_shard` yields canonical frames (id, text, label?)."""

    root: Path
    data_dir: Path
    shards: list[Shard]
    columns: Columns
    schema: pa.Schema
    has_id: bool
    has_label: bool
    rows: int = field(init=False)

    def __post_init__(self) -> None:
        self.rows = sum(s.rows for s in self.shards)

    @classmethod
    def open(
        cls, path: str | Path, columns: Columns = Columns(), check_ids: bool = True
    ) -> Dataset:
        root = Path(path)
        data_dir = resolve_data_dir(root)
        files = list_shards(data_dir)
        shards, schemas = [], []
        for i, (f, meta) in enumerate(zip(files, each(_read_footer, files), strict=True)):
            shards.append(Shard(f, i, meta.num_rows))
            schemas.append(meta.schema.to_arrow_schema())
        schema = _check_schemas(files, schemas)
        _check_columns(files[0], schema, columns)
        ds = cls(
            root=root,
            data_dir=data_dir,
            shards=shards,
            columns=columns,
            schema=schema,
            has_id=columns.id in schema.names,
            has_label=columns.label in schema.names,
        )
        if check_ids and ds.has_id:
            ds._check_unique_ids()
        return ds

    def read_shard(self, shard: Shard, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """One shard as a canonical frame: id, text and label under their canonical names.
        `columns`: the (canonical) names a caller needs, read alone with id and text (a wide
        dataset's other columns are never decoded); None: every column."""
        source = None
        if columns is not None:
            c = self.columns
            alias = {TEXT: c.text, ID: c.id, LABEL: c.label}
            wanted = {alias.get(name, name) for name in (*columns, ID, TEXT)}
            source = [name for name in self.schema.names if name in wanted]
        try:
            table = read_table(shard.path, source)
        except (pa.ArrowException, OSError) as e:
            raise InputError(f"cannot read Parquet data ({_short(e)})", shard.path) from e
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        c = self.columns
        df = df.rename(
            {
                k: v
                for k, v in {c.text: TEXT, c.id: ID, c.label: LABEL}.items()
                if k in df.columns and k != v
            }
        )
        df = df.with_columns(pl.col(TEXT).cast(pl.String))
        if self.has_label and LABEL in df.columns:
            df = df.with_columns(pl.col(LABEL).cast(pl.String))
        if self.has_id:
            df = df.with_columns(pl.col(ID).cast(pl.String))
        else:
            df = df.insert_column(0, derive_ids(df[TEXT], shard.name))
        return df

    def iter_shards(self) -> Iterator[tuple[Shard, pl.DataFrame]]:
        for shard in self.shards:
            yield shard, self.read_shard(shard)

    def fingerprint(self, mode: str = "sha256") -> list[dict]:
        """Per-shard fingerprints; the manifest compares them to decide if a re-run is a no-op."""

        def one(s: Shard) -> dict:
            st = s.path.stat()
            entry: dict = {"path": str(s.path), "rows": s.rows, "bytes": st.st_size}
            if mode == "sha256":
                entry["sha256"] = file_sha256(s.path)
            else:
                entry["mtime_ns"] = st.st_mtime_ns
            return entry

        return each(one, self.shards)

    def _check_unique_ids(self) -> None:
        # 64-bit hashes keep memory at 8 bytes a row; a hash collision is confirmed on the strings.
        def id_hashes(s: Shard) -> np.ndarray:
            ids = _read_column(s.path, self.columns.id).cast(pl.String)
            nulls = ids.is_null()
            if nulls.any():
                row = int(nulls.arg_true()[0])
                raise InputError(f"id column '{self.columns.id}' is null at row {row}", s.path)
            return ids.hash(seed=0).to_numpy()

        h = np.sort(np.concatenate(each(id_hashes, self.shards)))
        suspects = pl.Series(distinct(h[1:][h[1:] == h[:-1]]))
        if suspects.is_empty():
            return
        seen: dict[str, Path] = {}  # the failure path only: re-read ids whose hash repeats
        for s in self.shards:
            ids = _read_column(s.path, self.columns.id).cast(pl.String)
            for value in ids.filter(ids.hash(seed=0).is_in(suspects)).to_list():
                if value in seen:
                    also = "" if seen[value] == s.path else f" (also in {seen[value].name})"
                    raise InputError(f"duplicate id '{value}'{also}", s.path)
                seen[value] = s.path


OPEN_THREADS = min(8, os.cpu_count() or 1)


def each(fn: Callable[[T], R], items: list[T]) -> list[R]:
    """[fn(x) for x in items] on a few threads, in order; the first failure in item order is
    raised, as in a loop. For per-shard footers, id columns and file hashes: Arrow, polars and
    hashlib work outside the GIL, so opening a dataset of many shards takes a fraction of the
    time (1 GB, 64 shards: sha256 fingerprints 0.59 s on one thread)."""
    if len(items) < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(OPEN_THREADS, len(items))) as pool:
        return list(pool.map(fn, items))


def resolve_data_dir(root: Path) -> Path:
    """A stage output folder stands for its data/; any other folder (or one .parquet) is itself."""
    if not root.exists():
        raise InputError("input does not exist", root)
    if root.is_file():
        return root
    if (root / "manifest.json").is_file() and (root / "data").is_dir():
        return root / "data"
    return root


def list_shards(data_dir: Path) -> list[Path]:
    if data_dir.is_file():
        if data_dir.suffix != ".parquet":
            raise InputError("not a Parquet file (expected a folder of *.parquet shards)", data_dir)
        return [data_dir]
    if not os.access(data_dir, os.R_OK | os.X_OK):
        raise InputError("input folder is not readable", data_dir)
    files = sorted(p for p in data_dir.glob("*.parquet") if p.is_file())
    if not files:
        raise InputError("no Parquet files (*.parquet) in input folder", data_dir)
    return files


def _read_footer(path: Path) -> pq.FileMetaData:
    try:
        return pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"not a readable Parquet file ({_short(e)})", path) from e


def read_table(path: Path, columns: list[str] | None = None, use_threads: bool = False) -> pa.Table:
    """A Parquet file's table. Not `pq.read_table`: that goes through pyarrow.dataset, whose
    import pulls in pandas (0.6 s in every process that reads a shard). Decoded on the calling
    thread unless `use_threads`: a stage's worker is one core's worth of work, and two worker
    threads handing their reads to Arrow's one shared pool waited on it (dedup, 50k docs: two
    workers 3.05 -> 2.81 s, one worker 5.03 -> 4.81 s). A lone reader (the report) gains from
    the pool."""
    with pq.ParquetFile(path) as f:
        return f.read(columns=columns, use_threads=use_threads)


def _read_column(path: Path, column: str) -> pl.Series:
    try:
        # as a one-column frame: polars converts a bare Arrow column through pyarrow.compute,
        # whose import costs ~0.17 s, paid by every command that opens a dataset
        return pl.from_arrow(read_table(path, [column])).to_series(0)  # type: ignore[union-attr]
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"cannot read Parquet data ({_short(e)})", path) from e


def _short(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _normalise_type(t: pa.DataType) -> str:
    # string, large_string and string_view hold the same values; writers differ in which they use.
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_null(t):
        return "null"
    return str(t)


def _check_schemas(files: list[Path], schemas: list[pa.Schema]) -> pa.Schema:
    first = schemas[0]
    want = {f.name: _normalise_type(f.type) for f in first}
    for path, schema in zip(files[1:], schemas[1:], strict=True):
        got = {f.name: _normalise_type(f.type) for f in schema}
        missing = [n for n in want if n not in got]
        extra = [n for n in got if n not in want]
        if missing or extra:
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"extra {', '.join(extra)}"] if extra else []
            )
            raise InputError(f"schema conflicts with {files[0].name}: {'; '.join(parts)}", path)
        for name, t in got.items():
            # an all-null column may be typed null by its writer; that agrees with any type
            if t != want[name] and "null" not in (t, want[name]):
                raise InputError(
                    f"schema conflicts with {files[0].name}: column '{name}' is {t} here "
                    f"but {want[name]} there",
                    path,
                )
    return first


def _check_columns(path: Path, schema: pa.Schema, c: Columns) -> None:
    names = schema.names
    if c.text not in names:
        raise InputError(
            f"text column '{c.text}' not found (columns: {', '.join(names)}); "
            "pass --text-column to name it",
            path,
        )
    for role, col, canonical in (
        ("text", c.text, TEXT),
        ("id", c.id, ID),
        ("label", c.label, LABEL),
    ):
        if col != canonical and col in names and canonical in names:
            raise InputError(
                f"--{role}-column '{col}' would be renamed to '{canonical}', "
                f"but a column '{canonical}' already exists",
                path,
            )
    types = {f.name: f.type for f in schema}
    for role, col in (("text", c.text), ("label", c.label)):
        if col in types and _normalise_type(types[col]) not in ("string", "null"):
            raise InputError(f"{role} column '{col}' must hold strings, found {types[col]}", path)
    if (
        c.id in types
        and _normalise_type(types[c.id]) not in ("string", "null")
        and not pa.types.is_integer(types[c.id])
    ):
        raise InputError(
            f"id column '{c.id}' must hold strings or integers, found {types[c.id]}", path
        )
    for name in RESERVED:
        if name in names:
            raise InputError(
                f"column '{name}' is reserved for rejected rows; rename or drop it first", path
            )


def derive_ids(text: pl.Series, shard_name: str) -> pl.Series:
    """Stable content ids: xxh3 of shard name, row position and text (unique by construction)."""
    prefix = shard_name.encode() + b"\x00"
    out = []
    for i, t in enumerate(text.to_list()):
        body = b"\xff" if t is None else t.encode("utf-8", "surrogatepass")
        out.append(xxhash.xxh3_64_hexdigest(prefix + str(i).encode() + b"\x00" + body))
    return pl.Series(ID, out, dtype=pl.String)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_shard(df: pl.DataFrame, path: Path) -> dict:
    """Writes one shard deterministically (same frame, same bytes) with bounded row groups."""
    table = df.to_arrow().combine_chunks()
    text_bytes = int(df[TEXT].str.len_bytes().sum() or 0) if TEXT in df.columns else 0
    per_row = max(1, text_bytes // max(1, df.height)) + 64
    rows_per_group = int(min(MAX_ROW_GROUP_ROWS, max(1, ROW_GROUP_TEXT_BYTES // per_row)))
    pq.write_table(
        table, path, row_group_size=rows_per_group, compression="zstd", write_statistics=True
    )
    return {"path": path.name, "rows": df.height, "sha256": file_sha256(path)}


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
