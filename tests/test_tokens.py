"""The byte-level tokenizer behind dedup: same words as a plain Python reading of Unicode
categories, documents never run into each other, and hashes that never change."""

from __future__ import annotations

import unicodedata

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.dedup.shingles import mix64, shingle_hashes
from curate.dedup.signatures import oph, oph_fingerprints
from curate.dedup.tokens import doc_keys, token_hashes, tokenize
from curate.dedup.verify import shingle_sets


def words_of(text: str) -> list[str]:
    """Reference: maximal runs of letters, digits and marks (emoji and symbols separate)."""
    out, cur = [], ""
    for ch in text:
        cp = ord(ch)
        if cp < 0x10000:
            word = unicodedata.category(ch)[0] in "LNM" and (cp >= 128 or ch.isalnum())
        else:
            word = not 0x1F000 <= cp < 0x1FB00
        if word:
            cur += ch
        elif cur:
            out.append(cur)
            cur = ""
    return [*out, cur] if cur else out


def hashes(texts: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    return token_hashes(pl.Series(texts, dtype=pl.String))


def test_words_and_boundaries():
    h, off = hashes(["Hello, world!", "", None, "hello world", "abc", "def", "a\U0001f642b"])
    assert np.diff(off).tolist() == [2, 0, 0, 2, 1, 1, 2]
    assert h[0] != h[2]  # case is not folded here: dedup lowercases before
    h2, _ = hashes(["hello, world!", "hello world"])
    assert h2[:2].tolist() == h2[2:].tolist()  # punctuation separates, never counts
    single, _ = hashes(["abcdef"])
    assert single[0] not in h  # "abc" + "def" in two documents never make "abcdef"


def test_unicode_words():
    text = "naïve café, 日本語 and Ελληνικά — don't stop ٣٤ times"
    _, off = hashes([text])
    # naïve café 日本語 and Ελληνικά don t stop ٣٤ times
    assert off[1] == len(words_of(text)) == 10


def test_hash_values_never_change():
    # golden values: a change here silently changes every dedup result ever written
    h, _ = hashes(["hello", "supercalifragilisticexpialidocious"])  # 1 block, 5 blocks
    assert h.tolist() == GOLDEN


GOLDEN = [11815562974981961486, 13674484380082677221]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=6))
def test_same_tokens_as_the_python_reference(texts):
    h, off = hashes(texts)
    for d, text in enumerate(texts):
        expected = words_of(text)
        assert off[d + 1] - off[d] == len(expected)
        if expected:
            ref, _ = hashes(expected)  # each word alone, as its own document
            assert h[off[d] : off[d + 1]].tolist() == ref.tolist()


