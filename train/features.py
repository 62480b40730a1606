"""fastText-style features: hashed word unigrams and bigrams, optionally byte n-grams, as the flat
(indices, offsets) pair an `EmbeddingBag` takes.

Words come from curate.dedup.tokens, which finds and hashes them straight from the UTF-8 bytes of
the Arrow string buffer with numpy: no Python string per word. Bigram and byte n-gram hashes are
combined from those with vectorised uint64 arithmetic, so featurising is a handful of array
passes over the batch, whatever the number of documents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.dedup.shingles import mix64, word_bigrams
from curate.dedup.tokens import _string_buffers, tokenize

_K = np.uint64(0x9E3779B97F4A7C15)
_SALT_CHAR = np.uint64(0xD6E8FEB86659FD93)


@dataclass(frozen=True)
class FeatureConfig:
    buckets: int = 1 << 20  # hash buckets shared by all n-grams (fastText: 2M)
    word_ngrams: int = 2  # 1: unigrams only; 2: unigrams and bigrams
    char_ngrams: tuple[int, int] | None = None  # e.g. (3, 5): byte n-grams of 3 to 5 bytes
    lowercase: bool = True

    def as_dict(self) -> dict:
        return {
            "buckets": self.buckets,
            "word_ngrams": self.word_ngrams,
            "char_ngrams": list(self.char_ngrams) if self.char_ngrams else None,
            "lowercase": self.lowercase,
        }

    @classmethod
    def from_dict(cls, d: dict) -> FeatureConfig:
        c = d.get("char_ngrams")
        return cls(d["buckets"], d["word_ngrams"], tuple(c) if c else None, d["lowercase"])


def featurize(texts: pl.Series, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """(indices int64, offsets int64 of len(texts) + 1): document d's bucket ids are
    indices[offsets[d]:offsets[d + 1]], its unigrams, then its bigrams, then its byte n-grams."""
    texts = texts.cast(pl.String).fill_null("")
    if cfg.lowercase:
        texts = texts.str.to_lowercase()
    tok = tokenize(texts)
    h, off = tok.hashes, tok.offsets
    docs = len(off) - 1
    per_doc = np.diff(off)
    parts = [(h, np.repeat(np.arange(docs), per_doc))]
    if cfg.word_ngrams >= 2 and len(h) > 1:
        parts.append(word_bigrams(h, parts[0][1]))
    if cfg.char_ngrams:
        parts.append(_byte_ngrams(texts, *cfg.char_ngrams))
    hashes = np.concatenate([p[0] for p in parts])
    doc = np.concatenate([p[1] for p in parts])
    order = np.argsort(doc, kind="stable")  # by document, each kind in text order within it
    indices = (hashes[order] % np.uint64(cfg.buckets)).astype(np.int64)
    offsets = np.zeros(docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=docs), out=offsets[1:])
    return indices, offsets


def bags(indices: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each document's distinct buckets with their counts: (buckets, counts, offsets), one sort
    for the whole batch. Smaller bags, and the counts feed the tf-idf weights."""
    docs = len(offsets) - 1
    doc = np.repeat(np.arange(docs, dtype=np.int64), np.diff(offsets))
    width = np.int64(indices.max() + 1) if len(indices) else np.int64(1)
    keys, counts = np.unique(doc * width + indices, return_counts=True)
    out_off = np.zeros(docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // width, minlength=docs), out=out_off[1:])
    return keys % width, counts, out_off


def idf(buckets: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    """scikit-learn's smooth idf per bucket: ln((1 + N) / (1 + df)) + 1 (bags hold each bucket
    once per document, so df is a bincount)."""
    df = np.bincount(buckets, minlength=size)
    n = len(offsets) - 1
    return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)


def weights(
    buckets: np.ndarray, counts: np.ndarray, offsets: np.ndarray, idf: np.ndarray
) -> np.ndarray:
    """Sublinear tf x idf, L2-normalised per document: the weights TfidfVectorizer would give."""
    w = (1.0 + np.log(counts)) * idf[buckets]
    doc = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    norm = np.sqrt(np.bincount(doc, weights=w * w, minlength=len(offsets) - 1))
    return (w / np.maximum(norm, 1e-12)[doc]).astype(np.float32)


def _byte_ngrams(texts: pl.Series, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every run of lo..hi bytes inside one document (whitespace collapsed, so word
    boundaries show as a space), with the document of each."""
    data, offsets = _string_buffers(texts.str.replace_all(r"\s+", " "))
    doc_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    end_of = offsets[1:][doc_of]  # end of each byte's document
    b = data.astype(np.uint64)
    out_h, out_d = [], []
    with np.errstate(over="ignore"):
        h = b.copy()
        for n in range(1, hi + 1):
            if n > 1:
                h = (h[:-1] * _K) ^ b[n - 1 :]
            if n >= lo:
                ok = np.arange(len(h)) + n <= end_of[: len(h)]
                out_h.append(mix64(h[ok] ^ (_SALT_CHAR + np.uint64(n))))
                out_d.append(doc_of[: len(h)][ok])
    if not out_h:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate(out_h), np.concatenate(out_d)


def gather(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the bags of documents `rows` (in that order) in the flat arrays, and their
    new offsets: a batch is gathered without a Python loop."""
    starts, lengths = offsets[rows], offsets[rows + 1] - offsets[rows]
    bag_off = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bag_off[1:])
    pos = np.arange(bag_off[-1], dtype=np.int64) + np.repeat(starts - bag_off[:-1], lengths)
    return pos, bag_off
