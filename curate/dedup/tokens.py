"""Word tokens hashed straight from the UTF-8 bytes of a string column.

No Python string is made per word: tokens are runs of word characters found by classifying each
byte, and each token's bytes are folded, 8 at a time, through a 64-bit mixer. The hash depends
on nothing but the bytes, so it is stable across runs, processes and library versions. The work
is one C pass (curate/dedup/_kernels.c, `compiled=True`, where the install built it) or about
a dozen numpy passes; both give the same values, and the tests hold them to it.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from curate.dedup import native
from curate.dedup.shingles import mix64

CHUNK_BYTES = 4 << 20  # text per vectorised pass: temporaries stay near 20 bytes per text byte
# the low k bytes of a 64-bit load, k = 0..8
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


@functools.cache
def _ascii_word(punctuation: bool) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    for b in range(128):
        c = chr(b)
        table[b] = c.isalnum() if punctuation else not c.isspace()
    return table


@functools.cache
def _bmp_word(punctuation: bool) -> np.ndarray:
    """Word characters of the Basic Multilingual Plane: letters, digits and combining marks (or,
    without punctuation stripping, anything but whitespace)."""
    if punctuation:
        cats = [unicodedata.category(chr(c))[0] for c in range(0x10000)]
        return np.array([k in "LNM" for k in cats], dtype=bool)
    return np.array([not chr(c).isspace() for c in range(0x10000)], dtype=bool)


def string_buffers(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes of all texts, int64 offsets: text i is data[off[i]:off[i + 1]]), no copy
    where Arrow allows; nulls read as empty."""
    # nulls filled by polars: pyarrow.compute's first use imports pandas (0.45 s a process)
    arr = texts.fill_null("").to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.large_string())
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    offsets = offsets.astype(np.int64)
    data = (
        np.frombuffer(arr.buffers()[2], dtype=np.uint8)
        if arr.buffers()[2]
        else np.zeros(0, np.uint8)
    )
    return data[offsets[0] : offsets[-1]], offsets - offsets[0]


def decode_leads(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions of the lead bytes of non-ASCII characters, their code points, their lengths
    in bytes) of valid UTF-8 `data`, vectorised."""
    lead = np.flatnonzero(data >= 0xC0)
    b = [data[np.minimum(lead + k, len(data) - 1)].astype(np.uint32) for k in range(4)]
    two, three, four = b[0] < 0xE0, (b[0] >= 0xE0) & (b[0] < 0xF0), b[0] >= 0xF0
    cp = np.where(
        two,
        ((b[0] & 0x1F) << 6) | (b[1] & 0x3F),
        np.where(
            three,
            ((b[0] & 0x0F) << 12) | ((b[1] & 0x3F) << 6) | (b[2] & 0x3F),
            ((b[0] & 0x07) << 18) | ((b[1] & 0x3F) << 12) | ((b[2] & 0x3F) << 6) | (b[3] & 0x3F),
        ),
    )
    length = np.where(two, 2, np.where(three, 3, np.where(four, 4, 1)))
    return lead, cp, length


def spread_to_bytes(
    per_byte: np.ndarray, lead: np.ndarray, length: np.ndarray, values: np.ndarray
) -> None:
    """Sets every byte of each non-ASCII character (lead position, byte length) to its value."""
    for k in range(4):
        at = lead[k < length] + k
        per_byte[at[at < len(per_byte)]] = values[k < length][at < len(per_byte)]


_string_buffers = string_buffers  # the name train/features.py imported first


def _is_word(data: np.ndarray, punctuation: bool) -> np.ndarray:
    word = _ascii_word(punctuation)[data]
    lead, cp, length = decode_leads(data)
    if len(lead) == 0:
        return word
    bmp = cp < 0x10000
    cls = np.empty(len(lead), dtype=bool)
    cls[bmp] = _bmp_word(punctuation)[cp[bmp]]
    # beyond the BMP: emoji and pictographs separate words; historic scripts, CJK extensions join
    astral = cp[~bmp]
    cls[~bmp] = ~((astral >= 0x1F000) & (astral < 0x1FB00)) | (not punctuation)
    spread_to_bytes(word, lead, length, cls)
    return word


@dataclass(frozen=True)
class Tokens:
    """Word tokens of a batch of documents: document d's are [offsets[d], offsets[d + 1])."""

    hashes: np.ndarray  # uint64, avalanched
    offsets: np.ndarray  # int64, documents + 1
    lengths: np.ndarray  # int64, UTF-8 bytes of each token


