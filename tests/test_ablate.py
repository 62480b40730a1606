"""`winnow ablate` on the sample glosses, run as a user would, with tiny models.

The arms have a known answer: the same clean rows, once with their labels and once with the
labels shuffled, so the labeled arm must win; held-out overlap is planted and must be found.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests.conftest import SAMPLE, read_dir, winnow

TINY = ("--dim", "16", "--buckets", "65536", "--epochs", "2", "--seeds", "2")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ablate")
    truth = pl.read_csv(SAMPLE / "truth.csv", infer_schema_length=0)
    clean_ids = truth.filter(pl.col("noise") == "none")["id"]
    rows = read_dir(SAMPLE / "shards").filter(pl.col("id").is_in(clean_ids.implode()))
    rows = rows.sample(fraction=1.0, shuffle=True, seed=0)
    heldout, pool = rows.head(400), rows.slice(400, 1200)
    out = {}
    for name, df in {
        "heldout": heldout,
        "labeled": pool,
        "shuffled": pool.with_columns(pl.col("label").shuffle(seed=1)),
        "control": pool.head(600),
    }.items():
        (root / name).mkdir()
        df.write_parquet(root / name / "part-00000.parquet")
        out[name] = root / name
    # planted: the control rows plus 15 case-changed copies and 15 one-word-shorter copies of
    # held-out rows, under new ids
    rng = random.Random(0)
    long = heldout.filter(pl.col("text").str.count_matches(" ") >= 12)
    exact = long.head(15).with_columns(pl.col("text").str.to_uppercase())
    near = long.slice(15, 15).with_columns(
        pl.col("text").map_elements(lambda t: _drop_word(t, rng), return_dtype=pl.String)
    )
    planted = pl.concat(
        [
            pool.head(600),
            exact.with_columns(("copy-" + pl.col("id")).alias("id")),
            near.with_columns(("near-" + pl.col("id")).alias("id")),
        ]
    )
    (root / "planted").mkdir()
    planted.write_parquet(root / "planted" / "part-00000.parquet")
    out["planted"] = root / "planted"
    return out


def _drop_word(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    del words[rng.randrange(2, len(words) - 2)]
    return " ".join(words)


def test_known_answer_equal_budgets_and_resume(data, tmp_path):
    out = tmp_path / "abl"
    args = (
        "ablate", "--arm", f"shuffled={data['shuffled']}", "--arm", f"labeled={data['labeled']}",
        "--eval", data["heldout"], "--sizes", "0.5,1.0", *TINY, "--out", out,
    )  # fmt: skip
    # a half-finished ablation: the test hook stops it after 5 runs
    r = winnow(*args, "--quiet", env={"WINNOW_ABLATE_STOP_AFTER": "5"})
    assert r.code == 3 and "stopped after 5 runs" in r.stderr
    assert len(list((out / "runs").glob("*/result.json"))) == 5
    assert not (out / "summary.md").exists()
    r = winnow(*args, "--json", "--quiet")
    assert r.code == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["runs_resumed"] == 5 and s["runs_trained"] == s["runs"] - 5 == 7

    results = json.loads((out / "results.json").read_text())
    assert len(results) == 2 * 2 * 2 * 2  # arms x sizes x seeds x budgets
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == len(results)
    # equal compute: every run saw the same number of examples, 2 epochs of the largest arm
    compute = [r for r in results if r["budget"] == "compute"]
    assert {r["examples_seen"] for r in compute} == {2 * 1200}
    assert {r["train_rows"] for r in compute} == {600, 1200}
    for r in results:
        if r["budget"] == "epochs":
            assert r["examples_seen"] == 2 * r["train_rows"]
    # the known answer: labels beat shuffled labels, far beyond the seed spread
    (c,) = [c for c in s["comparisons"] if c["budget"] == "compute"]
    assert c["verdict"]["kind"] == "win", c["verdict"]
    assert c["candidate"] == "labeled" and c["reference"] == "shuffled"
    assert c["paired_bootstrap"]["p"] < 0.01
    assert s["verdict"].startswith("labeled beats shuffled")
    assert c["crossover_size"] == 600  # half the labeled rows already beat all shuffled ones
    summary = (out / "summary.md").read_text()
    assert "**Verdict:** labeled beats shuffled" in summary and "95% interval" in summary
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"

    # done is done: a third run trains nothing; other settings are refused without --force
    r = winnow(*args, "--json", "--quiet")
    assert r.code == 0 and json.loads(r.stdout)["runs_trained"] == 0
    r = winnow(*args[:-2], "--seeds", "3", "--out", out)
    assert r.code == 2 and "other inputs or settings" in r.stderr


def test_heldout_overlap_is_found_and_removed(data, tmp_path):
    out = tmp_path / "abl"
    r = winnow(
        "ablate", "--arm", f"control={data['control']}", "--arm", f"planted={data['planted']}",
        "--eval", data["heldout"], "--sizes", "1.0", "--seeds", "1", "--budgets", "compute",
        "--epochs", "1", "--dim", "8", "--buckets", "4096", "--out", out, "--json", "--quiet",
    )  # fmt: skip
    assert r.code == 0, r.stderr
    arms = json.loads(r.stdout)["overlap"]["arms"]
    assert arms["planted"]["exact"] - arms["control"]["exact"] == 15
    assert arms["planted"]["near"] - arms["control"]["near"] == 15
    assert arms["planted"]["rows_after"] == arms["control"]["rows_after"]
    kept = pl.read_parquet(out / "prepared" / "planted.parquet")["id"]
    assert not kept.str.starts_with("copy-").any() and not kept.str.starts_with("near-").any()
    assert "| planted | 630 |" in (out / "summary.md").read_text()


def test_carved_heldout_rows_leave_every_arm(data, tmp_path):
    out = tmp_path / "abl"
    r = winnow(
        "ablate", "--arm", f"raw={data['labeled']}", "--arm", f"curated={data['control']}",
        "--carve", "0.25", "--sizes", "1.0", "--seeds", "1", "--budgets", "compute",
        "--epochs", "1", "--dim", "8", "--buckets", "4096", "--out", out, "--json", "--quiet",
    )  # fmt: skip
    assert r.code == 0, r.stderr
    o = json.loads(r.stdout)["overlap"]
    held = pl.read_parquet(out / "prepared" / "heldout.parquet")
    assert o["heldout"]["rows"] == held.height == 300  # a quarter of 1,200, stratified
    assert o["arms"]["raw"]["same_id"] == 300
    curated_ids = pl.read_parquet(data["control"] / "part-00000.parquet")["id"]
    assert o["arms"]["curated"]["same_id"] == int(curated_ids.is_in(held["id"].implode()).sum())
    for arm in ("raw", "curated"):
        ids = pl.read_parquet(out / "prepared" / f"{arm}.parquet")["id"]
        assert not ids.is_in(held["id"].implode()).any()
    by_label = held.group_by("label").len().sort("label")["len"].to_numpy()
    pool = pl.read_parquet(data["labeled"] / "part-00000.parquet").group_by("label").len()
    assert np.abs(by_label - np.round(pool.sort("label")["len"].to_numpy() / 4)).max() <= 1


def test_bad_ablations_exit_2(data, tmp_path):
    r = winnow("ablate", "--arm", f"only={data['labeled']}", "--out", tmp_path / "a")
    assert r.code == 2 and "at least two arms" in r.stderr
    unlabeled = tmp_path / "unlabeled"
    unlabeled.mkdir()
    pl.read_parquet(data["control"] / "part-00000.parquet").drop("label").write_parquet(
        unlabeled / "part-00000.parquet"
    )
    r = winnow(
        "ablate", "--arm", f"a={data['control']}", "--arm", f"b={unlabeled}",
        "--out", tmp_path / "b",
    )  # fmt: skip
    assert r.code == 2
    assert r.stderr.startswith(f"winnow: error: {unlabeled / 'part-00000.parquet'}: no label")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "x.txt").write_text("mine")
    r = winnow(
        "ablate", "--arm", f"a={data['control']}", "--arm", f"b={data['labeled']}", "--out", mine
    )
    assert r.code == 2 and "not a winnow ablation" in r.stderr
