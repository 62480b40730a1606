"""Dedup's global steps as tasks over files: exact groups, connected components, keepers and
decisions. The process that plans the run holds only counts; every array proportional to the
dataset lives in the scratch folder, split by shard or by partition, and is read by the task
that needs it (on this machine or on any node of a Ray cluster sharing the folder).

Rows are numbered globally (shard after shard, the --against dataset first). A *part* is one
shard's rows; a *block* is a run of whole parts (a few blocks per worker); a *partition* is a
hash range of keys or of document pairs.

1. exact groups, one task per partition of exact keys: each row whose normalised text was seen
   at a smaller row gets an edge to that row (the group's representative);
2. (bands and verification: curate/dedup/stage.py) verified pairs become edges too;
3. connected components, one task per block and step of each round (FastSV: hooking, then
   shortcutting, until nothing changes; rounds grow with the log of a component's diameter,
   where plain label propagation took 1,571 rounds on a 4,096-row chain); labels end as the
   smallest row of each component, the same whatever the partitioning, worker count or
   executor;
4. keepers, one task per block: each component's rows, sent to the block owning the label,
   sorted by the keep policy;
5. decisions, one task per block, with the similarity of each near duplicate to its keeper
   looked up (or computed) by the pair partition that verified it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.arrays import distinct
from curate.dataset import ID
from curate.dedup.shingles import mix64
from curate.dedup.verify import PairSimilarity
from curate.scratch import SUFFIX, read_frame, write_frame

_PAIR_MIX = np.uint64(0x9E3779B97F4A7C15)
DECISION_COLUMNS = (
    "dedup.cluster",
    "dedup.cluster_size",
    "dedup.kept_id",
    "dedup.similarity",
    "dedup.duplicate_kind",
    "dedup.matched_against",
)


@dataclass(frozen=True)
class Part:
    """Where one shard's hashing results live in the scratch folder."""

    folder: Path
    rows: int
    new: bool = True  # a row of the input (False: of the --against dataset)
    index: int = -1  # the input shard's index (decision file name)

    def load(self, name: str, mmap: bool = False) -> np.ndarray:
        return np.load(self.folder / f"{name}.npy", mmap_mode="r" if mmap else None)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.npy"


@dataclass(frozen=True)
class Layout:
    """The scratch folder's plan, the same for every task: parts in global row order, the
    number of partitions of keys and pairs, and the blocks (runs of whole parts, as part-index
    boundaries) that the graph steps work on: one task per block, a few per worker."""

    work: Path
    parts: tuple[Part, ...]
    partitions: int
    blocks: tuple[int, ...] = ()  # empty: one block per part

    @property
    def offsets(self) -> np.ndarray:
        """First global row of each part (and the total at the end)."""
        return np.cumsum([0, *(p.rows for p in self.parts)])

    @property
    def bounds(self) -> tuple[int, ...]:
        return self.blocks or tuple(range(len(self.parts) + 1))

    @property
    def n_blocks(self) -> int:
        return len(self.bounds) - 1

    @property
    def starts(self) -> np.ndarray:
        """First global row of each block (and the total at the end)."""
        return self.offsets[list(self.bounds)]

    def owner(self, rows: np.ndarray) -> np.ndarray:
        """The block of each global row."""
        return np.searchsorted(self.starts, rows, side="right") - 1

    def block_parts(self, b: int) -> list[int]:
        return list(range(self.bounds[b], self.bounds[b + 1]))

    def block_meta(self, b: int, columns: list[str] | None = None) -> pl.DataFrame:
        return pl.concat(
            [
                read_frame(self.parts[i].folder / f"meta{SUFFIX}", columns)
                for i in self.block_parts(b)
            ]
        )

    def file(self, name: str) -> Path:
        return self.work / name


def split_blocks(rows: list[int], blocks: int) -> tuple[int, ...]:
    """Part-index boundaries of about `blocks` runs of parts with even row counts."""
    blocks = max(1, min(blocks, len(rows)))
    cum = np.cumsum([0, *rows])
    cuts = np.searchsorted(cum, np.linspace(0, cum[-1], blocks + 1)[1:-1], side="left")
    return tuple(sorted({0, *cuts.tolist(), len(rows)}))


