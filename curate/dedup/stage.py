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
from curate.dedup.lsh import band_keys, bucket_pairs, choose_bands, s_curve, unique_pairs
from curate.dedup.shingles import mix64, shingle_hashes
from curate.dedup.signatures import signatures
from curate.dedup.tokens import doc_keys, token_hashes
from curate.dedup.verify import PairSimilarity, prefilter_floor, shingle_sets
from curate.errors import ConfigError
from curate.stage import Rule, ShardDecisions, Stage, StageContext

KIND = "dedup.duplicate_kind"
PAIRS_PARTITION_ROWS = 50_000  # documents per partition of candidate pairs (at least 2 a worker)
_PAIR_MIX = np.uint64(0x9E3779B97F4A7C15)
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


@dataclass(frozen=True)
class _Part:
    """Where one shard's hashing results live in the scratch folder."""

    folder: Path
    rows: int

    def load(self, name: str, mmap: bool = False) -> np.ndarray:
        return np.load(self.folder / f"{name}.npy", mmap_mode="r" if mmap else None)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.npy"


class DedupStage(Stage):
    name = "dedup"
    config_class = DedupConfig

    def __init__(self, config: DedupConfig | None = None):
        super().__init__(config)
        self._decisions: ShardDecisions | None = None
        self._info: dict = {}
        self.pairs = np.zeros((0, 2), np.int64)  # duplicate edges found, in global row order

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
        clock = _Clock()
        parts: list[_Part] = []
        is_new = []
        for tag, ds in sources:
            jobs = [(ds, s, ctx.workdir / f"{tag}-{s.index:05d}") for s in ds.shards]
            parts += ctx.map(_hash_shard, jobs, cfg, bands, rows, ctx.seed)
            is_new.append(np.full(ds.rows, tag == "input"))
        new = np.concatenate(is_new) if is_new else np.zeros(0, bool)
        clock.lap("hash_shards_s")
        meta = pl.concat([pl.read_parquet(p.folder / "meta.parquet") for p in parts])
        n = meta.height
        g = np.arange(n)

        # exact groups: every member points at the group's first row
        key = meta.select(pl.col("k1"), pl.col("k2")).with_columns(pl.Series("g", g))
        first = key.group_by("k1", "k2").agg(pl.col("g").min().alias("rep"))
        exact_rep = key.join(first, on=["k1", "k2"], how="left").sort("g")["rep"].to_numpy()
        if not cfg.exact:
            exact_rep = g.copy()

        verified, candidates, prefiltered = np.zeros((0, 2), np.int64), 0, 0
        sims = np.zeros(0)
        similarity = PairSimilarity(parts, [p.rows for p in parts])
        if cfg.near:
            # candidate pairs never gather here: each band's task groups that band's keys and
            # writes its pairs split into partitions (by first document); each partition's task
            # merges its pairs over all bands and verifies them; only verified pairs come back
            has = np.concatenate([p.load("has_shingles") for p in parts]) & (exact_rep == g)
            np.save(ctx.workdir / "has.npy", has)
            pairs_dir = ctx.workdir / "pairs"
            shutil.rmtree(pairs_dir, ignore_errors=True)
            pairs_dir.mkdir()
            n_parts = max(4 * ctx.executor.workers, -(-n // PAIRS_PARTITION_ROWS))
            band_args = (parts, ctx.workdir / "has.npy", pairs_dir, n_parts)
            ctx.map(_band_pairs, list(range(bands)), *band_args)
            clock.lap("lsh_s")
            checked = ctx.map(
                _verify_partition, list(range(n_parts)), pairs_dir, bands, similarity, cfg
            )
            candidates = sum(c for c, _, _, _ in checked)
            prefiltered = sum(f for _, f, _, _ in checked)
            verified = np.concatenate([v for _, _, v, _ in checked]).reshape(-1, 2)
            sims = np.concatenate([x for _, _, _, x in checked])
            order = np.lexsort((verified[:, 1], verified[:, 0]))  # partition-independent order
            verified, sims = verified[order], sims[order]

        clock.lap("verify_s")
        # imported here: workers never need scipy, and importing it costs them 0.3 s each
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        edges = np.concatenate([np.stack([g, exact_rep], axis=1), verified])
        self.pairs = edges[edges[:, 0] != edges[:, 1]]
        graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), (n, n))
        _, label = connected_components(graph, directed=False)
        size = np.bincount(label)[label]

        keeper = _choose_keepers(meta, label, size, new, cfg.keep)
        dup = keeper != g
        exact_dup = dup & (exact_rep == exact_rep[keeper])
        sim_to_keeper = np.full(n, np.nan)
        sim_to_keeper[exact_dup] = 1.0
        near_dup = np.flatnonzero(dup & ~exact_dup)
        if len(near_dup):  # similarity to the keeper: often a verified pair already
            pair = np.sort(np.stack([near_dup, keeper[near_dup]], axis=1), axis=1)
            known = verified[:, 0] * n + verified[:, 1]  # sorted: verified is in (a, b) order
            want = pair[:, 0] * n + pair[:, 1]
            at = np.minimum(np.searchsorted(known, want), max(0, len(known) - 1))
            have = (known[at] == want) if len(known) else np.zeros(len(want), bool)
            sim_to_keeper[near_dup[have]] = sims[at[have]]
            if (~have).any():
                rest = pair[~have]
                sim_to_keeper[near_dup[~have]] = (
                    _exact(similarity, rest, ctx)
                    if cfg.verify == "shingles"
                    else similarity.estimate(rest)
                )

        clock.lap("cluster_s")
        kind = np.where(exact_dup, "exact", np.where(dup, "near", ""))
        out = pl.DataFrame(
            {
                "dedup.cluster": meta[ID].gather(keeper),
                "dedup.cluster_size": pl.Series(size, dtype=pl.Int64),
                "dup": dup,
                "dedup.similarity": sim_to_keeper,
                KIND: kind,
                "dedup.matched_against": dup & ~new[keeper],
            }
        ).select(
            "dedup.cluster",
            "dedup.cluster_size",
            pl.when("dup").then(pl.col("dedup.cluster")).alias("dedup.kept_id"),
            pl.col("dedup.similarity").fill_nan(None),
            pl.when(pl.col(KIND) != "").then(pl.col(KIND)).alias(KIND),
            "dedup.matched_against",
        )
        self._decisions = ShardDecisions.write(
            out, dataset, ctx.workdir / "decisions", int((~new).sum())
        )
        self._info = {
            "signature": cfg.signature,
            "num_perm": cfg.num_perm,
            "ngram": cfg.ngram,
            "threshold": cfg.threshold,
            "bands": bands,
            "rows": rows,
            "candidate_probability": s_curve(bands, rows),
            "candidate_pairs": int(candidates),
            "verified_pairs": len(verified),
            "rejected_by_verification": int(candidates - len(verified)),
            "rejected_by_signature_prefilter": prefiltered,
            "exact_groups_with_duplicates": int(np.sum(np.bincount(exact_rep) > 1)),
            "clusters_with_duplicates": int(np.sum(np.bincount(label) > 1)),
            "against_rows": int((~new).sum()),
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
    job: tuple[Dataset, Shard, Path], cfg: DedupConfig, bands: int, rows: int, seed: int
) -> _Part:
    dataset, shard, folder = job
    if (folder / "done").is_file():  # finished by an interrupted run with the same key
        return _Part(folder, shard.rows)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    df = dataset.read_shard(shard)
    text = df[TEXT]
    if cfg.lowercase:
        text = text.str.to_lowercase()
    if cfg.digits:
        text = text.str.replace_all(r"\p{Nd}+", "0")
    tokens, tok_off = token_hashes(text, cfg.punctuation)
    if cfg.whitespace:  # equal token sequences: equal text once whitespace is collapsed
        k1, k2 = doc_keys(tokens, tok_off)
    else:  # whitespace matters: the case- and digit-folded text itself is the key
        k1, k2 = (text.fill_null("").hash(seed=s).to_numpy() for s in (1, 2))
    keep_col = cfg.keep.removeprefix("column:") if cfg.keep.startswith("column:") else None
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
    meta.write_parquet(folder / "meta.parquet")
    if cfg.near:
        sh, sh_off = shingle_hashes(tokens, tok_off, cfg.ngram)
        sig = signatures(sh, sh_off, cfg.num_perm, seed, cfg.signature)
        sets, set_offsets = shingle_sets(sh, sh_off)
        np.save(folder / "sets.npy", sets)
        np.save(folder / "set_offsets.npy", set_offsets)
        np.save(folder / "signatures.npy", sig)
        np.save(folder / "bands.npy", band_keys(sig, bands, rows))
        np.save(folder / "has_shingles.npy", np.diff(sh_off) > 0)
    (folder / "done").touch()
    return _Part(folder, df.height)


