"""Dedup's connected components run as tasks over per-part files (curate/dedup/graph.py): the
labels must be each component's smallest row, whatever the graph or the split into parts."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as scipy_components

from curate.dedup.graph import Layout, Part, connected_components, split_blocks, write_adjacency


def serial_map(fn, items, *args):
    return [fn(item, *args) for item in items]


def run_components(
    rows_per_part: list[int], edges: np.ndarray, blocks: int = 0
) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        parts = tuple(Part(work / f"p{i}", r) for i, r in enumerate(rows_per_part))
        bounds = split_blocks(rows_per_part, blocks) if blocks else ()
        layout = Layout(work, parts, 1, bounds)
        write_adjacency(layout, "t", edges)
        phase, rounds = connected_components(layout, serial_map)
        labels = np.concatenate(
            [np.load(work / f"label-{phase}-{s:05d}.npy") for s in range(layout.n_blocks)]
        )
    return labels, rounds


def smallest_row_of_component(n: int, edges: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, comp = scipy_components(graph, directed=False)
    smallest = np.full(comp.max() + 1, n)
    np.minimum.at(smallest, comp, np.arange(n))
    return smallest[comp]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 12), min_size=1, max_size=6),
    st.integers(0, 4),
    st.data(),
)
def test_labels_are_the_smallest_row_of_each_component(rows_per_part, blocks, data):
    n = sum(rows_per_part)
    pairs = data.draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n)
    )
    edges = np.array([p for p in pairs if p[0] != p[1]], dtype=np.int64).reshape(-1, 2)
    labels, _ = run_components(rows_per_part, edges, blocks)
    assert labels.tolist() == smallest_row_of_component(n, edges).tolist()


def test_a_long_chain_collapses_in_few_rounds():
    # near duplicates can chain (a~b~c~...): pointer jumping keeps rounds logarithmic
    n = 4096
    order = np.random.default_rng(0).permutation(n)
    edges = np.stack([order[:-1], order[1:]], axis=1)
    labels, rounds = run_components([512] * 8, edges, 3)
    assert (labels == 0).all()
    assert rounds <= 14, rounds  # 11 here; plain label propagation took 1,571


def test_no_edges_means_no_rounds_and_every_row_alone():
    labels, rounds = run_components([3, 4], np.zeros((0, 2), np.int64))
    assert rounds == 0
    assert labels.tolist() == list(range(7))


def test_blocks_are_runs_of_whole_parts_with_even_rows():
    assert split_blocks([10] * 8, 4) == (0, 2, 4, 6, 8)
    assert split_blocks([10] * 3, 8) == (0, 1, 2, 3)  # never more blocks than parts
    assert split_blocks([100, 1, 1, 1], 2) == (0, 1, 4)
    assert split_blocks([5], 1) == (0, 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=0, max_size=80), st.booleans())
def test_bucket_pairs_pair_every_bucket_and_only_buckets(key_of, shuffled):
    """Small buckets give every pair of their documents; big ones (more than all_pairs_upto + 1
    members) at least join each member to the bucket's smallest document; no pair ever joins
    two documents of different keys. Documents in any order."""
    from itertools import combinations

    from curate.dedup.lsh import bucket_pairs

    docs = np.arange(len(key_of), dtype=np.int64) * 3 + 5
    keys = (np.array(key_of, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
    if shuffled:
        order = np.random.default_rng(len(key_of)).permutation(len(key_of))
        docs, keys = docs[order], keys[order]
    upto = 4
    got = {tuple(p) for p in bucket_pairs(keys, docs, all_pairs_upto=upto).tolist()}
    key = dict(zip(docs.tolist(), keys.tolist(), strict=True))
    assert all(a < b and key[a] == key[b] for a, b in got)
    for k in set(keys.tolist()):
        members = sorted(d for d, kk in key.items() if kk == k)
        if len(members) <= upto + 1:
            assert set(combinations(members, 2)) <= got
        else:
            assert {(members[0], m) for m in members[1:]} <= got


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=12), max_size=5))
def test_unique_pairs_are_the_distinct_pairs_in_order(chunks):
    from curate.dedup.lsh import unique_pairs

    arrays = [np.array(c, dtype=np.int64).reshape(-1, 2) for c in chunks]
    got = unique_pairs(arrays)
    assert got.dtype == np.int64 and got.shape[1:] == (2,)
    assert [tuple(p) for p in got.tolist()] == sorted({p for c in chunks for p in c})


@given(st.lists(st.integers(-5, 5), max_size=30), st.booleans())
def test_distinct_equals_np_unique(values, two_d):
    from curate.arrays import distinct

    a = np.array(values, dtype=np.int64)
    if two_d and len(a) % 2 == 0:
        a = a.reshape(-1, 2)
    assert distinct(a).tolist() == np.unique(a).tolist()
