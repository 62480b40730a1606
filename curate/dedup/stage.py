"""`dedup`: exact and near-duplicate removal across the whole dataset (not per shard).

Global pass (`prepare`):
1. per shard, in parallel: normalised text -> exact key (128 bits), word-shingle hashes,
   signatures and LSH band keys, all written to the scratch folder (nothing held per document);
2. exact groups; LSH buckets, one task per band, over one representative per exact group; each
   band's pairs go to files partitioned by their first document (a shuffle through files);
3. one task per partition: its distinct candidate pairs verified (shingle-set Jaccard, or
   signature agreement) against the threshold, so a band collision alone never removes a
   document; only verified pairs come back to this process;
4. clusters = connected components of exact and verified pairs; one keeper per cluster by policy;
5. per-shard decision files that `signals` attaches to each shard's rows.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from curate.dataset import ID, TEXT, Columns, Dataset, Shard
from curate.dedup import native
from curate.dedup.graph import (
    Layout,
    Part,
    choose_keepers,
    connected_components,
    decide_block,
    decides,
    exact_groups,
    keeper_records,
    keeper_similarity,
    key_partition,
    pair_partition,
    representatives,
    split_blocks,
    write_adjacency,
    write_decisions,
)
from curate.dedup.lsh import band_keys, bucket_pairs, choose_bands, s_curve, unique_pairs
from curate.dedup.shingles import shingle_hashes
from curate.dedup.signatures import oph_fingerprints, signatures
from curate.dedup.tokens import doc_keys, token_hashes
from curate.dedup.verify import PairSimilarity, prefilter_floor, shingle_sets
from curate.errors import ConfigError
from curate.scratch import SUFFIX, write_frame
from curate.stage import Rule, ShardDecisions, Stage, StageContext

KIND = "dedup.duplicate_kind"
BAND_KEYS = "band_keys.u64"  # per part: (bands x rows) uint64, raw
PAIRS_PARTITION_ROWS = 50_000  # rows per partition of exact keys and candidate pairs
MIN_PARTITIONS = 8  # partitions of keys and pairs above SMALL_ROWS (tasks to spread over workers)
SMALL_ROWS = 2 * PAIRS_PARTITION_ROWS  # up to this many rows: SMALL_PARTITIONS partitions
SMALL_PARTITIONS = 2
VERIFY_CHUNK = 65_536  # candidate pairs verified at a time (their shingle sets mapped, then not)


@dataclass(frozen=True)
class DedupConfig:
    exact: bool = True
    """Remove exact duplicates of the normalised text (reason exact_duplicate)."""
    near: bool = True
    """Remove near duplicates found by MinHash-LSH and verified (reason near_duplicate)."""
    lowercase: bool = True
    """Normalisation before hashing and shingling: case folded."""
    punctuation: bool = True
    """Normalisation: words are runs of letters, digits and marks (punctuation and symbols
    separate words and do not count); false: words are runs of non-whitespace."""
    digits: bool = False
    """Normalisation: digit runs become '0' (dates and counters stop mattering)."""
    whitespace: bool = True
    """Exact keys ignore whitespace (and, with punctuation, punctuation); false: exact keys
    compare the case- and digit-folded text as it is."""
    ngram: int = 5
    """Words per shingle."""
    num_perm: int = 128
    """Signature length (permutations, or bins for oph)."""
    threshold: float = 0.8
    """Jaccard similarity at or above which two documents are near duplicates."""
    bands: int = 0
    """LSH bands; 0 derives bands and rows from threshold and lsh_recall."""
    rows: int = 0
    """LSH rows per band; set together with bands (bands x rows <= num_perm)."""
    lsh_recall: float = 0.99
    """When derived: P(a pair exactly at the threshold becomes a candidate) at least this."""
    signature: Literal["oph", "minhash"] = "oph"
    """oph: one permutation hashing (fast); minhash: datasketch-compatible affine32."""
    verify: Literal["shingles", "signature"] = "shingles"
    """Candidates are verified by exact Jaccard of shingle sets, or by signature agreement."""
    keep: str = "longest"
    """Which row of a cluster is kept: longest (ties: smallest id), first (dataset order), or
    column:<name> (largest value of a numeric column; ties: smallest id)."""
    against: str = ""
    """A dataset whose rows count as already kept: rows of the input duplicating them go."""

    def validate(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {self.ngram}")
        if self.num_perm < 2:
            raise ValueError(f"num_perm must be >= 2, got {self.num_perm}")
        if not 0 < self.lsh_recall < 1:
            raise ValueError(f"lsh_recall must be in (0, 1), got {self.lsh_recall}")
        if (self.bands > 0) != (self.rows > 0) or self.bands < 0 or self.rows < 0:
            raise ValueError("bands and rows are given together (both > 0) or not at all")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}"
            )
        if self.keep not in ("longest", "first") and not (
            self.keep.startswith("column:") and len(self.keep) > len("column:")
        ):
            raise ValueError(f"keep must be longest, first or column:<name>, got {self.keep!r}")
        if not (self.exact or self.near):
            raise ValueError("exact and near are both off: nothing to do")

    def band_params(self) -> tuple[int, int]:
        if self.bands:
            return self.bands, self.rows
        return choose_bands(self.num_perm, self.threshold, self.lsh_recall)


def partition_count(rows: int) -> int:
    """Partitions of exact keys and candidate pairs for a run over `rows` rows. Set by the data
    alone, so an interrupted run's hashing results (split by them) stay valid whatever the
    worker count of the next; the output never depends on it (tests hold it to that).

    Small inputs get two: each partition's tasks read every shard's files, and that fixed cost
    outweighed the balance more partitions buy (50k docs, 2 workers: 8 partitions 0.48 s after
    hashing, 2 partitions 0.39 s). Larger ones get a multiple of MIN_PARTITIONS, so 2, 4 or 8
    workers get equal shares (at 1 GB 9 partitions left one of two workers a task to itself at
    the end of verification)."""
    if rows <= SMALL_ROWS:
        return SMALL_PARTITIONS
    return MIN_PARTITIONS * -(-rows // (PAIRS_PARTITION_ROWS * MIN_PARTITIONS))


def block_count(rows: int) -> int:
    """Blocks (runs of whole shards) for the graph steps after verification: one per
    PAIRS_PARTITION_ROWS rows. Like the partitions, set by the data alone, and the output
    never depends on it (tests hold it to that). At 50k rows one block: a block task's fixed
    cost (a few file reads and polars calls) was all of those steps' time there, and two
    blocks on two workers were no faster than one."""
    return max(1, -(-rows // PAIRS_PARTITION_ROWS))


class DedupStage(Stage):
    name = "dedup"
    config_class = DedupConfig
    threads = True  # measured: its tasks are compiled nogil loops, numpy, polars and Arrow

    def __init__(self, config: DedupConfig | None = None):
        super().__init__(config)
        self._decisions: ShardDecisions | None = None
        self._info: dict = {}
        self.keep_pairs = False  # set: prepare() gathers the duplicate edges into `pairs`
        self.pairs = np.zeros((0, 2), np.int64)

    def __getstate__(self) -> dict:  # workers need the decisions folder, not the edges
        return {**self.__dict__, "pairs": None}

    def extra_fingerprints(self, mode: str) -> dict:
        if not self.config.against:
            return {}
        return {"against": Dataset.open(self.config.against, check_ids=False).fingerprint(mode)}

    # -- global pass -------------------------------------------------------------------------

    def prepare(self, dataset: Dataset, ctx: StageContext) -> None:
        cfg: DedupConfig = self.config
        sources: list[tuple[str, Dataset]] = []
        if cfg.against:
            sources.append(("against", Dataset.open(cfg.against, Columns())))
        sources.append(("input", dataset))
        bands, rows = cfg.band_params()
        n = sum(ds.rows for _, ds in sources)
        partitions = partition_count(n)
        clock = _Clock()
        jobs, start = [], 0
        for tag, ds in sources:
            for s in ds.shards:
                folder = ctx.workdir / f"{tag}-{s.index:05d}"
                jobs.append((ds, s, folder, start, tag == "input"))
                start += s.rows
        parts = ctx.map(_hash_shard, jobs, cfg, bands, rows, ctx.seed, partitions)
        clock.lap("hash_shards_s")
        bounds = split_blocks([p.rows for p in parts], block_count(n))
        layout = Layout(ctx.workdir / "graph", tuple(parts), partitions, bounds)
        shutil.rmtree(layout.work, ignore_errors=True)  # an interrupted run's would mix in
        layout.work.mkdir()
        exact_groups_found = sum(ctx.map(exact_groups, list(range(partitions)), layout, cfg.exact))

        candidates = prefiltered = verified = 0
        similarity = PairSimilarity(list(parts), [p.rows for p in parts])
        if cfg.near:
            # candidate pairs never gather here: each band's task groups that band's keys and
            # writes its pairs split into partitions (by a hash of the pair); each partition's
            # task merges its pairs over all bands, verifies them and writes the verified ones
            pairs_dir = layout.work / "pairs"
            pairs_dir.mkdir()
            _lsh_rows(layout, pairs_dir)
            band_starts = ctx.map(_band_pairs, list(range(bands)), layout, pairs_dir)
            clock.lap("lsh_s")
            checked = ctx.map(
                _verify_partition,
                list(range(partitions)),
                layout,
                pairs_dir,
                band_starts,
                similarity,
                cfg,
            )
            candidates = sum(c for c, _, _ in checked)
            prefiltered = sum(f for _, f, _ in checked)
            verified = sum(v for _, _, v in checked)
        clock.lap("verify_s")

        phase, rounds = connected_components(layout, ctx.map)
        clock.lap("components_s")
        every = list(range(layout.n_blocks))
        inputs = [b for b in every if decides(layout, b)]
        ctx.map(keeper_records, every, layout, phase, cfg.keep)
        clusters = sum(ctx.map(choose_keepers, every, layout))
        clock.lap("keepers_s")
        ctx.map(decide_block, inputs, layout, phase, cfg.exact)
        if cfg.near:
            ctx.map(
                keeper_similarity,
                list(range(partitions)),
                layout,
                similarity,
                cfg.verify == "shingles",
            )
        decisions = ctx.workdir / "decisions"
        shutil.rmtree(decisions, ignore_errors=True)
        decisions.mkdir()
        ctx.map(write_decisions, inputs, layout, decisions)
        self._decisions = ShardDecisions(decisions)
        if self.keep_pairs:  # benchmarks score the edges; runs never gather them
            self.pairs = _edges(layout)
        against_rows = sum(p.rows for p in parts if not p.new)
        self._info = {
            "signature": cfg.signature,
            "num_perm": cfg.num_perm,
            "ngram": cfg.ngram,
            "threshold": cfg.threshold,
            "bands": bands,
            "rows": rows,
            "candidate_probability": s_curve(bands, rows),
            "candidate_pairs": int(candidates),
            "verified_pairs": int(verified),
            "rejected_by_verification": int(candidates - verified),
            "rejected_by_signature_prefilter": int(prefiltered),
            "exact_groups_with_duplicates": int(exact_groups_found),
            "clusters_with_duplicates": int(clusters),
            "component_rounds": rounds,
            "against_rows": int(against_rows),
            "timings": clock.lap("decisions_s"),
        }

    # -- per shard ---------------------------------------------------------------------------

    def signals(self, df: pl.DataFrame, shard: Shard) -> pl.DataFrame:
        assert self._decisions is not None, "prepare() runs before signals()"
        return self._decisions.attach(df, shard)

    def rules(self) -> list[Rule]:
        return [
            Rule("exact_duplicate", pl.col(KIND) == "exact"),
            Rule("near_duplicate", pl.col(KIND) == "near"),
        ]

    def manifest_extra(self) -> dict:
        return self._info


def _hash_shard(
    job: tuple[Dataset, Shard, Path, int, bool],
    cfg: DedupConfig,
    bands: int,
    rows: int,
    seed: int,
    partitions: int,
) -> Part:
    """A shard's keys, signatures, shingle sets and band keys, written to its folder. The C
    loops where the install built them, else the numpy passes: the same bits either way, so
    a run may mix them (a Ray cluster whose nodes differ)."""
    dataset, shard, folder, start, new = job
    part = Part(folder, shard.rows, new, shard.index)
    if (folder / "done").is_file():  # finished by an interrupted run with the same key
        return part
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    keep_col = cfg.keep.removeprefix("column:") if cfg.keep.startswith("column:") else None
    df = dataset.read_shard(shard, [keep_col] if keep_col else [])  # no other column decoded
    text = df[TEXT]
    if cfg.lowercase:
        text = text.str.to_lowercase()
    if cfg.digits:
        text = text.str.replace_all(r"\p{Nd}+", "0")
    compiled = native.available()
    tokens, tok_off = token_hashes(text, cfg.punctuation, compiled)
    if cfg.whitespace:  # equal token sequences: equal text once whitespace is collapsed
        k1, k2 = doc_keys(tokens, tok_off, compiled)
    else:  # whitespace matters: the case- and digit-folded text itself is the key
        k1, k2 = (text.fill_null("").hash(seed=s).to_numpy() for s in (1, 2))
    if keep_col is not None and keep_col not in df.columns:
        raise ConfigError(f"keep = column:{keep_col}, but the column does not exist", shard.path)
    keep_value = (
        df[keep_col].cast(pl.Float64) if keep_col else pl.repeat(0.0, df.height, eager=True)
    )
    meta = pl.DataFrame(
        {
            ID: df[ID],
            "length": df[TEXT].str.len_chars().fill_null(0).cast(pl.Int64),
            "keep_value": keep_value,
            # two independent 64-bit keys: one collision would merge unrelated texts
            "k1": k1,
            "k2": k2,
        }
    )
    write_frame(meta, folder / f"meta{SUFFIX}")
    if cfg.exact:  # exact keys split by partition: one task groups each
        keyed = np.stack([np.arange(start, start + df.height, dtype=np.uint64), k1, k2], axis=1)
        which = key_partition(k1, partitions)
        for k in range(partitions):
            keyed[which == k].tofile(folder / f"keys-{k:05d}.u64")  # raw: no header to parse
    if cfg.near:
        if cfg.signature == "oph" and compiled:
            sig, sets, set_offsets = oph_fingerprints(
                tokens, tok_off, cfg.ngram, cfg.num_perm, seed
            )
        else:
            sh, sh_off = shingle_hashes(tokens, tok_off, cfg.ngram)
            sig = signatures(sh, sh_off, cfg.num_perm, seed, cfg.signature)
            sets, set_offsets = shingle_sets(sh, sh_off)
        np.save(folder / "sets.npy", sets)
        np.save(folder / "set_offsets.npy", set_offsets)
        np.save(folder / "signatures.npy", sig)
        band_keys(sig, bands, rows, compiled).tofile(folder / BAND_KEYS)  # raw: no header to parse
        np.save(folder / "has_shingles.npy", np.diff(tok_off) > 0)
    (folder / "done").touch()
    return part


def _lsh_rows(layout: Layout, folder: Path) -> None:
    """The rows that take part in LSH, once for all bands: those with shingles that represent
    their exact group."""
    has = np.concatenate([p.load("has_shingles") for p in layout.parts])
    has[representatives(layout)] = False
    np.save(folder / "rows.npy", np.flatnonzero(has))


def _band_pairs(band: int, layout: Layout, folder: Path) -> list[int]:
    """One band's candidate pairs among the LSH rows, written raw to one file grouped by pair
    partition; returns where each partition starts in it (in pairs), for the verify tasks."""
    rows = np.load(folder / "rows.npy")
    keys = np.concatenate([_band_of(p, band) for p in layout.parts])
    pairs = bucket_pairs(keys[rows], rows)
    part = pair_partition(pairs[:, 0], pairs[:, 1], layout.partitions)
    order = np.argsort(part, kind="stable")
    pairs[order].astype(np.int64).tofile(folder / f"b{band:04d}.i64")
    return np.searchsorted(part[order], np.arange(layout.partitions + 1)).tolist()


def _band_of(part: Part, band: int) -> np.ndarray:
    """One band's keys of a part: that row of its (bands x rows) uint64 file, read alone (one
    np.load per part and band parsed a header each time: 40% of the band step)."""
    return np.fromfile(
        part.folder / BAND_KEYS, np.uint64, count=part.rows, offset=band * part.rows * 8
    )


def _band_partition(folder: Path, band: int, starts: list[int], k: int) -> np.ndarray:
    """Partition k's pairs of one band: one read of its slice of the band's raw file (an
    np.load per band parsed a header each time: a third of verification at 50k docs)."""
    count = starts[k + 1] - starts[k]
    pairs = np.fromfile(folder / f"b{band:04d}.i64", np.int64, 2 * count, offset=16 * starts[k])
    return pairs.reshape(-1, 2)


def _verify_partition(
    k: int,
    layout: Layout,
    folder: Path,
    band_starts: list[list[int]],
    similarity: PairSimilarity,
    cfg: DedupConfig,
) -> tuple[int, int, int]:
    """A partition's distinct candidate pairs verified, the verified ones written (as pairs
    with their similarity, and as edges): (candidates, rejected by the signature prefilter,
    verified). Bounded memory: pairs in chunks."""
    pairs = unique_pairs(
        [_band_partition(folder, b, starts, k) for b, starts in enumerate(band_starts)]
    )
    found, sims, prefiltered = [np.zeros((0, 2), np.int64)], [np.zeros(0)], 0
    floor = prefilter_floor(cfg.threshold, cfg.num_perm)
    for lo in range(0, len(pairs), VERIFY_CHUNK):
        chunk = pairs[lo : lo + VERIFY_CHUNK]
        sim = similarity.estimate(chunk)
        if cfg.verify == "shingles":  # exact Jaccard, except for hopeless candidates
            hopeful = sim >= floor
            prefiltered += int((~hopeful).sum())
            sim[hopeful] = similarity.exact(chunk[hopeful], cfg.threshold)
        ok = sim >= cfg.threshold
        found.append(chunk[ok])
        sims.append(sim[ok])
    verified = np.concatenate(found)
    np.save(layout.file(f"verified-{k:05d}.npy"), verified)
    np.save(layout.file(f"vsims-{k:05d}.npy"), np.concatenate(sims))
    write_adjacency(layout, f"v{k:05d}", verified)
    return len(pairs), prefiltered, len(verified)


def _edges(layout: Layout) -> np.ndarray:
    """Every duplicate edge found: exact (row, representative) and verified pairs."""
    names = [
        f"{kind}-{k:05d}.npy" for kind in ("exact", "verified") for k in range(layout.partitions)
    ]
    found = [np.load(layout.file(f)) for f in names if layout.file(f).is_file()]
    return np.concatenate(found).reshape(-1, 2) if found else np.zeros((0, 2), np.int64)


class _Clock:
    def __init__(self) -> None:
        self.t, self.laps = time.perf_counter(), {}

    def lap(self, name: str) -> dict[str, float]:
        now = time.perf_counter()
        self.laps[name], self.t = round(now - self.t, 3), now
        return self.laps