def _band_pairs(band: int, parts: list[_Part], has_path: Path, folder: Path, n_parts: int) -> int:
    """One band's candidate pairs, written as `n_parts` files by a hash of the pair: the same
    pair from every band lands in one partition, and partitions come out even (by ranges of
    the first document, the first quarter held 56% of the pairs: a pair's smaller end)."""
    has = np.load(has_path)
    keys = np.concatenate([p.load("bands", mmap=True)[:, band] for p in parts])
    pairs = bucket_pairs(keys[has], np.flatnonzero(has))
    with np.errstate(over="ignore"):
        mixed = mix64(pairs[:, 0].astype(np.uint64) * _PAIR_MIX ^ pairs[:, 1].astype(np.uint64))
    part = (mixed % np.uint64(n_parts)).astype(np.int64)
    for k in range(n_parts):
        np.save(folder / f"b{band:04d}-p{k:05d}.npy", pairs[part == k])
    return len(pairs)


def _verify_partition(
    k: int, folder: Path, bands: int, similarity: PairSimilarity, cfg: DedupConfig
) -> tuple[int, int, np.ndarray, np.ndarray]:
    """A partition's distinct candidate pairs verified: (candidates, rejected by the signature
    prefilter, verified pairs, their similarity). Bounded memory: pairs in chunks."""
    pairs = unique_pairs([np.load(folder / f"b{b:04d}-p{k:05d}.npy") for b in range(bands)])
    found, sims, prefiltered = [], [], 0
    floor = prefilter_floor(cfg.threshold, cfg.num_perm)
    for lo in range(0, len(pairs), VERIFY_CHUNK):
        chunk = pairs[lo : lo + VERIFY_CHUNK]
        sim = similarity.estimate(chunk)
        if cfg.verify == "shingles":  # exact Jaccard, except for hopeless candidates
            hopeful = sim >= floor
            prefiltered += int((~hopeful).sum())
            sim[hopeful] = similarity.exact(chunk[hopeful])
        ok = sim >= cfg.threshold
        found.append(chunk[ok])
        sims.append(sim[ok])
    if not found:
        return 0, 0, np.zeros((0, 2), np.int64), np.zeros(0)
    return len(pairs), prefiltered, np.concatenate(found), np.concatenate(sims)


