"""The dedup stage on real text (WordNet glosses): exact and near duplicates across shards,
verification, keeper policies, --against, determinism, parameters."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from datasketch import MinHash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.dedup import DedupConfig, DedupStage
from curate.dedup.lsh import candidate_probability, choose_bands
from curate.dedup.shingles import shingle_hashes
from curate.dedup.signatures import signatures
from curate.dedup.tokens import token_hashes
from curate.stage import RunOptions, run_stage
from tests.conftest import ROOT, read_dir, tree_bytes, winnow, write_shards

GLOSSES = ROOT / "curate" / "resources" / "wordnet_glosses.tsv.gz"


def documents(n: int, seed: int = 0) -> list[str]:
    """n distinct documents of ~140 words, each eight real WordNet glosses."""
    g = pl.read_csv(GLOSSES, separator="\t", quote_char=None)["text"].to_list()
    random.Random(seed).shuffle(g)
    return [" ".join(g[8 * i : 8 * i + 8]) for i in range(n)]


def edit(text: str, k: int, seed: int) -> str:
    words = text.split()
    rnd = random.Random(seed)
    for _ in range(k):
        words[rnd.randrange(len(words))] = "zzz"
    return " ".join(words)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """120 originals + 10 exact copies (case/punctuation changed) + 10 one-word edits, shuffled
    over 4 shards so most duplicates sit in another shard than their original."""
    docs = documents(120)
    rows = [(f"o{i:03d}", d) for i, d in enumerate(docs)]
    truth = {}
    for i in range(10):
        rows.append((f"e{i:03d}", docs[i].upper() + " !!"))
        truth[f"e{i:03d}"] = f"o{i:03d}"
    for i in range(10, 20):
        rows.append((f"n{i:03d}", edit(docs[i], 1, i)))
        truth[f"n{i:03d}"] = f"o{i:03d}"
    random.Random(1).shuffle(rows)
    df = pl.DataFrame(rows, schema=["id", "text"], orient="row")
    src = write_shards(tmp_path_factory.mktemp("dedup") / "in", [df[i::4] for i in range(4)])
    return src, truth


def test_exact_and_near_duplicates_across_shards(corpus, tmp_path):
    src, truth = corpus
    res = winnow("dedup", src, tmp_path / "out", "--json", "-q")
    assert res.code == 0, res.stderr
    rejected = read_dir(tmp_path / "out" / "rejected")
    kinds = dict(zip(rejected["id"], rejected["reason"], strict=True))
    expected = {i: "exact_duplicate" if i.startswith("e") else "near_duplicate" for i in truth}
    # keep=longest keeps the edited copy when "zzz" made it longer: either side may go
    for dup, orig in truth.items():
        assert (dup in kinds) != (orig in kinds), (dup, orig)
        assert kinds.get(dup, kinds.get(orig)) == expected[dup]
    assert len(kinds) == 20
    for row in rejected.iter_rows(named=True):
        assert row["dedup.cluster_size"] == 2
        assert row["dedup.kept_id"] == row["dedup.cluster"] != row["id"]
        assert row["dedup.similarity"] >= 0.8
        if row["reason"] == "exact_duplicate":
            assert row["dedup.similarity"] == 1.0
    kept = read_dir(tmp_path / "out" / "data")
    assert kept["dedup.kept_id"].null_count() == kept.height
    assert kept.height + rejected.height == 140


def test_keep_policies(corpus, tmp_path):
    src, truth = corpus
    assert winnow("dedup", src, tmp_path / "first", "--keep", "first", "-q").code == 0
    kept = set(read_dir(tmp_path / "first" / "data")["id"])
    order = read_dir(src)["id"].to_list()  # dataset order: shard by shard
    for dup, orig in truth.items():
        winner = min(dup, orig, key=order.index)
        assert winner in kept and ({dup, orig} - {winner}).isdisjoint(kept)
    scored = tmp_path / "scored"
    write_shards(
        scored,
        [
            d.with_columns(score=pl.col("id").str.starts_with("o").cast(pl.Float64))
            for d in map(pl.read_parquet, sorted(src.glob("*.parquet")))
        ],
    )
    assert winnow("dedup", scored, tmp_path / "col", "--keep", "column:score", "-q").code == 0
    rejected = set(read_dir(tmp_path / "col" / "rejected")["id"])
    assert rejected == set(truth)  # originals carry the higher score


def test_verification_rejects_band_collisions(corpus, tmp_path):
    src, _ = corpus
    # one row per band: any shared minimum makes a candidate; only verified pairs may merge
    res = winnow("dedup", src, tmp_path / "out", "--bands", "128", "--rows", "1", "-q")
    assert res.code == 0, res.stderr
    info = json.loads((tmp_path / "out" / "manifest.json").read_text())["stage_info"]
    assert info["rejected_by_verification"] > 0
    assert info["verified_pairs"] == 10  # the near pairs; exact copies are grouped before LSH
    assert read_dir(tmp_path / "out" / "rejected").height == 20


def test_manifest_records_the_s_curve(corpus, tmp_path):
    src, _ = corpus
    assert winnow("dedup", src, tmp_path / "out", "-q").code == 0
    info = json.loads((tmp_path / "out" / "manifest.json").read_text())["stage_info"]
    b, r = info["bands"], info["rows"]
    assert b * r <= 128 and candidate_probability(0.8, b, r) >= 0.99
    assert set(info["candidate_probability"]) == {"0.5", "0.6", "0.7", "0.8", "0.9", "1.0"}
    assert info["candidate_probability"]["1.0"] == 1.0
    assert info["candidate_pairs"] == info["verified_pairs"] + info["rejected_by_verification"]


def test_deterministic_across_workers_and_resplitting(corpus, tmp_path):
    src, _ = corpus
    assert winnow("dedup", src, tmp_path / "w1", "-q").code == 0
    assert winnow("dedup", src, tmp_path / "w2", "--workers", "2", "-q").code == 0
    assert tree_bytes(tmp_path / "w1") == tree_bytes(tmp_path / "w2")
    resplit = write_shards(tmp_path / "resplit", [read_dir(src)[i::3] for i in range(3)])
    assert winnow("dedup", resplit, tmp_path / "r", "-q").code == 0
    for part in ("data", "rejected"):
        a = read_dir(tmp_path / "w1" / part).sort("id")
        b = read_dir(tmp_path / "r" / part).sort("id")
        assert a.equals(b)


@pytest.mark.parametrize("partitions", [1, 3, 16])
def test_the_partition_count_never_changes_the_output(corpus, tmp_path, monkeypatch, partitions):
    """Exact keys and candidate pairs are split into partitions by the input's size alone; the
    decisions are the same for any count (1: every pair in one task; 16: most hold a few)."""
    import curate.dedup.stage as dedup_stage

    src, _ = corpus
    default = DedupStage(DedupConfig())
    run_stage(default, src, tmp_path / "default", RunOptions())
    monkeypatch.setattr(dedup_stage, "partition_count", lambda rows: partitions)
    other = DedupStage(DedupConfig())
    run_stage(other, src, tmp_path / "other", RunOptions(workers=2))
    assert tree_bytes(tmp_path / "default") == tree_bytes(tmp_path / "other")
    for key in ("candidate_pairs", "verified_pairs", "exact_groups_with_duplicates"):
        assert default.manifest_extra()[key] == other.manifest_extra()[key], key


@pytest.mark.parametrize("blocks", [2, 3, 4])
def test_the_block_count_never_changes_the_output(corpus, tmp_path, monkeypatch, blocks):
    """The graph steps work on blocks of whole shards (one per 50k rows); components, keepers
    and decisions cross blocks through files, and come out the same for any count."""
    import curate.dedup.stage as dedup_stage

    src, _ = corpus
    run_stage(DedupStage(DedupConfig()), src, tmp_path / "default", RunOptions())
    monkeypatch.setattr(dedup_stage, "block_count", lambda rows: blocks)
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        run_stage(DedupStage(DedupConfig()), src, out, RunOptions(workers=workers))
        assert tree_bytes(tmp_path / "default") == tree_bytes(out)


def test_the_c_loops_are_built_and_give_the_numpy_passes_bytes(corpus, tmp_path):
    """The install compiles dedup's C loops (a build that silently fell back to numpy would
    halve its speed); the CLI's output is byte-identical with them switched off."""
    from curate.dedup import native

    assert native.available(), "curate/dedup/_kernels.c was not built: pip install -e ."
    src, _ = corpus
    for name, env in (("c", {}), ("numpy", {"WINNOW_NO_NATIVE": "1"})):
        done = winnow("dedup", src, tmp_path / name, "-q", env=env)
        assert done.code == 0, done.stderr
    assert tree_bytes(tmp_path / "c") == tree_bytes(tmp_path / "numpy")


