"""MinHash signatures for a batch of documents from their shingle hashes.

Two schemes:
- `oph` (default): one permutation hashing with optimal densification (Shrivastava, ICML 2017).
  Each shingle is hashed once and lands in one of K bins; a bin keeps its minimum. Empty bins
  borrow from a seeded sequence of other bins, the same sequence for every document, so the
  probability that two signatures agree at a position is still the Jaccard similarity. Cost is
  O(shingles), not O(shingles x K): this is what makes winnow fast.
- `minhash`: K affine permutations a*h+b mod 2^32 after a murmur3 pre-mix, bit-for-bit the
  signatures of datasketch's `MinHash(scheme="affine32")` fed the same 32-bit shingle hashes.
"""

from __future__ import annotations

import numpy as np

from curate.dedup.shingles import mix64

EMPTY = np.uint32(0xFFFFFFFF)


def signatures(
    shingles: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int, scheme: str = "oph"
) -> np.ndarray:
    """(documents x num_perm) uint32; a document without shingles is all EMPTY."""
    if scheme == "oph":
        return oph(shingles, offsets, num_perm, seed)
    if scheme == "minhash":
        return affine32(shingles, offsets, num_perm, seed)
    raise ValueError(f"unknown signature scheme {scheme!r}")


def oph(shingles: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    docs = len(offsets) - 1
    sig = np.full((docs, num_perm), EMPTY, dtype=np.uint32)
    if len(shingles) == 0:
        return sig
    with np.errstate(over="ignore"):
        h = mix64(shingles ^ mix64(np.array([seed], dtype=np.uint64)))
        bins = ((h >> np.uint64(32)) * np.uint64(num_perm)) >> np.uint64(32)  # fast range
        values = np.minimum((h & np.uint64(0xFFFFFFFF)).astype(np.uint32), EMPTY - 1)
    slot = np.repeat(np.arange(docs, dtype=np.int64) * num_perm, np.diff(offsets))
    slot += bins.astype(np.int64)
    np.minimum.at(sig.reshape(-1), slot, values)  # 1-D ufunc.at: several times faster than 2-D
    _densify(sig, seed)
    return sig


def _densify(sig: np.ndarray, seed: int) -> None:
    filled = sig != EMPTY
    has_any = filled.any(axis=1)
    rows, cols = np.nonzero(~filled & has_any[:, None])
    k = np.uint64(sig.shape[1])
    original = sig.copy()
    attempt = 1
    while len(rows):
        with np.errstate(over="ignore"):
            key = cols.astype(np.uint64) * np.uint64(0x100000001B3) + np.uint64(attempt)
            donor = (mix64(key ^ np.uint64(seed)) % k).astype(np.int64)
        value = original[rows, donor]
        ok = value != EMPTY
        sig[rows[ok], cols[ok]] = value[ok]
        rows, cols = rows[~ok], cols[~ok]
        attempt += 1


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutations for the same seed (odd a, any b)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def affine32(
    shingles: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int, block: int = 4096
) -> np.ndarray:
    docs = len(offsets) - 1
    sig = np.full((docs, num_perm), EMPTY, dtype=np.uint32)
    if len(shingles) == 0:
        return sig
    a, b = affine32_permutations(num_perm, seed)
    with np.errstate(over="ignore"):
        hv = fmix32((shingles & np.uint64(0xFFFFFFFF)).astype(np.uint32))
    counts = np.diff(offsets)
    doc = np.repeat(np.arange(docs), counts)
    buf = np.empty((block, num_perm), dtype=np.uint32)
    for start in range(0, len(hv), block):
        x = hv[start : start + block]
        t = buf[: len(x)]
        with np.errstate(over="ignore"):
            np.multiply(x[:, None], a[None, :], out=t)
            np.add(t, b[None, :], out=t)
        d = doc[start : start + block]
        # rows of one document are contiguous: reduce each run, then fold into the signature
        cut = np.flatnonzero(np.diff(d)) + 1
        starts = np.concatenate(([0], cut))
        part = np.minimum.reduceat(t, starts, axis=0)
        owners = d[starts]
        sig[owners] = np.minimum(sig[owners], part)
    return sig


def oph_fingerprints(
    words: np.ndarray, offsets: np.ndarray, ngram: int, num_perm: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(oph signatures, shingle sets, set offsets) of documents given their word hashes, in one
    C pass (curate/dedup/_kernels.c): the same values as shingle_hashes -> oph and
    shingle_sets, without their dozen numpy passes over every shingle."""
    from curate.dedup import native
    from curate.dedup.verify import sets_from_keys

    docs = len(offsets) - 1
    sig = np.full((docs, num_perm), EMPTY, dtype=np.uint32)
    lengths = np.diff(offsets)
    shingles = int(np.where(lengths >= ngram, lengths - ngram + 1, np.minimum(lengths, 1)).sum())
    keys = np.empty(shingles, np.uint64)
    seed_mix = mix64(np.array([seed], dtype=np.uint64))[0]
    native.shingle_pass(
        np.ascontiguousarray(words), offsets.astype(np.int64), ngram, seed_mix, sig, keys
    )
    _densify(sig, seed)
    sets, set_offsets = sets_from_keys(keys, docs)
    return sig, sets, set_offsets