class _Clock:
    def __init__(self) -> None:
        self.t, self.laps = time.perf_counter(), {}

    def lap(self, name: str) -> dict[str, float]:
        now = time.perf_counter()
        self.laps[name], self.t = round(now - self.t, 3), now
        return self.laps


def _exact(similarity: PairSimilarity, pairs: np.ndarray, ctx: StageContext) -> np.ndarray:
    """Exact Jaccard of many pairs, in parallel chunks on the run's executor."""
    chunks = np.array_split(pairs, max(1, min(len(pairs) // 2000, 4 * ctx.executor.workers)))
    parts = ctx.map(_exact_chunk, chunks, similarity)
    return np.concatenate(parts) if parts else np.zeros(0)


def _exact_chunk(pairs: np.ndarray, similarity: PairSimilarity) -> np.ndarray:
    return similarity.exact(pairs)


def _choose_keepers(
    meta: pl.DataFrame, label: np.ndarray, size: np.ndarray, new: np.ndarray, policy: str
) -> np.ndarray:
    """keeper[g]: the global index of the row kept in g's cluster."""
    n = meta.height
    keeper = np.arange(n)
    multi = np.flatnonzero(size > 1)
    if len(multi) == 0:
        return keeper
    if policy == "longest":
        primary = -meta["length"].to_numpy()[multi].astype(np.float64)
    elif policy == "first":
        primary = multi.astype(np.float64)
    else:
        primary = -meta["keep_value"].to_numpy()[multi]
        primary = np.where(np.isnan(primary), np.inf, primary)  # missing scores lose
    # rows of the --against dataset always win: they are kept already
    order = pl.DataFrame(
        {
            "g": multi,
            "label": label[multi],
            "new": new[multi],
            "primary": primary,
            "id": meta[ID].gather(multi),
        }
    ).sort("label", "new", "primary", "id")
    firsts = order.group_by("label", maintain_order=True).first()
    keeper_of_label = np.zeros(int(label.max()) + 1, dtype=np.int64)
    keeper_of_label[firsts["label"].to_numpy()] = firsts["g"].to_numpy()
    keeper[multi] = keeper_of_label[label[multi]]
    return keeper
