"""`winnow report`: what a run, a stage output and a plain dataset report, checked against the
data itself; the schema; deterministic bytes; streaming statistics that merge."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest

from curate.report.stats import Counts, Histogram, Sketch
from tests.conftest import read_dir, winnow, write_shards
from tests.report_helpers import load, report_of, sample_run, validator


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return sample_run(tmp_path_factory)


@pytest.fixture(scope="module")
def report(tmp_path_factory, run):
    return report_of(tmp_path_factory, run, "run")


def test_report_of_a_run_agrees_with_manifests_and_data(run, report):
    doc = load(report / "report.json")
    validator().validate(doc)
    m, summary = doc["metrics"], load(run / "run.json")["summary"]
    assert doc["source"] == {"path": str(run), "kind": "run"}
    assert [s["folder"] for s in doc["stages"]] == [s["stage"] for s in summary]
    assert m["rows.input"] == summary[0]["input"] == 3610
    assert m["rows.kept"] == summary[-1]["kept"]
    assert m["rows.rejected"] == sum(s["rejected"] for s in summary)
    assert m["rows.kept"] + m["rows.rejected"] == m["rows.input"]
    dedup = summary[1]
    assert m["dedup.exact_fraction"] == dedup["by_reason"]["exact_duplicate"] / dedup["input"]
    assert m["dedup.near_fraction"] == dedup["by_reason"]["near_duplicate"] / dedup["input"]
    assert m["stage.dedup.reason.exact_duplicate.rows"] == dedup["by_reason"]["exact_duplicate"]
    filt = summary[2]
    assert m["filter.language.fraction"] == filt["by_reason"]["language"] / filt["input"]
    assert m["filter.c4_lorem_ipsum.fraction"] == 0.0  # a rule in force that dropped nothing
    assert m["reason.empty_text.rows"] == summary[0]["by_reason"]["empty_text"]

    # recount from the data: characters, classes, label issues, languages, lengths
    kept = read_dir(run / "04-label" / "data")
    rejected = pl.concat(
        [read_dir(run / s["stage"] / "rejected").select("text") for s in summary],
        how="vertical",
    )
    lengths = kept["text"].str.len_chars().to_numpy()
    assert m["chars.kept"] == lengths.sum()
    assert m["chars.rejected"] == rejected["text"].str.len_chars().fill_null(0).sum()
    assert m["stage.clean.chars.input"] == m["chars.input"]
    assert m["stage.label.chars.kept"] == m["chars.kept"]
    assert (
        m["stage.dedup.chars.input"] - m["stage.dedup.chars.kept"]
        == (m["stage.dedup.chars.rejected"])
    )
    classes = kept["label"].value_counts()
    for c, n in classes.iter_rows():
        assert m[f"label.class_fraction.{c}"] == pytest.approx(n / kept.height)
    assert sum(v for k, v in m.items() if k.startswith("label.class_fraction.")) == (
        pytest.approx(1.0)
    )
    assert m["label.class_balance"] == pytest.approx(
        classes["count"].min() / classes["count"].max()
    )
    assert m["label.coverage"] == 1.0
    assert m["label.issue_fraction"] == pytest.approx(kept["label.issue"].mean())
    animals = kept.filter(pl.col("label.given") == "animal")
    assert m["label.issue_fraction.animal"] == pytest.approx(animals["label.issue"].mean())
    assert m["language.fraction.en"] == 1.0
    for q in (10, 50, 90, 99):
        exact = np.percentile(lengths, q)
        assert m[f"length.chars.p{q}"] == pytest.approx(exact, rel=0.02, abs=1), q
    assert m["length.chars.max"] == lengths.max() and m["length.chars.min"] == lengths.min()
    # every numeric signal column has quantiles; booleans a true fraction
    assert m["signal.filter.language_score.p50"] == pytest.approx(
        kept["filter.language_score"].median(), rel=0.02
    )
    assert m["signal.label.issue.true_fraction"] == pytest.approx(kept["label.issue"].mean())
    # cluster sizes come from the dedup stage's kept rows: one row per cluster
    sizes = read_dir(run / "02-dedup" / "data")["dedup.cluster_size"]
    assert m["dedup.clusters"] == sizes.len()
    assert m["dedup.clusters_with_duplicates"] == (sizes > 1).sum()
    assert m["dedup.cluster_size.max"] == sizes.max()

    # samples of rejected rows per reason, from the rejected shards
    groups = {(g["stage"], g["reason"]): g for g in doc["samples"]}
    assert groups[("dedup", "exact_duplicate")]["rows"] == dedup["by_reason"]["exact_duplicate"]
    first = read_dir(run / "02-dedup" / "rejected").filter(pl.col("reason") == "near_duplicate")
    assert [s["id"] for s in groups[("dedup", "near_duplicate")]["samples"]] == (
        first["id"].head(5).to_list()
    )
    # the run's truth scorecard becomes metrics
    for t in load(run / "run.json")["truth"]["by_noise"]:
        assert m[f"truth.{t['noise']}.rows"] == t["rows"]
        assert m[f"truth.{t['noise']}.rejected_fraction"] == t["rejected"] / t["rows"]
    assert m["truth.junk.rows"] == 120
    # manifests are carried, minus wall-clock fields
    assert set(doc["manifests"]) == {s["stage"] for s in summary}
    assert "started" not in doc["manifests"]["02-dedup"]
    assert doc["manifests"]["02-dedup"]["counts"]["by_reason"] == dedup["by_reason"]

    md = (report / "report.md").read_text()
    assert "| 02-dedup | 3,580 |" in md and "`dedup.near_fraction`" in md


def test_report_is_deterministic_and_written_into_the_folder(run, report, tmp_path):
    again = tmp_path / "again"
    res = winnow("report", run, "--out", again, "-q")
    assert res.code == 0, res.stderr
    assert "report.html" in res.stdout
    for name in ("report.json", "report.md", "report.html"):
        assert (again / name).read_bytes() == (report / name).read_bytes(), name
    # no wall-clock time anywhere in report.json
    assert "started" not in (again / "report.json").read_text()
    # default output: the stage folder it describes, atomically (no temporary files left)
    stage = tmp_path / "stage"
    shutil.copytree(run / "02-dedup", stage)
    res = winnow("report", stage, "--json", "-q")
    assert res.code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc == load(stage / "report.json")
    assert sorted(p.name for p in stage.iterdir() if p.name.startswith(".")) == []
    validator().validate(doc)
    assert doc["source"]["kind"] == "stage"
    assert doc["metrics"]["rows.input"] == 3580
    assert doc["metrics"]["dedup.exact_fraction"] > 0
    assert doc["metrics"]["label.issue_fraction"] is None  # no label stage: not computable


def test_report_of_a_plain_dataset_with_other_column_names(tmp_path):
    src = write_shards(
        tmp_path / "mine",
        [
            pl.DataFrame({"body": ["alpha beta", "", None], "cls": ["a", None, "b"]}),
            pl.DataFrame({"body": ["gamma " * 50], "cls": ["a"]}),
        ],
    )
    out = tmp_path / "rep"
    res = winnow(
        "report", src, "--out", out, "--text-column", "body", "--label-column", "cls", "-q"
    )
    assert res.code == 0, res.stderr
    doc = load(out / "report.json")
    validator().validate(doc)
    m = doc["metrics"]
    assert doc["source"]["kind"] == "dataset" and doc["stages"] == []
    assert m["rows.input"] == m["rows.kept"] == 4 and m["rows.rejected"] == 0
    assert m["chars.kept"] == 10 + 300
    assert m["label.coverage"] == 0.75
    assert m["label.class_fraction.a"] == pytest.approx(2 / 3)
    assert m["dedup.exact_fraction"] is None and m["label.issue_fraction"] is None
    assert not any(k.startswith("signal.") for k in m)


def test_report_input_errors(tmp_path, run):
    res = winnow("report", tmp_path / "missing")
    assert res.code == 2 and res.stderr.strip().count("\n") == 0
    assert "missing: does not exist" in res.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "part-00000.parquet").write_bytes(b"PAR1 not really")
    res = winnow("report", bad)
    assert res.code == 2 and "part-00000.parquet" in res.stderr
    # an unfinished run is not reported as if it were complete
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "run.json").write_text(json.dumps({"status": "running", "stages": []}))
    res = winnow("report", unfinished)
    assert res.code == 3 and "not complete" in res.stderr


def test_sketch_quantiles_merge_shard_by_shard():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [rng.lognormal(5, 1.5, 20_000), np.zeros(300), -rng.exponential(3, 500)]
    )
    rng.shuffle(values)
    whole, merged = Sketch(), Sketch()
    whole.add(values)
    for part in np.array_split(values, 7):
        s = Sketch()
        s.add(np.append(part, np.nan))
        merged.merge(s)
    assert merged.nulls == 7 and merged.count == values.size
    for q in (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
        exact = np.quantile(values, q)
        assert merged.quantile(q) == whole.quantile(q)
        assert merged.quantile(q) == pytest.approx(exact, rel=0.011, abs=1e-9), q
    assert merged.quantile(0) == values.min() and merged.quantile(1) == values.max()
    assert merged.mean == pytest.approx(values.mean())
    h1, h2 = Histogram([0, 1, 10, 100]), Histogram([0, 1, 10, 100])
    h1.add(np.array([0.5, 5, 50, 5000]))
    h2.add(np.array([7.0]))
    h1.merge(h2)
    assert h1.counts.tolist() == [1, 2, 2]  # the last bin takes everything above
    c = Counts()
    c.add({"b": 1, "a": 1})
    c.add({"b": 2})
    assert list(c.sorted().items()) == [("b", 3), ("a", 1)]
