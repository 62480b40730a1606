"""Word n-gram shingle hashes for a batch of documents, without a Python loop per shingle.

Shingle hashes are combined from word hashes (curate.dedup.tokens) with vectorised uint64
arithmetic. Documents shorter than n words get one shingle made of all their words; documents
without words get none.
"""

from __future__ import annotations

import numpy as np

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xBF58476D1CE4E5B9)
_K3 = np.uint64(0x94D049BB133111EB)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64 with full avalanche. In place after the first
    step (it is the hot path of hashing): the argument itself is never modified."""
    x = x ^ (x >> np.uint64(30))
    x *= _K2
    x ^= x >> np.uint64(27)
    x *= _K3
    x ^= x >> np.uint64(31)
    return x


def shingle_hashes(words: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of each document's word n-grams (order-sensitive), with per-document offsets."""
    lengths = np.diff(offsets)
    docs = len(lengths)
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    out_offsets = np.zeros(docs + 1, dtype=np.int64)
    np.cumsum(counts, out=out_offsets[1:])
    out = np.empty(int(out_offsets[-1]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        long_docs = lengths >= n
        if long_docs.any() and len(words) >= n:
            m = len(words) - n + 1
            s = words[:m].copy()
            for j in range(1, n):
                s *= _K1
                s ^= words[j : j + m]
            # a window is valid unless it runs past its document's end: the last n - 1
            # starts of each document (fewer for short ones) are not
            valid = np.ones(m, dtype=bool)
            ends = offsets[1:][lengths > 0]
            tail = (ends[:, None] - np.arange(1, n)[None, :]).ravel()
            starts_of = np.repeat(offsets[:-1][lengths > 0], n - 1)
            valid[tail[(tail >= starts_of) & (tail < m)]] = False
            # not avalanched here: signatures and sets re-mix, and nothing else reads these
            if long_docs.all():
                out[:] = s[valid]
            else:
                out[np.repeat(long_docs, counts)] = s[valid]
        short = np.nonzero((lengths > 0) & (lengths < n))[0]
        if len(short):
            start, length = offsets[short], lengths[short]
            s = words[start].copy()
            for j in range(1, n - 1):
                more = j < length
                s = np.where(more, (s * _K1) ^ words[np.minimum(start + j, len(words) - 1)], s)
            # the length goes in too, so "a b" and "a b c" of short docs never collide
            out[out_offsets[short]] = mix64(s ^ length.astype(np.uint64))
    return out, out_offsets


_BIGRAM_SALT = np.uint64(0x2545F4914F6CDD1D)


def word_bigrams(words: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of neighbouring word pairs inside one document, and the document of each (the
    bigram features of `winnow train` and of the label stage)."""
    same = doc[1:] == doc[:-1]  # a bigram never spans two documents
    with np.errstate(over="ignore"):
        return mix64((words[:-1] * _K1) ^ words[1:] ^ _BIGRAM_SALT)[same], doc[:-1][same]
