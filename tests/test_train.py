"""`winnow train` and `winnow predict`, run as a user would, on the sample data (tiny models)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from tests.conftest import SAMPLE, winnow
from train.features import FeatureConfig, bags, featurize

TINY = ("--dim", "16", "--buckets", "65536", "--epochs", "2")


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Train on three sample shards, hold out the fourth (given as a single Parquet file)."""
    root = tmp_path_factory.mktemp("split")
    shards = sorted((SAMPLE / "shards").glob("*.parquet"))
    (root / "train").mkdir()
    for s in shards[:-1]:
        shutil.copyfile(s, root / "train" / s.name)
    return root / "train", shards[-1]


@pytest.fixture(scope="module")
def trained(split, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "model"
    r = winnow("train", split[0], "--eval", split[1], "--out", out, *TINY, "--quiet")
    assert r.code == 0, r.stderr
    return out


def test_same_data_seed_and_threads_give_the_same_metrics_bytes(split, trained, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(trained, again)
    (again / "metrics.json").write_text("{}")
    # an earlier run is replaced with --force only (which also covers that path)
    assert winnow("train", split[0], "--eval", split[1], "--out", again, *TINY).code == 2
    r = winnow("train", split[0], "--eval", split[1], "--out", again, *TINY, "--force", "-q")
    assert r.code == 0, r.stderr
    assert (again / "metrics.json").read_bytes() == (trained / "metrics.json").read_bytes()
    m = json.loads((trained / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "log_loss"):  # DESIGN.md section 6: at the top level
        assert m[key] >= 0
    assert m["accuracy"] > 0.6  # five classes: a model that learned nothing scores ~0.2
    assert set(m["per_class"]) == {"animal", "artifact", "food", "person", "plant"}
    assert sum(map(sum, m["confusion"]["matrix"])) == m["heldout_rows"]
    assert m["examples_seen"] == 2 * m["train_rows"] and len(m["curve"]) == 10
    timing = json.loads((trained / "timing.json").read_text())
    assert timing["examples_per_second"] > 0 and timing["device"] == "cpu"
    assert "train_seconds" not in (trained / "metrics.json").read_text()  # that is timing.json


def test_predict_round_trip_gives_the_training_metrics(split, trained, tmp_path):
    preds = tmp_path / "preds.parquet"
    r = winnow("predict", trained, split[1], "--out", preds, "--json")
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    m = json.loads((trained / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "log_loss"):
        assert summary[key] == m[key]
    df = pl.read_parquet(preds)
    held = pl.read_parquet(split[1])
    assert df.columns == ["id", "predicted", "probability"]
    assert df["id"].to_list() == held["id"].to_list()
    assert df["probability"].is_between(0, 1).all()
    assert (df["predicted"] == held["label"]).mean() == pytest.approx(m["accuracy"], abs=1e-6)
    assert json.loads((trained / "config.json").read_text())["format"] == "winnow-model/1"


class _Exploit:
    """Unpickling this runs code: what a pickled checkpoint can do to whoever loads it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_loading_refuses_pickled_weights(trained, split, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(trained, model)
    marker = tmp_path / "pwned"
    for payload in (
        lambda f: torch.save({"embedding.weight": torch.zeros(2, 2)}, f),
        lambda f: f.write_bytes(pickle.dumps(_Exploit(marker))),
    ):
        payload(model / "model.safetensors")
        r = winnow("predict", model, split[1])
        assert r.code == 2, r.stderr
        assert r.stderr.startswith("winnow: error: ") and len(r.stderr.strip().splitlines()) == 1
        assert "model.safetensors" in r.stderr and "pickled weights are refused" in r.stderr
        assert not marker.exists()


def test_no_label_column_is_an_input_error_naming_the_file(split, tmp_path):
    unlabeled = tmp_path / "unlabeled"
    unlabeled.mkdir()
    pl.read_parquet(split[1]).drop("label").write_parquet(unlabeled / "part-00000.parquet")
    r = winnow("train", unlabeled, "--eval", split[1], "--out", tmp_path / "m", *TINY)
    assert r.code == 2
    assert r.stderr.strip().splitlines() == [
        f"winnow: error: {unlabeled / 'part-00000.parquet'}: no label column 'label' "
        "(columns: id, text); --task classify needs labels: pass --label-column, or use --task lm"
    ]
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--device", "tpu"), "--device must be one of auto, cpu, cuda"),
        (("--task", "regress"), "--task must be one of classify, lm"),
        (("--char-ngrams", "5-3"), "--char-ngrams must be LO-HI"),
    ],
)
def test_bad_options_exit_2(split, tmp_path, args, message):
    r = winnow("train", split[0], "--eval", split[1], "--out", tmp_path / "m", *args)
    assert r.code == 2 and message in r.stderr, r.stderr


def test_a_folder_that_is_not_a_train_run_is_never_replaced(split, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    r = winnow("train", split[0], "--eval", split[1], "--out", mine, *TINY, "--force")
    assert r.code == 2 and "not a winnow train output" in r.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_features_stay_inside_each_document():
    texts = pl.Series(["Alpha beta", "", "beta GAMMA beta", None])
    cfg = FeatureConfig(buckets=1 << 30, word_ngrams=2, char_ngrams=(3, 4))
    idx, off = featurize(texts, cfg)
    words = [2 + 1, 0, 3 + 2, 0]  # unigrams + bigrams: none across documents
    chars = [
        sum(max(0, len(t) - n + 1) for n in (3, 4))
        for t in ("alpha beta", "", "beta gamma beta", "")
    ]
    assert np.diff(off).tolist() == [w + c for w, c in zip(words, chars, strict=True)]
    # same n-gram, same bucket, whatever the document or its case; bigrams differ from unigrams
    beta = idx[off[0] + 1]
    assert idx[off[2]] == beta and idx[off[2] + 2] == beta
    assert idx[off[0] + 2] not in idx[off[2] : off[3]]  # "alpha beta" is not in document 2
    _b, c, bag_off = bags(*featurize(texts, FeatureConfig(buckets=1 << 30)))
    assert c[bag_off[2] : bag_off[3]].max() == 2  # "beta" twice in one document: counted once


def test_language_model_mode(split, tmp_path):
    lm = tmp_path / "lm"
    r = winnow(
        "train", split[0], "--eval", split[1], "--out", lm, "--task", "lm", "--steps", "60",
        "--dim", "32", "--layers", "1", "--heads", "2", "--context", "32", "--json", "-q",
    )  # fmt: skip
    assert r.code == 0, r.stderr
    m = json.loads(r.stdout)
    # bytes drawn uniformly would cost ln(256) = 5.55 nats each; 60 steps learn the letters
    assert 0 < m["nats_per_char"] < 4.0
    assert m["bits_per_char"] == pytest.approx(m["nats_per_char"] / 0.693147, rel=1e-4)
    assert (lm / "model.safetensors").is_file()