def test_a_c_library_from_another_version_is_refused(monkeypatch, capsys):
    """An editable install whose _kernels.c changed since the build: the old library is not
    used (its functions may differ), and stderr says how to rebuild."""
    from curate.dedup import native

    native._lib.cache_clear()
    monkeypatch.setattr(native, "KERNELS_VERSION", native.KERNELS_VERSION + 1)
    try:
        assert not native.available()
        assert "out of date" in capsys.readouterr().err
    finally:
        native._lib.cache_clear()  # the next caller loads it again, with the real version


def test_shards_hashed_by_either_path_give_the_same_outputs(corpus, tmp_path, monkeypatch):
    """Shards hashed on nodes with and without the C loops (a mixed Ray cluster) mix freely:
    forced here, every other shard on numpy, and every other verification step after them."""
    import itertools

    import curate.dedup.stage as dedup_stage

    src, _ = corpus
    run_stage(DedupStage(DedupConfig()), src, tmp_path / "c", RunOptions())
    calls, built = [], itertools.cycle([False, True])
    c_pass = dedup_stage.oph_fingerprints
    monkeypatch.setattr(dedup_stage.native, "available", lambda: next(built))
    monkeypatch.setattr(dedup_stage, "oph_fingerprints", lambda *a: calls.append(1) or c_pass(*a))
    run_stage(DedupStage(DedupConfig()), src, tmp_path / "mixed", RunOptions())
    assert len(calls) == 2  # 2 of the 4 shards took the C path
    assert tree_bytes(tmp_path / "c") == tree_bytes(tmp_path / "mixed")


