"""Which training rows duplicate a held-out row: exact and near, with curate's dedup library.

Exact: the two 64-bit keys of the case-folded token sequence (curate.dedup.tokens.doc_keys).
Near: word n-gram shingles, one-permutation-hashing signatures, banded LSH with bands chosen for
recall, then every candidate pair verified on the exact Jaccard of its shingle sets, so a band
collision alone never counts as an overlap. All in memory: held-out sets are small.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.dedup.lsh import band_keys, bucket_pairs, choose_bands
from curate.dedup.shingles import shingle_hashes
from curate.dedup.signatures import signatures
from curate.dedup.tokens import doc_keys, token_hashes
from curate.dedup.verify import shingle_sets

NUM_PERM = 128


def _hash(texts: pl.Series, ngram: int):
    tok, off = token_hashes(texts.fill_null("").str.to_lowercase())
    k1, k2 = doc_keys(tok, off)
    sh, sh_off = shingle_hashes(tok, off, ngram)
    return k1, k2, sh, sh_off


def exact_keys(texts: pl.Series) -> np.ndarray:
    """One 128-bit key per text as two uint64 columns (n x 2): equal keys, equal token sequences."""
    tok, off = token_hashes(texts.fill_null("").str.to_lowercase())
    k1, k2 = doc_keys(tok, off)
    return np.stack([k1, k2], axis=1)


def find_overlap(
    heldout: pl.Series, train: pl.Series, threshold: float = 0.7, ngram: int = 2, seed: int = 0
) -> dict[str, np.ndarray]:
    """Boolean masks over `train`: `exact` (same tokens as a held-out row, case folded) and
    `near` (not exact, shingle Jaccard >= threshold with a held-out row)."""
    hk1, hk2, hsh, hoff = _hash(heldout, ngram)
    tk1, tk2, tsh, toff = _hash(train, ngram)
    held_keys = set(zip(hk1.tolist(), hk2.tolist(), strict=True))
    candidates = np.isin(tk1, hk1)
    exact = np.zeros(len(train), dtype=bool)
    for i in np.flatnonzero(candidates):  # confirm the second key: only the few real hits loop
        exact[i] = (int(tk1[i]), int(tk2[i])) in held_keys
    near = np.zeros(len(train), dtype=bool)
    h, t = len(heldout), len(train)
    if h == 0 or t == 0:
        return {"exact": exact, "near": near}
    bands, rows = choose_bands(NUM_PERM, threshold, 0.99)
    sig = np.concatenate(
        [signatures(hsh, hoff, NUM_PERM, seed), signatures(tsh, toff, NUM_PERM, seed)]
    )
    has = np.concatenate([np.diff(hoff) > 0, np.diff(toff) > 0])
    keys = band_keys(sig, bands, rows)
    docs = np.flatnonzero(has)
    pairs = np.concatenate(
        [bucket_pairs(keys[b, has], docs) for b in range(bands)] or [np.zeros((0, 2), np.int64)]
    )
    pairs = pairs[(pairs[:, 0] < h) & (pairs[:, 1] >= h)]  # held-out x train only
    pairs = np.unique(pairs, axis=0)
    pairs = pairs[~exact[pairs[:, 1] - h]]
    if len(pairs):
        sets, set_off = shingle_sets(
            np.concatenate([hsh, tsh]), np.concatenate([hoff, toff[1:] + hoff[-1]])
        )
        for a, b in pairs:
            if near[b - h]:
                continue
            x, y = sets[set_off[a] : set_off[a + 1]], sets[set_off[b] : set_off[b + 1]]
            inter = len(np.intersect1d(x, y, assume_unique=True))
            if inter / (len(x) + len(y) - inter) >= threshold:
                near[b - h] = True
    return {"exact": exact, "near": near}