def test_doc_keys_equal_exactly_for_equal_token_sequences():
    h, off = hashes(["The cat sat.", "the  CAT sat", "The cat sat", "sat cat The", ""])
    k1, k2 = doc_keys(h, off)
    assert k1[0] == k1[2] and k2[0] == k2[2]
    assert k1[0] != k1[1]  # case differs (dedup lowercases first)
    assert k1[0] != k1[3]  # order counts
    assert len({*k1.tolist()}) == 4


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(st.characters(codec="utf-8"), max_size=60)), max_size=12),
    st.booleans(),
)
def test_compiled_loop_equals_the_numpy_reference(texts, punctuation):
    """The C loop (curate/dedup/_kernels.c) against the numpy passes it replaced: same
    tokens, lengths and hashes for any text, in any mix of documents."""
    series = pl.Series(texts, dtype=pl.String)
    compiled = tokenize(series, punctuation, compiled=True)
    reference = tokenize(series, punctuation, compiled=False)
    assert compiled.offsets.tolist() == reference.offsets.tolist()
    assert compiled.hashes.tolist() == reference.hashes.tolist()
    assert compiled.lengths.tolist() == reference.lengths.tolist()
    h, off = token_hashes(series, punctuation, compiled=True)  # lengths not written
    assert h.tolist() == reference.hashes.tolist()
    assert off.tolist() == reference.offsets.tolist()
    keys = doc_keys(compiled.hashes, compiled.offsets, compiled=True)
    reference_keys = doc_keys(compiled.hashes, compiled.offsets)
    assert [k.tolist() for k in keys] == [k.tolist() for k in reference_keys]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=8),
    st.integers(1, 6),
    st.sampled_from([2, 3, 16, 128]),
    st.integers(0, 2**32),
)
def test_compiled_fingerprints_equal_the_numpy_reference(lengths, ngram, num_perm, seed):
    """oph signatures and shingle sets from the C pass (native.shingle_pass) equal
    shingle_hashes -> oph and shingle_sets, for documents of any length around n."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    # few distinct words: repeated shingles inside a document must collapse in its set
    words = mix64(rng.integers(0, 5, int(offsets[-1])).astype(np.uint64))
    sig, sets, set_offsets = oph_fingerprints(words, offsets, ngram, num_perm, seed)
    sh, sh_off = shingle_hashes(words, offsets, ngram)
    ref_sets, ref_offsets = shingle_sets(sh, sh_off)
    assert sig.tolist() == oph(sh, sh_off, num_perm, seed).tolist()
    assert sets.tolist() == ref_sets.tolist()
    assert set_offsets.tolist() == ref_offsets.tolist()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.frozensets(st.integers(0, 60), max_size=30), min_size=1, max_size=12),
    st.data(),
)
def test_compiled_jaccard_equals_the_numpy_reference_and_python_sets(sets, data):
    from curate.dedup.native import jaccard_pairs
    from curate.dedup.verify import _jaccard

    values = np.array([v for s in sets for v in sorted(s)], dtype=np.uint32)
    sizes = np.array([len(s) for s in sets], dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    index = st.integers(0, len(sets) - 1)
    pairs = np.array(data.draw(st.lists(st.tuples(index, index), min_size=1, max_size=20)))
    ia, ib = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    compiled = np.empty(len(pairs))
    jaccard_pairs(values, starts, sizes, ia, ib, compiled)
    expected = [
        len(sets[a] & sets[b]) / len(sets[a] | sets[b]) if sets[a] | sets[b] else 0.0
        for a, b in pairs.tolist()
    ]
    assert compiled.tolist() == expected
    assert _jaccard(values, starts, sizes, ia, ib).tolist() == expected
    # with a bound: the same verdict against it, exact values for the pairs that reach it
    # (thresholds drawn among the pairs' own values too: a pair exactly at the bound passes)
    at_least = data.draw(st.sampled_from([*expected, 0.5, 0.8, 1.0]))
    bounded = np.empty(len(pairs))
    jaccard_pairs(values, starts, sizes, ia, ib, bounded, at_least)
    for got, want in zip(bounded.tolist(), expected, strict=True):
        assert (got >= at_least) == (want >= at_least)
        assert got == want or (got == -1.0 and want < at_least)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 12),
    st.sampled_from([1, 2, 7, 128]),
    st.integers(0, 3),
    st.data(),
)
def test_c_agreement_equals_the_numpy_mean(docs, width, values, data):
    """Signature agreement in C (native.agreement_at, rows given by address as they lie in
    mapped files) gives numpy's floats: few distinct slot values, so pairs agree anywhere from
    nowhere to everywhere."""
    from curate.dedup.native import agreement_at

    rng = np.random.default_rng(docs * 1000 + width)
    rows = rng.integers(0, values + 1, (docs, width)).astype(np.uint32)
    index = st.integers(0, docs - 1)
    pairs = np.array(data.draw(st.lists(st.tuples(index, index), min_size=1, max_size=20)))
    ia, ib = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    at = np.uint64(rows.ctypes.data) + np.arange(docs, dtype=np.uint64) * np.uint64(4 * width)
    out = np.empty(len(pairs))
    agreement_at(at[ia], at[ib], width, out)
    assert out.tolist() == (rows[ia] == rows[ib]).mean(axis=1).tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 10)), max_size=15))
def test_c_gather_runs_equals_concatenated_slices(runs):
    from curate.dedup.native import gather_runs

    src = np.arange(60, dtype=np.uint32) * np.uint32(2654435761)
    runs = [(lo, min(n, 60 - lo)) for lo, n in runs]
    lo = np.array([r[0] for r in runs], dtype=np.int64)
    n = np.array([r[1] for r in runs], dtype=np.int64)
    expected = [v for a, k in runs for v in src[a : a + k].tolist()]
    assert gather_runs(src, lo, n).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 8), max_size=120),
    st.integers(0, 6),
    st.sampled_from([np.uint64(1), np.uint64(0x9E3779B97F4A7C15), np.uint64(2**63)]),
)
def test_c_bucket_pairs_are_the_numpy_pairs(key_of, upto, spread):
    """The C pass (a hash table) gives the numpy pass's pairs, repeats included, in another
    order; keys close together, far apart or colliding in their low bits."""
    import curate.dedup.lsh as lsh
    from curate.dedup import native

    keys = np.array(key_of, dtype=np.uint64) * spread
    docs = np.arange(len(key_of), dtype=np.int64) * 7 + 3

    def rows(pairs: np.ndarray) -> list[tuple[int, int]]:
        return sorted(map(tuple, pairs.tolist()))

    c = native.bucket_pairs(keys, docs, upto)
    available = native.available
    try:
        native.available = lambda: False
        expected = lsh.bucket_pairs(keys, docs, upto)
    finally:
        native.available = available
    assert c.dtype == np.int64 and c.shape[1:] == (2,)
    assert rows(c) == rows(expected)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 40),
    st.integers(1, 24),
    st.data(),
)
def test_c_band_keys_are_the_numpy_keys(docs, width, data):
    """Band keys in C (native.band_keys) equal the numpy passes', for any bands x rows that
    fit the signature; values near 0 and near 2^32 (EMPTY) included."""
    from curate.dedup import native
    from curate.dedup.lsh import band_keys

    rows = data.draw(st.integers(1, width))
    bands = data.draw(st.integers(0, width // rows))
    rng = np.random.default_rng(docs * 100 + width)
    sig = rng.integers(0, 2**32, (docs, width), dtype=np.uint64).astype(np.uint32)
    sig[: docs // 3, : width // 2] = 0xFFFFFFFF
    c = native.band_keys(sig, bands, rows)
    expected = band_keys(sig, bands, rows, compiled=False)
    assert c.dtype == np.uint64 and c.shape == (bands, docs)
    assert c.tolist() == expected.tolist()
