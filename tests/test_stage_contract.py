"""The stage contract (DESIGN.md section 2) on the real sample data: nothing lost, deterministic,
atomic, re-runs skipped, independent of shard and worker count."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.conftest import SAMPLE, leftovers, read_dir, tree_bytes, winnow, write_shards

SHARDS = SAMPLE / "shards"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted clean of the sample data that other tests compare against."""
    out = tmp_path_factory.mktemp("ref") / "clean"
    res = winnow("clean", SHARDS, out, "--json", "--quiet")
    assert res.code == 0, res.stderr
    return out


def test_nothing_lost(reference):
    source = read_dir(SHARDS)
    kept, rejected = read_dir(reference / "data"), read_dir(reference / "rejected")
    assert kept.height + rejected.height == source.height
    assert set(kept["id"]).isdisjoint(set(rejected["id"]))
    assert sorted(kept["id"].to_list() + rejected["id"].to_list()) == sorted(source["id"])
    assert rejected["reason"].null_count() == 0 and set(rejected["stage"]) == {"clean"}
    # input columns travel untouched: labels are the same row for row
    merged = pl.concat([kept, rejected.drop("reason", "stage")]).join(source, on="id")
    assert (merged["label"] == merged["label_right"]).all()
    manifest = json.loads((reference / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["input"] == source.height
    assert counts["kept"] == kept.height and counts["rejected"] == rejected.height
    assert sum(counts["by_reason"].values()) == rejected.height
    assert counts["by_reason"]["empty_text"] > 0  # the sample has empty and null texts


def test_manifest_contract(reference):
    m = json.loads((reference / "manifest.json").read_text())
    for key in (
        "schema_version",
        "stage",
        "winnow_version",
        "config",
        "config_sha256",
        "input",
        "counts",
        "timings",
        "seed",
        "executor",
        "started",
        "finished",
    ):
        assert key in m, key
    assert m["config"]["params"]["nfc"] is True  # resolved config: defaults included
    assert len(m["input"]["shards"]) == len(list(SHARDS.glob("*.parquet")))
    assert all(len(s["sha256"]) == 64 for s in m["input"]["shards"])


def test_rerun_is_byte_identical(reference, tmp_path):
    assert winnow("clean", SHARDS, tmp_path / "again", "-q").code == 0
    assert tree_bytes(tmp_path / "again") == tree_bytes(reference)


def test_unchanged_rerun_is_skipped(tmp_path):
    out = tmp_path / "out"
    assert winnow("clean", SHARDS, out, "-q").code == 0
    manifest = (out / "manifest.json").read_bytes()
    stamp = (out / "data" / "part-00000.parquet").stat().st_mtime_ns
    res = winnow("clean", SHARDS, out, "--json")
    assert res.code == 0
    assert json.loads(res.stdout)["stages"][0]["status"] == "skipped"
    assert "up to date" in res.stderr
    assert (out / "manifest.json").read_bytes() == manifest
    assert (out / "data" / "part-00000.parquet").stat().st_mtime_ns == stamp


def test_changed_input_is_not_mistaken_for_up_to_date(tmp_path):
    src = write_shards(tmp_path / "in", [pl.DataFrame({"id": ["a"], "text": ["one"]})])
    out = tmp_path / "out"
    assert winnow("clean", src, out).code == 0
    write_shards(src, [pl.DataFrame({"id": ["a"], "text": ["two"]})])
    assert winnow("clean", src, out).code == 2  # needs --force: it is not a no-op
    assert winnow("clean", src, out, "--force").code == 0
    assert read_dir(out / "data")["text"].to_list() == ["two"]


def test_workers_give_identical_bytes(reference, tmp_path):
    assert winnow("clean", SHARDS, tmp_path / "w2", "--workers", "2", "-q").code == 0
    assert tree_bytes(tmp_path / "w2") == tree_bytes(reference)


@pytest.mark.parametrize("threads", [False, True])
def test_local_executor_keeps_item_order_and_raises_task_errors(threads):
    from curate.executors import LocalExecutor

    with LocalExecutor(2, threads=threads) as ex:
        assert ex.processes == (1 if threads else 2)
        items = list(range(40))
        assert list(ex.map(_slow_square, items, (0.001,))) == [i * i for i in items]
        with pytest.raises(ValueError, match="item 3"):
            list(ex.map(_fail_on_three, items))


def _slow_square(i: int, pause: float) -> int:
    import time

    time.sleep(pause * (i % 3))  # later items may finish first
    return i * i


def _fail_on_three(i: int) -> int:
    if i == 3:
        raise ValueError("item 3")
    return i


def test_one_shard_or_many_give_the_same_rows(reference, tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    read_dir(SHARDS).write_parquet(one / "all.parquet")
    assert winnow("clean", one, tmp_path / "out", "-q").code == 0
    for part in ("data", "rejected"):
        assert read_dir(tmp_path / "out" / part).equals(read_dir(reference / part))


def test_killed_run_leaves_nothing_that_looks_complete(reference, tmp_path):
    out = tmp_path / "out"
    res = winnow("clean", SHARDS, out, "-q", env={"WINNOW_TEST_KILL_AFTER_SHARDS": "2"})
    assert res.code == -9  # SIGKILL, midway: two of the shards were written
    assert not out.exists()
    # what is left is the resumable work (curate/resume.py) and the dead run's lock file
    assert {p.name for p in leftovers(tmp_path, "out")} <= {".out.partial", ".out.lock"}
    res = winnow("clean", SHARDS, out, "-q")
    assert res.code == 0, res.stderr
    assert tree_bytes(out) == tree_bytes(reference)
    assert leftovers(tmp_path, "out") == [out]  # the dead run's work is reused, then swept


def test_read_shard_decodes_only_the_columns_asked_for(tmp_path):
    """Stages that need the text alone (dedup hashing, scoring, issue features) read id and
    text only: a wide dataset's other columns are never decoded. The columns asked for come
    back under their canonical names, equal to a full read's; derived ids too."""
    from curate.dataset import Columns, Dataset

    wide = pl.DataFrame(
        {"doc": ["a", "b"], "body": ["x y", "z"], "topic": ["t", "u"], "meta": [1, 2]}
    )
    ds = Dataset.open(
        write_shards(tmp_path / "wide", [wide]), Columns(text="body", id="doc", label="topic")
    )
    shard = ds.shards[0]
    full = ds.read_shard(shard)
    assert ds.read_shard(shard, []).columns == ["id", "text"]
    for cols in ([], ["label"], ["meta"], ["label", "meta"]):
        part = ds.read_shard(shard, cols)
        assert part.equals(full.select(part.columns)), cols
    assert ds.read_shard(shard, ["meta"]).columns == ["id", "text", "meta"]
    no_ids = Dataset.open(
        write_shards(tmp_path / "no_ids", [wide.drop("doc")]), Columns(text="body")
    )
    s = no_ids.shards[0]
    assert no_ids.read_shard(s, [])["id"].equals(no_ids.read_shard(s)["id"])
