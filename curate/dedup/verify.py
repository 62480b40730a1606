"""Similarity of candidate pairs, read from the per-shard files the global pass wrote.

`estimate` is the fraction of agreeing signature slots, vectorised over all pairs. `exact` is the
Jaccard of the shingle sets, which each shard's hashing pass stored sorted (`shingle_sets`), so a
pair costs one binary-search merge.
"""

from __future__ import annotations

import math
import mmap
from pathlib import Path
from typing import Protocol

import numpy as np

from curate.arrays import distinct
from curate.dedup import native


class ShardFiles(Protocol):
    def load(self, name: str, mmap: bool = False) -> np.ndarray: ...

    def path(self, name: str) -> Path: ...


def prefilter_floor(threshold: float, num_perm: int, sigmas: float = 4.5) -> float:
    """Signature agreement below which a pair at the threshold is 4.5 standard errors away:
    such pairs are rejected without the exact check (P(miss) ~ 3e-6 per true pair)."""
    return threshold - sigmas * math.sqrt(threshold * (1 - threshold) / num_perm) - 1 / num_perm


EXACT_BATCH = 2_500_000  # shingles of the pairs whose Jaccard is computed in one vectorised pass


class PairSimilarity:
    def __init__(self, parts: list[ShardFiles], rows_per_part: list[int]):
        self.parts = parts
        self.offsets = np.cumsum([0, *rows_per_part])
        self._loaded: dict[tuple[int, str], np.ndarray] = {}
        self._layouts: dict[int, tuple[np.dtype, int, int]] = {}

    def __getstate__(self) -> dict:  # a task loads what it needs itself
        return {**self.__dict__, "_loaded": {}, "_layouts": {}}

    def _load(self, s: int, name: str) -> np.ndarray:
        """A shard's signatures (mapped) or set offsets, loaded once per process and object:
        a task asks for the same few files again and again (0.5 ms a load)."""
        key = (s, name)
        if key not in self._loaded:
            self._loaded[key] = self.parts[s].load(name, mmap=name == "signatures")
        return self._loaded[key]

    def _by_shard(self, docs: np.ndarray):
        shard = np.searchsorted(self.offsets, docs, side="right") - 1
        for s in distinct(shard):
            mask = shard == s
            yield int(s), mask, docs[mask] - self.offsets[s]

    def estimate(self, pairs: np.ndarray) -> np.ndarray:
        if len(pairs) == 0:
            return np.zeros(0)
        docs = distinct(pairs)
        a, b = np.searchsorted(docs, pairs[:, 0]), np.searchsorted(docs, pairs[:, 1])
        out = np.empty(len(pairs))
        if native.available():  # rows read in place in the mapped files: no gathered copy
            found = self._signature_rows(docs)
            if found is not None:
                at, width, maps = found
                native.agreement_at(at[a], at[b], width, out)
                del maps
                return out
        rows = None
        for s, mask, local in self._by_shard(docs):
            sig = self._load(s, "signatures")
            if rows is None:
                rows = np.empty((len(docs), sig.shape[1]), dtype=sig.dtype)
            rows[mask] = sig[local]
        for lo in range(0, len(pairs), 65536):  # bounded temporaries
            hi = lo + 65536
            out[lo:hi] = (rows[a[lo:hi]] == rows[b[lo:hi]]).mean(axis=1)
        return out

    def exact(self, pairs: np.ndarray, at_least: float = 0.0) -> np.ndarray:
        """Jaccard of each pair's shingle sets. A pair certainly below `at_least` may come
        back as -1 instead (the C merge stops as soon as it is sure): compare the result with
        at_least, nothing lower. at_least 0: every value exact."""
        out = np.empty(len(pairs))
        if len(pairs) == 0:
            return out
        # the batch's sets gathered from the mapped files, then unmapped: memory is this
        # batch's sets, never whole files (a file mapped for the whole run made every worker
        # resident in all of them at 1 GB)
        docs = distinct(pairs)
        inverse = np.searchsorted(docs, pairs)
        values, starts, sizes = self._read_sets(docs)
        if native.available():  # one merge per pair, in C, outside the GIL
            ia, ib = inverse[:, 0].astype(np.int64), inverse[:, 1].astype(np.int64)
            native.jaccard_pairs(
                values, starts.astype(np.int64), sizes.astype(np.int64), ia, ib, out, at_least
            )
            return out
        # pairs in batches of about EXACT_BATCH shingles: temporaries stay near 40 MB
        work = np.cumsum(sizes[inverse].sum(axis=1))
        lo = 0
        while lo < len(pairs):
            hi = max(lo + 1, int(np.searchsorted(work, work[lo] + EXACT_BATCH, side="left")))
            ia, ib = inverse[lo:hi, 0], inverse[lo:hi, 1]
            out[lo:hi] = _jaccard(values, starts, sizes, ia, ib)
            lo = hi
        return out

    def _sets_layout(self, s: int) -> tuple[np.dtype, int, int]:
        """(dtype, length, header bytes) of a shard's sets file, parsed once per process and
        object (numpy parses a header with ast: 0.2 ms, under the GIL, per shard and batch)."""
        if s not in self._layouts:
            with open(self.parts[s].path("sets"), "rb") as fh:
                major, _ = np.lib.format.read_magic(fh)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if major == 1
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(fh)
                self._layouts[s] = (dtype, shape[0], fh.tell())
        return self._layouts[s]

    def _signature_rows(self, docs: np.ndarray) -> tuple[np.ndarray, int, list] | None:
        """(address of each document's signature row in its shard's mapped file, row width, the
        maps, which the caller holds while C reads them: another thread may replace this
        object's cached map meanwhile), or None where the files are not uint32 rows of one
        width (the gathering path then)."""
        at, width, maps = np.zeros(len(docs), np.uint64), 0, []
        for s, mask, local in self._by_shard(docs):
            sig = self._load(s, "signatures")
            maps.append(sig)
            if sig.dtype != np.uint32 or sig.ndim != 2 or not sig.flags.c_contiguous:
                return None
            if width not in (0, sig.shape[1]):
                return None
            width = sig.shape[1]
            at[mask] = np.uint64(sig.ctypes.data) + local.astype(np.uint64) * np.uint64(
                sig.strides[0]
            )
        return (at, width, maps) if width else None

    def _read_sets(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The shingle sets of sorted global document ids: (values, starts, sizes), document
        i's set being values[starts[i] : starts[i] + sizes[i]]. Each shard's file is mapped,
        the documents' values gathered in one vectorised copy, and unmapped: memory is this
        batch's sets, never whole files, and no Python runs per document, so threads verify
        in parallel (one pread per document held the GIL)."""
        values, starts, sizes, base = [], [], [], 0
        for s, _, local in self._by_shard(docs):
            bounds = self._load(s, "set_offsets")
            lo, n = bounds[local], bounds[local + 1] - bounds[local]
            at = np.cumsum(n) - n  # where each document's set begins in this shard's values
            dtype, count, header = self._sets_layout(s)
            c_gather = native.available() and dtype == np.uint32
            if count == 0:  # nothing to map (and an empty map is an error)
                values.append(np.zeros(0, dtype))
            else:
                with (
                    open(self.parts[s].path("sets"), "rb") as fh,
                    mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm,
                ):
                    mapped = np.frombuffer(mm, dtype, count=count, offset=header)
                    if c_gather:  # each document's run copied whole
                        values.append(native.gather_runs(mapped, lo, n))
                    else:  # a copy: the map can close
                        values.append(mapped[np.repeat(lo - at, n) + np.arange(int(n.sum()))])
                    del mapped
            starts.append(base + at)
            sizes.append(n)
            base += int(n.sum())
        return np.concatenate(values), np.concatenate(starts), np.concatenate(sizes)


def _jaccard(
    values: np.ndarray, starts: np.ndarray, sizes: np.ndarray, ia: np.ndarray, ib: np.ndarray
) -> np.ndarray:
    """Jaccard of sorted distinct sets, pair k = (set ia[k], set ib[k]), set d being
    values[starts[d] : starts[d] + sizes[d]], with no Python loop per pair: each side's sets,
    tagged with the pair's number, gather into one sorted run; a stable sort of the two runs is
    one merge, and a shingle in both sets is an equal neighbour."""
    m = len(ia)
    pair = np.arange(m, dtype=np.uint64) << np.uint64(32)
    runs = []
    for side in (ia, ib):
        n = sizes[side]
        at = np.cumsum(n) - n  # where each pair's set begins in this side's run
        idx = np.repeat(starts[side] - at, n) + np.arange(int(n.sum()))
        runs.append(np.repeat(pair, n) | values[idx].astype(np.uint64))
    keys = np.concatenate(runs)
    keys.sort(kind="stable")  # timsort: two sorted runs merge in linear time
    both = keys[1:][keys[1:] == keys[:-1]] >> np.uint64(32)
    inter = np.bincount(both.astype(np.int64), minlength=m)
    union = sizes[ia] + sizes[ib] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def shingle_sets(shingles: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each document's distinct shingles as sorted 32-bit values, in one sort for the batch:
    (values, offsets). 32 bits: two shingles of one pair collide with odds ~1e-5 per pair."""
    lengths = np.diff(offsets)
    rank = np.repeat(np.arange(len(lengths), dtype=np.uint64), lengths)
    return sets_from_keys((rank << np.uint64(32)) | (shingles >> np.uint64(32)), len(lengths))


def sets_from_keys(keys: np.ndarray, docs: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct sets from keys (document << 32 | value): (values, offsets)."""
    keys = np.sort(keys)
    if len(keys):
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    set_offsets = np.searchsorted(keys >> np.uint64(32), np.arange(docs + 1, dtype=np.uint64))
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32), set_offsets.astype(np.int64)
