"""Banded LSH over signatures: parameters chosen for recall, candidate pairs from band tables."""

from __future__ import annotations

import numpy as np

from curate.dedup import native
from curate.dedup.shingles import mix64

S_CURVE_POINTS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def candidate_probability(j: float, bands: int, rows: int) -> float:
    """P(a pair at Jaccard j shares at least one band)."""
    return 1.0 - (1.0 - j**rows) ** bands


def choose_bands(num_perm: int, threshold: float, recall: float) -> tuple[int, int]:
    """The most selective bands x rows (fewest false candidates) that still makes a pair at the
    threshold a candidate with probability >= recall. Verification removes the false ones; a
    missed pair is lost for good, so recall is the constraint and precision the objective."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= recall:
            return bands, rows
    return num_perm, 1


def s_curve(bands: int, rows: int) -> dict[str, float]:
    return {f"{j:.1f}": round(candidate_probability(j, bands, rows), 6) for j in S_CURVE_POINTS}


def band_keys(sig: np.ndarray, bands: int, rows: int, compiled: bool | None = None) -> np.ndarray:
    """(bands x documents) uint64: one hash of each band's rows (a band's keys contiguous: the
    band's task reads only them). `compiled`: the C loop (None: where the install built it) or
    the numpy passes, the same keys either way."""
    if compiled is None:
        compiled = native.available()
    if compiled and sig.dtype == np.uint32:
        return native.band_keys(sig, bands, rows)
    keys = np.empty((bands, sig.shape[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            h = np.full(sig.shape[0], np.uint64(b + 1) * np.uint64(0x9E3779B97F4A7C15))
            for r in range(b * rows, (b + 1) * rows):
                h = mix64(h ^ sig[:, r].astype(np.uint64))
            keys[b] = h
    return keys


def bucket_pairs(keys: np.ndarray, docs: np.ndarray, all_pairs_upto: int = 16) -> np.ndarray:
    """Candidate pairs (i < j) of documents sharing a key in one band.

    Buckets of up to `all_pairs_upto` + 1 members yield every pair; larger ones (boilerplate
    shared by thousands) pair each member with the bucket's first member and its
    `all_pairs_upto` neighbours, so the work stays linear while clusters still connect."""
    if len(keys) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    if native.available() and (len(docs) < 2 or bool((docs[1:] > docs[:-1]).all())):
        return native.bucket_pairs(keys, docs, all_pairs_upto)  # a hash table: no sorts
    # most keys are alone in their bucket: find the shared ones with a plain argsort (~5x a
    # stable one; a binary search of every key among the shared ones cost as much again) and
    # keep only their documents, in their order, for the ordered pass below
    by_key = np.argsort(keys)
    sk = keys[by_key]
    repeat = sk[1:] == sk[:-1]
    if not repeat.any():
        return np.zeros((0, 2), dtype=np.int64)
    in_bucket = np.zeros(len(keys), dtype=bool)
    in_bucket[1:] = repeat
    in_bucket[:-1] |= repeat
    keep = np.zeros(len(keys), dtype=bool)
    keep[by_key[in_bucket]] = True
    keys, docs = keys[keep], docs[keep]
    order = np.argsort(keys, kind="stable")  # docs ascending: ties stay in doc order
    if len(docs) > 1 and not (docs[1:] > docs[:-1]).all():
        order = np.lexsort((docs, keys))
    k, d = keys[order], docs[order]
    same_as_prev = np.concatenate(([False], k[1:] == k[:-1]))
    run_start = np.maximum.accumulate(np.where(~same_as_prev, np.arange(len(k)), 0))
    member = np.flatnonzero(same_as_prev)
    pairs = [np.stack([d[run_start[member]], d[member]], axis=1)]  # each member to the first
    for offset in range(1, all_pairs_upto + 1):  # and to its neighbours in sorted order
        i = np.arange(len(k) - offset)
        ok = run_start[i] == run_start[i + offset]
        if not ok.any():
            break
        pairs.append(np.stack([d[i[ok]], d[i[ok] + offset]], axis=1))
    # (i < j) already: documents ascend within each bucket's run
    return np.concatenate(pairs)


def unique_pairs(chunks: list[np.ndarray]) -> np.ndarray:
    """The distinct pairs of all chunks, sorted by (a, b)."""
    if not chunks:
        return np.zeros((0, 2), dtype=np.int64)
    both = np.concatenate(chunks).reshape(-1, 2).astype(np.int64)
    if len(both) == 0:
        return both
    width = int(both.max()) + 1
    if width >= 3_000_000_000:  # a * width + b would overflow int64: rows, lexicographically
        return np.unique(both, axis=0)
    # one int64 key a pair: a plain sort (vectorised, ~15x polars' unique + sort here)
    key = both[:, 0] * width + both[:, 1]
    key.sort()
    key = key[np.concatenate(([True], key[1:] != key[:-1]))]
    return np.stack([key // width, key % width], axis=1)