def test_against_an_existing_dataset(tmp_path):
    docs = documents(140, seed=7)
    old = write_shards(
        tmp_path / "old",
        [pl.DataFrame({"id": ["old1", "old2", "old3"], "text": [docs[0], docs[1], docs[2]]})],
    )
    before = tree_bytes_of(old)
    new = write_shards(
        tmp_path / "new",
        [
            pl.DataFrame(
                {
                    "id": ["a", "b", "c", "d"],
                    "text": [docs[0], edit(docs[1], 1, 3), docs[100], docs[100].lower()],
                }
            )
        ],
    )
    res = winnow("dedup", new, tmp_path / "out", "--against", old, "-q")
    assert res.code == 0, res.stderr
    rejected = read_dir(tmp_path / "out" / "rejected").sort("id")
    assert rejected["id"].to_list() == ["a", "b", "d"]
    assert rejected["dedup.kept_id"].to_list() == ["old1", "old2", "c"]
    assert rejected["dedup.matched_against"].to_list() == [True, True, False]
    assert read_dir(tmp_path / "out" / "data")["id"].to_list() == ["c"]
    assert tree_bytes_of(old) == before  # OLD is never touched


def tree_bytes_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--threshold", "0"), "threshold must be in (0, 1]"),
        (("--threshold", "1.5"), "threshold must be in (0, 1]"),
        (("--ngram", "0"), "ngram must be >= 1"),
        (("--bands", "20", "--rows", "7"), "exceeds num_perm = 128"),
        (("--bands", "20"), "bands and rows are given together"),
        (("--keep", "shortest"), "keep must be"),
        (("--signature", "simhash"), "signature must be one of"),
    ],
)
def test_bad_parameters(corpus, tmp_path, args, fragment):
    src, _ = corpus
    res = winnow("dedup", src, tmp_path / "out", *args)
    assert res.code == 2, res.stderr
    assert fragment in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_minhash_scheme_matches_datasketch():
    texts = pl.Series(documents(5))
    words, offsets = token_hashes(texts.str.to_lowercase())
    sh, sh_off = shingle_hashes(words, offsets, 5)
    sig = signatures(sh, sh_off, 128, seed=1, scheme="minhash")
    for d in range(5):
        m = MinHash(num_perm=128, seed=1, hashfunc=lambda v: v)  # datasketch's affine32 scheme
        m.update_batch([int(v) & 0xFFFFFFFF for v in sh[sh_off[d] : sh_off[d + 1]]])
        assert np.array_equal(m.hashvalues, sig[d])


