"""`winnow diff` on two versions of the sample data: version 2 has 50 extra exact duplicates
(new ids, copied texts) and 40 flipped labels; the diff must say exactly that."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curate.diff import js_divergence, psi, wasserstein
from tests.conftest import SAMPLE, read_dir, winnow, write_shards
from tests.report_helpers import load

CLASSES = ["animal", "artifact", "food", "person", "plant"]


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """(v1, v2) datasets and their dedup outputs (d1, d2)."""
    root = tmp_path_factory.mktemp("versions")
    d1 = root / "d1"
    res = winnow("dedup", SAMPLE / "shards", d1, "-q")
    assert res.code == 0, res.stderr
    # rows that are alone in their cluster: copies of them are exact duplicates, nothing else
    lonely = read_dir(d1 / "data").filter(pl.col("dedup.cluster_size") == 1).sort("id")
    copied, flipped = lonely.head(50), lonely.slice(100, 40)
    shards = [pl.read_parquet(p) for p in sorted((SAMPLE / "shards").glob("*.parquet"))]
    flip = dict(zip(flipped["id"], flipped["label"], strict=True))
    new_label = pl.col("id").replace_strict(
        {i: CLASSES[(CLASSES.index(lab) + 1) % 5] for i, lab in flip.items()}, default=None
    )
    shards = [
        s.with_columns(pl.coalesce(new_label, pl.col("label")).alias("label")) for s in shards
    ]
    extra = copied.select(
        ("z-copy-" + pl.col("id")).alias("id"), "text", "label"
    )  # ids sort after the originals: the originals stay the kept copies
    shards[-1] = pl.concat([shards[-1], extra.cast(shards[-1].schema)], how="vertical")
    v2 = write_shards(root / "v2", shards)
    d2 = root / "d2"
    res = winnow("dedup", v2, d2, "-q")
    assert res.code == 0, res.stderr
    return SAMPLE / "shards", v2, d1, d2


def test_diff_of_datasets_finds_added_rows_and_flipped_labels(versions, tmp_path):
    v1, v2, _, _ = versions
    out = tmp_path / "diff"
    res = winnow("diff", v1, v2, "--out", out, "-q")
    assert res.code == 0, res.stderr
    d = load(out / "diff.json")
    m = d["metrics"]
    assert d["kind"] == "diff" and d["old"]["rows_compared"] and d["new"]["rows_compared"]
    assert m["rows.added_by_id"] == 50 and m["rows.removed_by_id"] == 0
    assert m["rows.common_by_id"] == 3610
    assert m["rows.added_by_content"] == 0  # the new rows copy existing texts
    assert m["rows.removed_by_content"] == 0
    assert m["label.changed"] == 40 and m["label.changed_fraction"] == pytest.approx(40 / 3610)
    assert sum(d["label_transitions"].values()) == 40
    assert all(a != b for a, b in (k.split(" -> ") for k in d["label_transitions"]))
    assert m["delta.rows.input"] == 50
    md = (out / "diff.md").read_text()
    assert "| added | 50 | 0 |" in md and "Labels changed on 40 rows" in md


def test_diff_of_dedup_outputs_shows_the_duplicates_and_drift(versions, tmp_path):
    _, _, d1, d2 = versions
    res = winnow("diff", d1, d2, "--json", "-")
    assert res.code == 0, res.stderr
    import json

    d = json.loads(res.stdout)
    m = d["metrics"]
    assert m["delta.stage.dedup.reason.exact_duplicate.rows"] == 50
    assert m["delta.dedup.exact_fraction"] > 0
    assert m["delta.dedup.near_fraction"] < 0  # same near duplicates, larger denominator
    assert m["delta.rows.kept"] == 0 and m["delta.rows.input"] == 50
    # the kept rows are the same rows: no row or length change, only labels moved
    assert m["rows.added_by_id"] == 0 and m["rows.removed_by_id"] == 0
    assert m["label.changed"] == 40
    assert m["drift.length.wasserstein_chars"] == 0 and m["drift.length.psi"] == 0
    assert 0 < m["drift.label.js"] < 0.01 and m["drift.label.psi"] > 0
    assert m["drift.language.js"] is None  # no language signal before the filter stage

    # the diff's metrics are gateable like a report's
    checks = tmp_path / "checks.toml"
    checks.write_text(
        '[[check]]\nmetric = "delta.dedup.exact_fraction"\nmust_be_at_most = 0.001\n'
        '[[check]]\nmetric = "label.changed_fraction"\nmust_be_less_than = 0.05\n'
    )
    (tmp_path / "diff.json").write_text(res.stdout)
    res = winnow("gate", tmp_path / "diff.json", "--checks", checks, "--json", "-")
    assert res.code == 1
    assert [c["status"] for c in json.loads(res.stdout)["checks"]] == ["failed", "passed"]


def test_diff_of_report_files_has_no_row_changes(versions, tmp_path):
    _, _, d1, d2 = versions
    for name, src in (("r1", d1), ("r2", d2)):
        assert winnow("report", src, "--out", tmp_path / name, "-q").code == 0
    out = tmp_path / "d.json"
    res = winnow("diff", tmp_path / "r1/report.json", tmp_path / "r2/report.json", "--json", out)
    assert res.code == 0, res.stderr
    assert "Row-level changes need the data" in res.stdout
    m = load(out)["metrics"]
    assert m["rows.added_by_id"] is None and m["label.changed"] is None
    assert m["delta.stage.dedup.reason.exact_duplicate.rows"] == 50
    # gating a row-level metric of such a diff cannot be evaluated: exit 3
    checks = tmp_path / "c.toml"
    checks.write_text('[[check]]\nmetric = "label.changed"\nmust_be = 0\n')
    assert winnow("gate", out, "--checks", checks, "-q").code == 3
    res = winnow("diff", tmp_path / "r1/report.json", tmp_path / "missing")
    assert res.code == 2 and "missing: does not exist" in res.stderr


def test_effect_sizes():
    p = np.array([0.5, 0.5, 0.0])
    assert js_divergence(p, p) == 0 and psi(p, p) == pytest.approx(0, abs=1e-12)
    assert js_divergence(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(1.0)
    q = np.array([0.4, 0.6, 0.0])
    assert psi(p, q) == pytest.approx(
        (0.6 - 0.5) * np.log(0.6 / 0.5) + (0.4 - 0.5) * np.log(0.8), rel=1e-3
    )
    points = np.array([0.0, 1.0, 2.0, 3.0])
    shifted = wasserstein(points, np.array([1.0, 0, 0, 0]), np.array([0, 0, 1.0, 0]))
    assert shifted == pytest.approx(2.0)
