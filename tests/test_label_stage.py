"""The label stage through the CLI on real text: labeling functions and their analysis, label
errors flagged or dropped, and the class guard."""

from __future__ import annotations

import json
import random

import polars as pl

from tests.conftest import ROOT, SAMPLE, read_dir, tree_bytes, winnow, write_shards

GLOSSES = ROOT / "curate" / "resources" / "wordnet_glosses.tsv.gz"
CONFIG = """
[label]
issues = "{issues}"
folds = 3
max_class_loss = {loss}
[[label.functions]]
name = "plants"
label = "plant"
kind = "keywords"
keywords = ["plant", "tree", "shrub", "herb", "flower"]
"""


def glosses(tmp_path, flip: float = 0.1):
    """300 real glosses of 3 classes, some without a label, `flip` of the rest mislabeled."""
    g = pl.read_csv(GLOSSES, separator="\t", quote_char=None)
    g = pl.concat([g.filter(pl.col("label") == c).head(100) for c in ("animal", "food", "plant")])
    rnd = random.Random(0)
    labels, flipped = [], set()
    for i, lab in enumerate(g["label"].to_list()):
        if i % 10 == 0:
            labels.append(None)
        elif rnd.random() < flip:
            labels.append(rnd.choice([c for c in ("animal", "food", "plant") if c != lab]))
            flipped.add(f"r{i}")
        else:
            labels.append(lab)
    df = pl.DataFrame(
        {"id": [f"r{i}" for i in range(g.height)], "text": g["text"], "label": labels}
    )
    return write_shards(tmp_path / "in", [df[:150], df[150:]]), flipped


def run(tmp_path, src, issues="flag", loss=0.5, name="out"):
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(CONFIG.format(issues=issues, loss=loss))
    return winnow("label", src, tmp_path / name, "--config", cfg, "-q", "--json")


def test_flag_labels_and_analysis(tmp_path):
    src, flipped = glosses(tmp_path)
    res = run(tmp_path, src)
    assert res.code == 0, res.stderr
    out = read_dir(tmp_path / "out" / "data")
    assert out.height == 300 and read_dir(tmp_path / "out" / "rejected").height == 0
    assert out["label"].null_count() == 0  # unlabeled rows got a vote or a model label
    assert set(out["label.source"].drop_nulls()) <= {"given", "functions", "model"}
    assert (out["label.given"].is_null() == (out["label.source"] != "given")).all()
    flagged = set(out.filter(pl.col("label.issue").fill_null(False))["id"])
    assert len(flagged & flipped) >= 0.5 * len(flipped)  # most planted flips are found
    info = json.loads((tmp_path / "out" / "manifest.json").read_text())["stage_info"]
    assert info["functions"][0]["name"] == "plants" and info["functions"][0]["coverage"] > 0
    assert info["aggregation"]["method"] in ("majority", "label_model")


def test_drop_policy_and_determinism(tmp_path):
    src, _ = glosses(tmp_path)
    a, b = run(tmp_path, src, "drop", name="a"), run(tmp_path, src, "drop", name="b")
    assert a.code == 0 and b.code == 0, a.stderr
    rejected = read_dir(tmp_path / "a" / "rejected")
    assert rejected.height > 0 and set(rejected["reason"]) == {"label_issue"}
    for part in ("data", "rejected"):
        assert read_dir(tmp_path / "a" / part).equals(read_dir(tmp_path / "b" / part))


def test_class_guard_fails_the_stage(tmp_path):
    src, _ = glosses(tmp_path, flip=0.45)
    res = run(tmp_path, src, "drop", loss=0.01)
    assert res.code == 3 and "max_class_loss" in res.stderr
    assert not (tmp_path / "out").exists()


def test_relabel_policy_keeps_the_original(tmp_path):
    src, flipped = glosses(tmp_path)
    res = run(tmp_path, src, "relabel")
    assert res.code == 0, res.stderr
    out = read_dir(tmp_path / "out" / "data")
    swapped = out.filter(pl.col("label.original").is_not_null())
    assert swapped.height > 0
    assert (swapped["label"] == swapped["label.predicted"]).all()
    assert (swapped["label.original"] == swapped["label.given"]).all()
    assert (swapped["label"] != swapped["label.original"]).all()
    assert set(swapped["label.source"]) == {"relabeled"}
    assert len(set(swapped["id"]) & flipped) >= 0.5 * swapped.height  # mostly real flips


def test_low_confidence_rows_rejected(tmp_path):
    src, _ = glosses(tmp_path)
    cfg = tmp_path / "strict.toml"
    cfg.write_text('[label]\nissues = "off"\nmin_confidence = 0.99\nlow_confidence = "reject"\n')
    res = winnow("label", src, tmp_path / "out", "--config", cfg, "-q", "--json")
    assert res.code == 0, res.stderr
    rejected = read_dir(tmp_path / "out" / "rejected")
    assert rejected.height > 0 and set(rejected["reason"]) == {"low_confidence"}
    assert rejected["label.given"].null_count() == rejected.height  # only unlabeled rows


def test_fit_rows_bounds_the_fit_and_still_finds_flips(tmp_path):
    """The sample data's 3,610 rows: models fitted on a 1,000-row sample, the rest scored out of
    sample, find the planted flips about as well as models fitted on every row; same bytes on
    1 and 2 workers; the manifest says how many rows were fitted and scored."""
    truth = pl.read_csv(SAMPLE / "truth.csv")
    flipped = set(truth.filter(pl.col("noise") == "flipped_label")["id"])
    full, small = tmp_path / "full.toml", tmp_path / "small.toml"
    full.write_text('[label]\nissues = "flag"\n')
    small.write_text('[label]\nissues = "flag"\nfit_rows = 1000\n')
    src = SAMPLE / "shards"
    runs = {
        "full": winnow("label", src, tmp_path / "full", "--config", full, "-q"),
        "w1": winnow("label", src, tmp_path / "w1", "--config", small, "-q"),
        "w2": winnow("label", src, tmp_path / "w2", "--config", small, "-q", "--workers", "2"),
    }
    for name, res in runs.items():
        assert res.code == 0, (name, res.stderr)
    assert tree_bytes(tmp_path / "w1") == tree_bytes(tmp_path / "w2")

    def scores(name):
        out = read_dir(tmp_path / name / "data")
        found = set(out.filter(pl.col("label.issue").fill_null(False))["id"])
        info = json.loads((tmp_path / name / "manifest.json").read_text())["stage_info"]
        checked = out["label.issue"].is_not_null().sum()
        return len(found & flipped) / len(found), len(found & flipped) / len(flipped), info, checked

    p_full, r_full, info_full, checked = scores("full")
    p_small, r_small, info_small, _ = scores("w1")
    assert info_full["fit"] == {
        "fit_rows": 50_000,
        "rows_fitted": checked,
        "rows_scored_out_of_sample": 0,
    }
    fit = info_small["fit"]
    assert fit["fit_rows"] == 1000 and 900 <= fit["rows_fitted"] <= 1005
    assert fit["rows_fitted"] + fit["rows_scored_out_of_sample"] == checked
    # measured: full fit P 0.644 R 0.858 (320 flagged); 1,000 fitted P 0.442 R 0.846 (459): the
    # flips are still found, but a model of a third of these short glosses is less sure of the
    # rest, so more clean rows look wrong. (fit_rows is meant for ~100,000 rows, where the
    # model has long stopped improving.)
    assert r_small >= r_full - 0.05 and p_small >= p_full - 0.25