@pytest.mark.parametrize("scheme", ["oph", "minhash"])
def test_signature_agreement_estimates_jaccard(scheme):
    """Over many pairs, the fraction of agreeing slots is an unbiased estimate of Jaccard."""
    rng = np.random.default_rng(0)
    universe = rng.integers(0, 2**63, 4000, dtype=np.uint64)
    errors = []
    for size, overlap in [(300, 0.9), (300, 0.6), (40, 0.8), (10, 0.5)]:
        for _ in range(30):
            shared = rng.choice(universe, int(size * overlap), replace=False)
            a = np.concatenate([shared, rng.integers(0, 2**63, size - len(shared), np.uint64)])
            b = np.concatenate([shared, rng.integers(0, 2**63, size - len(shared), np.uint64)])
            j = len(shared) / (2 * size - len(shared))
            sig = signatures(
                np.concatenate([a, b]),
                np.array([0, size, 2 * size]),
                128,
                int(rng.integers(1 << 30)),
                scheme,
            )
            errors.append(float(np.mean(sig[0] == sig[1])) - j)
    assert abs(np.mean(errors)) < 0.02  # unbiased
    assert np.std(errors) < 0.08


def test_choose_bands_is_for_recall():
    b, r = choose_bands(128, 0.8, 0.99)
    assert candidate_probability(0.8, b, r) >= 0.99
    # one more row per band would miss more than 1% of pairs at the threshold
    assert candidate_probability(0.8, 128 // (r + 1), r + 1) < 0.99


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.lists(st.integers(0, 9), min_size=1, max_size=30),
    lower=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_nothing_lost_and_idempotent(tmp_path_factory, picks, lower):
    pool = documents(10, seed=3)
    texts = [pool[p].lower() if low else pool[p] for p, low in zip(picks, lower, strict=False)]
    tmp = tmp_path_factory.mktemp("dprop")
    df = pl.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "text": texts})
    src = write_shards(tmp / "in", [df[i::2] for i in range(2)])
    res = run_stage(DedupStage(DedupConfig()), src, tmp / "out", RunOptions())
    kept, rejected = read_dir(tmp / "out" / "data"), read_dir(tmp / "out" / "rejected")
    assert sorted(kept["id"].to_list() + rejected["id"].to_list()) == sorted(df["id"])
    assert kept.height == len(set(picks)) == res.counts["kept"]  # one per distinct document
    again = run_stage(DedupStage(DedupConfig()), tmp / "out", tmp / "again", RunOptions())
    assert again.counts["rejected"] == 0