def pair_partition(a: np.ndarray, b: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of pairs (a < b): a hash, so partitions come out even (by ranges of the
    first row, the first quarter held 56% of the pairs: a pair's smaller end)."""
    with np.errstate(over="ignore"):
        mixed = mix64(a.astype(np.uint64) * _PAIR_MIX ^ b.astype(np.uint64))
    return (mixed % np.uint64(partitions)).astype(np.int64)


def key_partition(k1: np.ndarray, partitions: int) -> np.ndarray:
    return (k1 % np.uint64(partitions)).astype(np.int64)


def _empty_edges() -> np.ndarray:
    return np.zeros((0, 2), np.int64)


def _concat_edges(chunks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(chunks).reshape(-1, 2) if chunks else _empty_edges()


def write_adjacency(layout: Layout, tag: str, edges: np.ndarray) -> None:
    """Undirected edges, written once per endpoint's block: (row in the block, other row)."""
    both = np.concatenate([edges, edges[:, ::-1]]) if len(edges) else _empty_edges()
    owner = layout.owner(both[:, 0])
    for s in range(layout.n_blocks):
        np.save(layout.file(f"adj-{tag}-{s:05d}.npy"), both[owner == s])


def _adjacency(layout: Layout, s: int) -> np.ndarray:
    files = sorted(layout.work.glob(f"adj-*-{s:05d}.npy"))
    return _concat_edges([np.load(f) for f in files])


# -- 1. exact groups -------------------------------------------------------------------------


def exact_groups(k: int, layout: Layout, exact: bool) -> int:
    """Partition k of exact keys: edges (row, representative) written as adjacency and as
    `exact-{k}.npy`; returns how many groups have duplicates."""
    edges = _empty_edges()
    groups = 0
    keys = np.zeros((0, 3), np.uint64)
    if exact:
        keys = np.concatenate(
            [np.fromfile(p.folder / f"keys-{k:05d}.u64", np.uint64) for p in layout.parts]
        ).reshape(-1, 3)
    if len(keys):
        g, k1, k2 = keys[:, 0].astype(np.int64), keys[:, 1], keys[:, 2]
        order = np.lexsort((g, k2, k1))
        g, k1, k2 = g[order], k1[order], k2[order]
        first = np.ones(len(g), dtype=bool)
        first[1:] = (k1[1:] != k1[:-1]) | (k2[1:] != k2[:-1])
        rep = g[np.maximum.accumulate(np.where(first, np.arange(len(g)), 0))]
        edges = np.stack([g[~first], rep[~first]], axis=1)
        groups = int(np.count_nonzero(np.diff(np.flatnonzero(np.append(first, True))) > 1))
    np.save(layout.file(f"exact-{k:05d}.npy"), edges)
    write_adjacency(layout, f"x{k:05d}", edges)
    return groups


def representatives(layout: Layout) -> np.ndarray:
    """Rows that are not their exact group's representative (sorted)."""
    files = [layout.file(f"exact-{k:05d}.npy") for k in range(layout.partitions)]
    return np.sort(_concat_edges([np.load(f) for f in files])[:, 0])


# -- 3. connected components -----------------------------------------------------------------


def _labels_file(layout: Layout, phase: str, s: int) -> Path:
    return layout.file(f"label-{phase}-{s:05d}.npy")


def _gather(layout: Layout, phase: str, rows: np.ndarray) -> np.ndarray:
    """Labels of any global rows, read from each owning block's file of `phase`."""
    out = np.empty(len(rows), dtype=np.int64)
    owner = layout.owner(rows)
    offsets = layout.starts
    for s in distinct(owner).tolist():
        at = owner == s
        out[at] = np.load(_labels_file(layout, phase, s), mmap_mode="r")[rows[at] - offsets[s]]
    return out


def components_init(s: int, layout: Layout) -> int:
    """Part s: its adjacency gathered into one file, labels = own rows; returns edges seen."""
    adj = _adjacency(layout, s)
    np.save(layout.file(f"adjacency-{s:05d}.npy"), adj)
    lo, hi = layout.starts[s], layout.starts[s + 1]
    np.save(_labels_file(layout, "a", s), np.arange(lo, hi, dtype=np.int64))
    return len(adj)


def components_hook(s: int, layout: Layout, src: str) -> int:
    """Hooking (FastSV, Zhang et al. 2020): for each edge (u, v), u and its parent f[u] both
    take min(own, f[f[v]]). Proposals for rows of other parts go to files by owner."""
    adj = np.load(layout.file(f"adjacency-{s:05d}.npy"))
    if len(adj) == 0:
        return 0
    parent = np.load(_labels_file(layout, src, s))
    grand_v = _gather(layout, src, _gather(layout, src, adj[:, 1]))
    target = np.concatenate([adj[:, 0], parent[adj[:, 0] - layout.starts[s]]])
    value = np.concatenate([grand_v, grand_v])
    owner = layout.owner(target)
    for o in distinct(owner).tolist():
        at = owner == o
        np.save(layout.file(f"hook-{s:05d}-{o:05d}.npy"), np.stack([target[at], value[at]], 1))
    return len(target)


def components_apply(s: int, layout: Layout, src: str, dst: str) -> int:
    """Part s takes the proposals for its rows; returns rows changed."""
    parent = np.load(_labels_file(layout, src, s))
    new = parent.copy()
    for f in sorted(layout.work.glob(f"hook-*-{s:05d}.npy")):
        hook = np.load(f)
        np.minimum.at(new, hook[:, 0] - layout.starts[s], hook[:, 1])
        f.unlink()  # read: the next round writes its own
    np.save(_labels_file(layout, dst, s), new)
    return int(np.count_nonzero(new != parent))


def components_shortcut(s: int, layout: Layout, src: str, dst: str) -> int:
    """f[u] = min(f[u], f[f[u]]): trees flatten towards stars."""
    parent = np.load(_labels_file(layout, src, s))
    moved = np.flatnonzero(parent != np.arange(layout.starts[s], layout.starts[s + 1]))
    new = parent.copy()
    if len(moved):
        new[moved] = np.minimum(parent[moved], _gather(layout, src, parent[moved]))
    np.save(_labels_file(layout, dst, s), new)
    return int(np.count_nonzero(new != parent))


def connected_components(layout: Layout, run_map) -> tuple[str, int]:
    """Runs the rounds with `run_map(fn, items, *args)`; returns the final labels' phase and
    the number of rounds. Labels only fall, and only to rows of the same component; when a
    round changes nothing every row points at a root that all its neighbours share, and the
    component's smallest row is its own root: every label is that row."""
    every = list(range(layout.n_blocks))
    edges = run_map(components_init, every, layout)
    linked = [s for s in every if edges[s]]  # other parts' rows stay their own labels
    rounds = 0
    while linked:
        rounds += 1
        run_map(components_hook, linked, layout, "a")
        changed = sum(run_map(components_apply, linked, layout, "a", "b"))
        changed += sum(run_map(components_shortcut, linked, layout, "b", "a"))
        if changed == 0:
            break
    return "a", rounds


# -- 4. keepers ------------------------------------------------------------------------------


def keeper_records(s: int, layout: Layout, phase: str, policy: str) -> int:
    """Block s's rows that belong to a component with others, sent to the block owning their
    label: (label, new, primary, id, row, k1, k2)."""
    lo = int(layout.starts[s])
    adj = np.load(layout.file(f"adjacency-{s:05d}.npy"))
    local = distinct(adj[:, 0] - lo) if len(adj) else np.zeros(0, np.int64)
    if len(local) == 0:
        return 0
    labels = np.load(_labels_file(layout, phase, s))[local]
    rows = layout.block_meta(s)[local]
    new = np.repeat(
        [layout.parts[i].new for i in layout.block_parts(s)],
        [layout.parts[i].rows for i in layout.block_parts(s)],
    )[local]
    if policy == "longest":
        primary = -rows["length"].cast(pl.Float64)
    elif policy == "first":
        primary = pl.Series(local + lo, dtype=pl.Float64)
    else:  # missing scores lose
        primary = (-rows["keep_value"]).fill_nan(np.inf).fill_null(np.inf)
    rec = pl.DataFrame(
        {
            "label": labels,
            "new": new,
            "primary": primary,
            "id": rows[ID],
            "row": local + lo,
            "k1": rows["k1"],
            "k2": rows["k2"],
            "owner": layout.owner(labels),
        }
    )
    for (o,), frame in rec.partition_by("owner", as_dict=True).items():
        write_frame(frame.drop("owner"), layout.file(f"krec-{s:05d}-{o:05d}{SUFFIX}"))
    return len(rec)


def choose_keepers(o: int, layout: Layout) -> int:
    """The components labelled by block o's rows: size and keeper (rows of the --against
    dataset first, they are kept already; then the policy; ties by smallest id)."""
    files = sorted(layout.work.glob(f"krec-*-{o:05d}{SUFFIX}"))
    out = layout.file(f"comp-{o:05d}{SUFFIX}")
    if not files:
        write_frame(_COMP_EMPTY, out)
        return 0
    rec = pl.concat([read_frame(f) for f in files])
    comp = (
        rec.sort("label", "new", "primary", "id")
        .group_by("label", maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("size"),
            pl.col("row").first().alias("keeper"),
            pl.col("id").first().alias("keeper_id"),
            pl.col("k1").first().alias("keeper_k1"),
            pl.col("k2").first().alias("keeper_k2"),
            pl.col("new").first().alias("keeper_new"),
        )
    )
    write_frame(comp, out)
    return comp.height


_COMP_EMPTY = pl.DataFrame(
    schema={
        "label": pl.Int64,
        "size": pl.Int64,
        "keeper": pl.Int64,
        "keeper_id": pl.String,
        "keeper_k1": pl.UInt64,
        "keeper_k2": pl.UInt64,
        "keeper_new": pl.Boolean,
    }
)


# -- 5. decisions ----------------------------------------------------------------------------


def decide_block(s: int, layout: Layout, phase: str, exact: bool) -> int:
    """Block s's rows: cluster, size, keeper, kind; near duplicates' (row, keeper) pairs sent to
    the pair partition that can tell their similarity. Returns the pairs sent."""
    lo, hi = int(layout.starts[s]), int(layout.starts[s + 1])
    labels = np.load(_labels_file(layout, phase, s))
    meta = layout.block_meta(s, [ID, "k1", "k2"])
    linked = np.zeros(hi - lo, dtype=bool)
    adj = np.load(layout.file(f"adjacency-{s:05d}.npy"))
    linked[adj[:, 0] - lo] = True  # in a component with others: its label's block knows it
    owners = distinct(layout.owner(labels[linked]))
    comp = pl.concat(
        [_COMP_EMPTY] + [read_frame(layout.file(f"comp-{o:05d}{SUFFIX}")) for o in owners.tolist()]
    )
    frame = (
        pl.DataFrame({"label": labels, "row": np.arange(lo, hi), "linked": linked})
        .with_columns(meta[ID], meta["k1"], meta["k2"])
        .join(comp, on="label", how="left", maintain_order="left")
        .with_columns(
            pl.when("linked").then("keeper").otherwise("row").alias("keeper"),
            pl.when("linked").then("size").otherwise(1).alias("size"),
            pl.when("linked").then("keeper_id").otherwise(ID).alias("keeper_id"),
        )
        .with_columns(dup=pl.col("keeper") != pl.col("row"))
        .with_columns(
            exact_dup=pl.col("dup")
            & pl.lit(exact)
            & (pl.col("keeper_k1") == pl.col("k1"))
            & (pl.col("keeper_k2") == pl.col("k2"))
        )
    )
    write_frame(
        frame.select("row", "keeper", "size", "keeper_id", ID, "dup", "exact_dup", "keeper_new"),
        layout.file(f"dec-{s:05d}{SUFFIX}"),
    )
    near = frame.filter(pl.col("dup") & ~pl.col("exact_dup"))
    row, keeper = near["row"].to_numpy(), near["keeper"].to_numpy()
    a, b = np.minimum(row, keeper), np.maximum(row, keeper)
    k = pair_partition(a, b, layout.partitions)
    for p in range(layout.partitions):
        at = k == p
        np.save(layout.file(f"ask-{s:05d}-{p:05d}.npy"), np.stack([row[at], a[at], b[at]], 1))
    return len(row)


def keeper_similarity(k: int, layout: Layout, similarity: PairSimilarity, shingles: bool) -> int:
    """Pair partition k answers each block's near duplicates: their similarity to the keeper, as
    verified, or computed now (a keeper joined through others may never have been a
    candidate of this row)."""
    verified = np.load(layout.file(f"verified-{k:05d}.npy"))
    sims = np.load(layout.file(f"vsims-{k:05d}.npy"))
    n = int(layout.offsets[-1])
    known = verified[:, 0] * n + verified[:, 1]
    order = np.argsort(known)
    known, sims = known[order], sims[order]
    inputs = [s for s in range(layout.n_blocks) if decides(layout, s)]
    asks = [np.load(layout.file(f"ask-{s:05d}-{k:05d}.npy")) for s in inputs]
    sizes = [len(x) for x in asks]
    ask = np.concatenate([np.zeros((0, 3), np.int64), *(x.reshape(-1, 3) for x in asks)])
    sim = np.full(len(ask), np.nan)
    if len(ask):
        want = ask[:, 1] * n + ask[:, 2]
        at = np.minimum(np.searchsorted(known, want), max(0, len(known) - 1))
        have = (known[at] == want) if len(known) else np.zeros(len(want), bool)
        sim[have] = sims[at[have]]
        rest = ask[~have, 1:]
        if len(rest):
            sim[~have] = similarity.exact(rest) if shingles else similarity.estimate(rest)
    start = 0
    for s, size in zip(inputs, sizes, strict=True):
        np.save(layout.file(f"sim-{k:05d}-{s:05d}.npy"), sim[start : start + size])
        start += size
    return len(ask)


def decides(layout: Layout, s: int) -> bool:
    """Whether block s holds rows of the input (the --against dataset's get no decisions)."""
    return any(layout.parts[i].new for i in layout.block_parts(s))


def write_decisions(s: int, layout: Layout, folder: Path) -> int:
    """Block s's decision files, one per input shard: the columns the stage attaches to the
    shard's rows."""
    lo, hi = int(layout.starts[s]), int(layout.starts[s + 1])
    dec = read_frame(layout.file(f"dec-{s:05d}{SUFFIX}"))
    sim = np.full(hi - lo, np.nan)
    sim[dec["exact_dup"].to_numpy()] = 1.0
    for k in range(layout.partitions):
        ask = np.load(layout.file(f"ask-{s:05d}-{k:05d}.npy")).reshape(-1, 3)
        if len(ask):
            sim[ask[:, 0] - lo] = np.load(layout.file(f"sim-{k:05d}-{s:05d}.npy"))
    out = dec.select(
        pl.col("keeper_id").alias("dedup.cluster"),
        pl.col("size").cast(pl.Int64).alias("dedup.cluster_size"),
        pl.when("dup").then(pl.col("keeper_id")).alias("dedup.kept_id"),
        pl.Series("dedup.similarity", sim).fill_nan(None),
        pl.when("exact_dup")
        .then(pl.lit("exact"))
        .when("dup")
        .then(pl.lit("near"))
        .alias("dedup.duplicate_kind"),
        (pl.col("dup") & ~pl.col("keeper_new").fill_null(True)).alias("dedup.matched_against"),
    )
    start = lo
    for i in layout.block_parts(s):
        part = layout.parts[i]
        if part.new:
            write_frame(out.slice(start - lo, part.rows), folder / f"{part.index:05d}{SUFFIX}")
        start += part.rows
    return out.height