def token_hashes(
    texts: pl.Series, punctuation: bool = True, compiled: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash of every word token in order; offsets: document d's tokens are
    [off[d], off[d+1])). Words are runs of letters, digits and marks (punctuation=True) or of
    non-whitespace characters."""
    t = tokenize(texts, punctuation, compiled, lengths=False)
    return t.hashes, t.offsets


def tokenize(
    texts: pl.Series,
    punctuation: bool = True,
    compiled: bool | None = None,
    lengths: bool = True,
) -> Tokens:
    """Tokens of every text. `compiled`: the C loop (None: where the install built it) or the
    numpy passes, the same values either way. `lengths` False: Tokens.lengths is left empty
    (dedup never reads it: 8 bytes a token written, copied and joined for nothing)."""
    if compiled is None:
        compiled = native.available()
    data, offsets = string_buffers(texts)
    hashes, counts, sizes = [], [], []
    start_doc = 0
    while start_doc < len(offsets) - 1:
        # a chunk of whole documents near CHUNK_BYTES of text (at least one document)
        end_doc = int(np.searchsorted(offsets, offsets[start_doc] + CHUNK_BYTES, side="right")) - 1
        end_doc = min(max(end_doc, start_doc + 1), len(offsets) - 1)
        lo, hi = offsets[start_doc], offsets[end_doc]
        chunk = _chunk_compiled if compiled else _chunk_numpy
        h, c, n = chunk(data[lo:hi], offsets[start_doc : end_doc + 1] - lo, punctuation, lengths)
        hashes.append(h)
        counts.append(c)
        sizes.append(n)
        start_doc = end_doc
    tok_off = np.zeros(len(offsets), dtype=np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=tok_off[1:])
    if not hashes:
        return Tokens(np.zeros(0, np.uint64), tok_off, np.zeros(0, np.int64))
    joined = np.concatenate(sizes) if lengths else np.zeros(0, np.int64)
    return Tokens(np.concatenate(hashes), tok_off, joined)


def _chunk_compiled(
    data: np.ndarray, offsets: np.ndarray, punctuation: bool, want_lengths: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    docs = len(offsets) - 1
    # a token takes a byte and ends at a non-word byte or a document's end; only the pages
    # written are ever touched, and the caller's concatenate copies the used part out
    most = len(data) // 2 + docs + 1
    hashes = np.empty(most, np.uint64)
    lengths = np.empty(most, np.int64) if want_lengths else None
    counts = np.empty(docs, np.int64)
    t = native.tokenize(
        np.ascontiguousarray(data),
        np.ascontiguousarray(offsets, np.int64),
        _ascii_word(punctuation),
        _bmp_word(punctuation),
        punctuation,
        hashes,
        lengths,
        counts,
    )
    return hashes[:t], counts, lengths[:t] if lengths is not None else np.zeros(0, np.int64)


def _chunk_numpy(
    data: np.ndarray, offsets: np.ndarray, punctuation: bool, want_lengths: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same tokens with numpy passes: about 2x slower than the C loop, which needs a
    compiler at install."""
    n = len(data)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return np.zeros(0, np.uint64), np.zeros(len(offsets) - 1, np.int64), empty
    word = _is_word(data, punctuation)
    inner = offsets[1:-1]
    inner = inner[inner < n]
    before = np.concatenate(([False], word[:-1]))
    before[inner] = False  # a document boundary always ends a word
    after = np.concatenate((word[1:], [False]))
    after[inner[inner > 0] - 1] = False
    starts = np.flatnonzero(word & ~before)
    ends = np.flatnonzero(word & ~after) + 1
    lengths = ends - starts
    counts = np.diff(np.searchsorted(starts, offsets))
    kept = lengths.astype(np.int64) if want_lengths else np.zeros(0, np.int64)
    return _hash_tokens(data, starts, lengths), counts, kept


def _hash_tokens(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each token's bytes, read 8 at a time with unaligned 64-bit loads, folded through mix64:
    one pass over the tokens (plus one per further 8 bytes for the few long ones)."""
    padded = np.zeros(len(data) + 16, np.uint8)
    padded[: len(data)] = data
    u64 = np.ndarray((len(data) + 8,), dtype="<u8", buffer=padded, strides=(1,))
    h = lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    idx, pos, rest = None, starts, lengths
    with np.errstate(over="ignore"):
        while True:
            word = u64[pos]
            word &= _MASKS[np.minimum(rest, 8)]
            if idx is None:
                h ^= word
                h = mix64(h)
            else:
                h[idx] = mix64(h[idx] ^ word)
            more = rest > 8
            if not more.any():
                return h
            idx = np.flatnonzero(more) if idx is None else idx[more]
            pos, rest = pos[more] + 8, rest[more] - 8


def doc_keys(
    hashes: np.ndarray, offsets: np.ndarray, compiled: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit keys of each document's token sequence: sum_i h_i * (2i + 1) and
    sum_i (h_i ^ c) * (2i + 3), modulo 2^64, i the position in the document. Token hashes are
    avalanched, so equal keys mean equal token sequences but for chance (2^-128); odd position
    weights make order count. Computed with global positions g = s + i, no per-token document
    start: sum h (2i + w) = sum h (2g + w) - 2s sum h, modulo 2^64 alike."""
    if compiled:
        k1, k2 = np.empty(len(offsets) - 1, np.uint64), np.empty(len(offsets) - 1, np.uint64)
        native.doc_keys(np.ascontiguousarray(hashes), offsets.astype(np.int64), k1, k2)
        return k1, k2
    g2 = np.arange(len(hashes), dtype=np.uint64) * np.uint64(2)
    start2 = offsets[:-1].astype(np.uint64) * np.uint64(2)
    length = np.diff(offsets).astype(np.uint64)
    keys = []
    with np.errstate(over="ignore"):
        for h, w in ((hashes, 1), (hashes ^ np.uint64(0xC2B2AE3D27D4EB4F), 3)):
            weighted = _segment_sums(h * (g2 + np.uint64(w)), offsets)
            keys.append(mix64((weighted - start2 * _segment_sums(h, offsets)) ^ length))
    return keys[0], keys[1]


def _segment_sums(v: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    out = np.zeros(len(offsets) - 1, dtype=np.uint64)
    filled = offsets[1:] > offsets[:-1]
    if filled.any():  # reduceat: a segment runs to the next start, so empty ones are left out
        out[filled] = np.add.reduceat(v, offsets[:-1][filled])
    return out
