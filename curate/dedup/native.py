"""Dedup's C loops (curate/dedup/_kernels.c), called through ctypes; the tokenizer also serves
filter's n-gram signals and label's issue features.

ctypes releases the GIL for the length of each call, so dedup's worker threads hash and verify
in parallel; the library loads in under a millisecond, so every run uses it, however small.
WINNOW_NO_NATIVE=1 switches it off (the numpy passes only).
The build compiles it at install (`pip install`; optional: without a C compiler the install
still succeeds) and `available()` is false where it was not built: dedup then runs the numpy
passes, which give the same bits (tests/test_tokens.py), about 2x slower.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import sys

import numpy as np

_I64, _U64, _PTR, _I32 = ctypes.c_int64, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_int32
_DBL = ctypes.c_double
KERNELS_VERSION = 8  # winnow_kernels_version() in _kernels.c


def _version(fn: ctypes._CFuncPtr) -> int:  # type: ignore[name-defined]
    fn.restype, fn.argtypes = _I64, []
    return int(fn())


@functools.cache
def _lib() -> ctypes.CDLL | None:
    if os.environ.get("WINNOW_NO_NATIVE"):  # the numpy passes only (tests, comparisons)
        return None
    spec = importlib.util.find_spec("curate.dedup._kernels")
    if spec is None or not spec.origin:
        return None
    lib = ctypes.CDLL(spec.origin)
    version = getattr(lib, "winnow_kernels_version", None)
    if version is None or _version(version) != KERNELS_VERSION:
        # built from an older _kernels.c (an editable install not rebuilt): its functions may
        # differ, so it is not used; the numpy passes give the same output, slower
        print(
            f"winnow: {spec.origin} is out of date; rebuild it with `pip install -e .` "
            "(dedup runs its numpy passes until then)",
            file=sys.stderr,
        )
        return None
    signatures = {
        "winnow_tokenize": (_I64, [_PTR, _PTR, _I64, _PTR, _PTR, _I32, _PTR, _PTR, _PTR]),
        "winnow_shingle_pass": (_I64, [_PTR, _PTR, _I64, _I64, _U64, _PTR, _I64, _PTR]),
        "winnow_doc_keys": (None, [_PTR, _PTR, _I64, _PTR, _PTR]),
        "winnow_jaccard_pairs": (None, [_PTR, _PTR, _PTR, _PTR, _PTR, _I64, _DBL, _PTR]),
        "winnow_gather_runs": (None, [_PTR, _PTR, _PTR, _I64, _PTR]),
        "winnow_bucket_pairs": (_I64, [_PTR, _PTR, _I64, _I64, _PTR, _I64, _PTR]),
        "winnow_band_keys": (None, [_PTR, _I64, _I64, _I64, _I64, _PTR]),
        "winnow_agreement_at": (None, [_PTR, _PTR, _I64, _I64, _PTR]),
    }
    for name, (res, args) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def available() -> bool:
    """Whether the C loops were built (and not switched off by WINNOW_NO_NATIVE)."""
    return _lib() is not None


def _ptr(a: np.ndarray, dtype: type, writable: bool = False) -> int:
    """The address of a C-contiguous array of exactly this dtype (a wrong one is a bug here:
    C would read garbage, so it fails loudly instead)."""
    if a.dtype != dtype or not a.flags.c_contiguous or (writable and not a.flags.writeable):
        raise TypeError(f"native: need a contiguous {np.dtype(dtype)} array, got {a.dtype}")
    return a.ctypes.data


def tokenize(
    data: np.ndarray,
    offsets: np.ndarray,
    ascii_word: np.ndarray,
    bmp_word: np.ndarray,
    punctuation: bool,
    hashes: np.ndarray,
    lengths: np.ndarray | None,
    counts: np.ndarray,
) -> int:
    """Word tokens of documents data[offsets[d]:offsets[d + 1]] (see _kernels.c); lengths None:
    token lengths not written."""
    docs = len(offsets) - 1
    if len(counts) < docs:
        raise ValueError("native.tokenize: counts shorter than the documents")
    # a token takes a byte and ends at a non-word byte or a document's end
    room = len(hashes) if lengths is None else min(len(hashes), len(lengths))
    if room < len(data) // 2 + docs + 1:
        raise ValueError("native.tokenize: output arrays too short for the worst case")
    return _lib().winnow_tokenize(
        _ptr(data, np.uint8),
        _ptr(offsets, np.int64),
        docs,
        _ptr(ascii_word, np.bool_),
        _ptr(bmp_word, np.bool_),
        int(punctuation),
        _ptr(hashes, np.uint64, True),
        None if lengths is None else _ptr(lengths, np.int64, True),
        _ptr(counts, np.int64, True),
    )


def shingle_pass(
    words: np.ndarray,
    offsets: np.ndarray,
    n: int,
    seed_mix: int,
    sig: np.ndarray,
    keys: np.ndarray,
) -> int:
    """Shingle hashes -> oph bin minima in sig (docs x num_perm) and set keys (see _kernels.c)."""
    docs = len(offsets) - 1
    if sig.ndim != 2 or sig.shape[0] != docs or n < 1:
        raise ValueError("native.shingle_pass: sig must be (documents x num_perm), n >= 1")
    lengths = np.diff(offsets)
    if len(keys) < int(np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1)).sum()):
        raise ValueError("native.shingle_pass: keys shorter than the shingles")
    return _lib().winnow_shingle_pass(
        _ptr(words, np.uint64),
        _ptr(offsets, np.int64),
        docs,
        n,
        int(seed_mix),
        _ptr(sig, np.uint32, True),
        sig.shape[1],
        _ptr(keys, np.uint64, True),
    )


def doc_keys(hashes: np.ndarray, offsets: np.ndarray, k1: np.ndarray, k2: np.ndarray) -> None:
    docs = len(offsets) - 1
    if min(len(k1), len(k2)) < docs:
        raise ValueError("native.doc_keys: key arrays shorter than the documents")
    _lib().winnow_doc_keys(
        _ptr(hashes, np.uint64),
        _ptr(offsets, np.int64),
        docs,
        _ptr(k1, np.uint64, True),
        _ptr(k2, np.uint64, True),
    )


def jaccard_pairs(
    values: np.ndarray,
    starts: np.ndarray,
    sizes: np.ndarray,
    ia: np.ndarray,
    ib: np.ndarray,
    out: np.ndarray,
    at_least: float = 0.0,
) -> None:
    """out[k] = Jaccard of sets ia[k] and ib[k], or -1 for a pair certainly below `at_least`
    (its merge stopped early; see _kernels.c). at_least 0: every value exact."""
    if not (len(ia) == len(ib) <= len(out)):
        raise ValueError("native.jaccard_pairs: ia, ib and out differ in length")
    if not 0.0 <= at_least <= 1.0:
        raise ValueError("native.jaccard_pairs: at_least must be in [0, 1]")
    _lib().winnow_jaccard_pairs(
        _ptr(values, np.uint32),
        _ptr(starts, np.int64),
        _ptr(sizes, np.int64),
        _ptr(ia, np.int64),
        _ptr(ib, np.int64),
        len(ia),
        float(at_least),
        _ptr(out, np.float64, True),
    )


def gather_runs(src: np.ndarray, lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    """np.concatenate([src[a : a + k] for a, k in zip(lo, n)]) in one C loop (see _kernels.c)."""
    lo, n = np.ascontiguousarray(lo, np.int64), np.ascontiguousarray(n, np.int64)
    if len(lo) != len(n) or (len(n) and (int(n.min()) < 0 or int(lo.min()) < 0)):
        raise ValueError("native.gather_runs: lo and n must be equal-length, non-negative")
    if len(n) and int((lo + n).max()) > len(src):
        raise ValueError("native.gather_runs: a run ends past the source")
    out = np.empty(int(n.sum()), np.uint32)
    _lib().winnow_gather_runs(
        _ptr(src, np.uint32),
        _ptr(lo, np.int64),
        _ptr(n, np.int64),
        len(n),
        _ptr(out, np.uint32, True),
    )
    return out


def bucket_pairs(keys: np.ndarray, docs: np.ndarray, upto: int) -> np.ndarray:
    """lsh.bucket_pairs for ascending docs, in one C pass (see _kernels.c): the same pairs,
    in another order."""
    keys = np.ascontiguousarray(keys, np.uint64)
    docs = np.ascontiguousarray(docs, np.int64)
    if len(keys) != len(docs) or upto < 0:
        raise ValueError("native.bucket_pairs: keys and docs differ in length, or upto < 0")
    if len(docs) > 1 and not (docs[1:] > docs[:-1]).all():
        raise ValueError("native.bucket_pairs: docs must ascend")
    # room for twice the rows' pairs: a band's pairs are far fewer unless buckets are huge,
    # and then the exact count comes back and one more call fills an array of that size
    capacity = 2 * len(keys)
    needed = np.zeros(1, np.int64)
    for _ in range(2):
        out = np.empty((capacity, 2), np.int64)
        status = _lib().winnow_bucket_pairs(
            _ptr(keys, np.uint64),
            _ptr(docs, np.int64),
            len(keys),
            upto,
            _ptr(out, np.int64, True),
            capacity,
            _ptr(needed, np.int64, True),
        )
        if status < 0:
            raise MemoryError("native.bucket_pairs: out of memory")
        if needed[0] <= capacity:
            return out[: needed[0]] if needed[0] == capacity else out[: needed[0]].copy()
        capacity = int(needed[0])
    raise AssertionError("native.bucket_pairs: the pair count changed between two calls")


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """lsh.band_keys in one C pass (see _kernels.c): the same (bands x documents) keys."""
    if sig.ndim != 2 or bands < 0 or rows < 0 or bands * rows > sig.shape[1]:
        raise ValueError("native.band_keys: sig must be 2-d with bands x rows <= its width")
    sig = np.ascontiguousarray(sig, np.uint32)
    out = np.empty((bands, sig.shape[0]), np.uint64)
    _lib().winnow_band_keys(
        _ptr(sig, np.uint32), sig.shape[0], sig.shape[1], bands, rows, _ptr(out, np.uint64, True)
    )
    return out


def agreement_at(xa: np.ndarray, xb: np.ndarray, width: int, out: np.ndarray) -> None:
    """out[k] = fraction of equal slots of the signature rows at addresses xa[k] and xb[k]
    (uint64 addresses of `width` uint32 values that stay mapped for the call; see _kernels.c)."""
    if not (len(xa) == len(xb) <= len(out)) or width < 1:
        raise ValueError("native.agreement_at: addresses and out differ in length, or width < 1")
    _lib().winnow_agreement_at(
        _ptr(xa, np.uint64), _ptr(xb, np.uint64), len(xa), width, _ptr(out, np.float64, True)
    )
