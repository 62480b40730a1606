"""Compiled loops for dedup's hottest step: UTF-8 bytes -> word tokens -> token hashes, in one
pass over the text.

The numpy version (curate/dedup/tokens.py `_chunk`) makes about a dozen full passes over the
bytes and the tokens; on a 2-core machine it is memory-bound at ~40 MB/s. This loop reads each
byte once. It is numba-compiled (cached on disk after the first run) and bit-for-bit the numpy
version, which stays as the reference the tests hold it to (tests/test_tokens.py).

Constants are typed np.uint64 everywhere: numba turns uint64 mixed with a plain int into
float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xBF58476D1CE4E5B9)
_K3 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


@njit(cache=True, nogil=True, inline="always")
def _mix64(x):
    x ^= x >> _S30
    x *= _K2
    x ^= x >> _S27
    x *= _K3
    x ^= x >> _S31
    return x


@njit(cache=True, nogil=True, inline="always")
def _hash_token(data, start, length):
    """The token's bytes, 8 at a time little-endian, folded through mix64 (as `_hash_tokens`).
    (An unaligned 64-bit load through a strided view measured slower here than this loop.)"""
    h = np.uint64(length) * _K1
    pos = start
    rest = length
    while True:
        word = np.uint64(0)
        for k in range(min(rest, 8)):
            word |= np.uint64(data[pos + k]) << np.uint64(8 * k)
        h = _mix64(h ^ word)
        if rest <= 8:
            return h
        pos += 8
        rest -= 8


@njit(cache=True, nogil=True)
def tokenize_chunk(data, offsets, ascii_word, bmp_word, punctuation, hashes, lengths, counts):
    """Tokens of the documents data[offsets[d]:offsets[d + 1]]: hashes and byte lengths written
    in order, each document's count in counts[d]; returns the number of tokens. A token is a
    maximal run of word characters inside one document (see tokens.py for which are)."""
    t = 0
    for d in range(len(offsets) - 1):
        pos = offsets[d]
        end = offsets[d + 1]
        first = t
        start = -1
        while pos < end:
            b = data[pos]
            if b < 0x80:
                step = 1
                word = ascii_word[b]
            elif b < 0xC0 or pos + (2 if b < 0xE0 else 3 if b < 0xF0 else 4) > end:
                step = 1  # a stray continuation byte or a cut character: not valid UTF-8
                word = False
            else:
                if b < 0xE0:
                    step = 2
                    cp = ((b & 0x1F) << 6) | (data[pos + 1] & 0x3F)
                elif b < 0xF0:
                    step = 3
                    cp = ((b & 0x0F) << 12) | ((data[pos + 1] & 0x3F) << 6) | (data[pos + 2] & 0x3F)
                else:
                    step = 4
                    cp = (
                        ((b & 0x07) << 18)
                        | ((data[pos + 1] & 0x3F) << 12)
                        | ((data[pos + 2] & 0x3F) << 6)
                        | (data[pos + 3] & 0x3F)
                    )
                # beyond the BMP: emoji and pictographs separate words; other characters join
                astral = (not punctuation) or not (0x1F000 <= cp < 0x1FB00)
                word = bmp_word[cp] if cp < 0x10000 else astral
            if word:
                if start < 0:
                    start = pos
            elif start >= 0:
                hashes[t] = _hash_token(data, start, pos - start)
                lengths[t] = pos - start
                t += 1
                start = -1
            pos += step
        if start >= 0:
            hashes[t] = _hash_token(data, start, end - start)
            lengths[t] = end - start
            t += 1
        counts[d] = t - first
    return t


_EMPTY = np.uint32(0xFFFFFFFF)
_TOP = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def shingle_pass(words, offsets, n, seed_mix, sig, keys):
    """Per document, in one pass over its word hashes: each word n-gram's hash (as
    shingles.shingle_hashes), its one-permutation-hashing bin minimum in `sig` (as
    signatures.oph before densification), and (document << 32 | its top 32 bits) in `keys`
    (the input of verify.shingle_sets' sort; numpy sorts 10x faster than a sort compiled here).
    Returns the number of keys written."""
    num_perm = np.uint64(sig.shape[1])
    m = 0
    for d in range(len(offsets) - 1):
        a = offsets[d]
        length = offsets[d + 1] - a
        doc = np.uint64(d) << _TOP
        if length >= n:
            for i in range(length - n + 1):
                s = words[a + i]
                for j in range(1, n):
                    s = (s * _K1) ^ words[a + i + j]
                _oph_update(sig, d, s, seed_mix, num_perm)
                keys[m] = doc | (s >> _TOP)
                m += 1
        elif length > 0:  # fewer words than n: one shingle of them all, its length mixed in
            s = words[a]
            for j in range(1, length):
                s = (s * _K1) ^ words[a + j]
            s = _mix64(s ^ np.uint64(length))
            _oph_update(sig, d, s, seed_mix, num_perm)
            keys[m] = doc | (s >> _TOP)
            m += 1
    return m


@njit(cache=True, nogil=True, inline="always")
def _oph_update(sig, d, s, seed_mix, num_perm):
    h = _mix64(s ^ seed_mix)
    b = ((h >> _TOP) * num_perm) >> _TOP
    v = np.uint32(min(h & _LOW32, np.uint64(0xFFFFFFFE)))
    if v < sig[d, b]:
        sig[d, b] = v


_XOR_KEY2 = np.uint64(0xC2B2AE3D27D4EB4F)


@njit(cache=True, nogil=True)
def doc_keys(hashes, offsets, k1, k2):
    """tokens.doc_keys in one pass: sum_i h_i (2i + 1) and sum_i (h_i ^ c)(2i + 3) per
    document, modulo 2^64, each mixed with the token count."""
    for d in range(len(offsets) - 1):
        a = offsets[d]
        s1 = np.uint64(0)
        s2 = np.uint64(0)
        for i in range(offsets[d + 1] - a):
            h = hashes[a + i]
            w = np.uint64(2 * i)
            s1 += h * (w + np.uint64(1))
            s2 += (h ^ _XOR_KEY2) * (w + np.uint64(3))
        count = np.uint64(offsets[d + 1] - a)
        k1[d] = _mix64(s1 ^ count)
        k2[d] = _mix64(s2 ^ count)


@njit(cache=True, nogil=True)
def jaccard_pairs(values, starts, sizes, ia, ib, out):
    """Jaccard of sorted distinct sets, pair k = (set ia[k], set ib[k]), set d being
    values[starts[d] : starts[d] + sizes[d]]: one merge per pair, no temporaries. The same
    floats as verify._jaccard (integer counts, one division)."""
    for k in range(len(ia)):
        a0, na = starts[ia[k]], sizes[ia[k]]
        b0, nb = starts[ib[k]], sizes[ib[k]]
        i = 0
        j = 0
        inter = 0
        while i < na and j < nb:
            x = values[a0 + i]
            y = values[b0 + j]
            if x == y:
                inter += 1
                i += 1
                j += 1
            elif x < y:
                i += 1
            else:
                j += 1
        union = na + nb - inter
        out[k] = inter / union if union > 0 else 0.0
