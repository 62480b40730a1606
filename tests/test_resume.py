"""Resilience on the sample recipe: a run killed (SIGKILL) at several points and started again
ends byte-identical to an uninterrupted run and redoes only unfinished work; two runs in one
folder at once: the second exits 2; a config change redoes that stage and what depends on it;
`--workers 2` gives the same bytes as `--workers 1` for every stage. The sample recipe keeps
these runs short; each run after a kill does only what the kill left undone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import WINNOW, winnow
from tests.test_recipe import sample_recipe as _sample_recipe

STAGES = ["01-clean", "02-dedup", "03-filter", "04-label"]


def sample_recipe(tmp_path, **params):
    """The sample recipe's stages only: the report and gate after them are not under test here."""
    path = _sample_recipe(tmp_path, **params)
    text = path.read_text()
    cuts = [i for i in (text.find("\n[report]"), text.find("\n[gate]")) if i >= 0]
    path.write_text(text[: min(cuts)] + "\n" if cuts else text)
    return path


def run_bytes(run) -> dict[str, bytes]:
    """Every shard file of every stage of a run, by relative path."""
    return {
        str(p.relative_to(run)): p.read_bytes()
        for stage in STAGES
        for part in ("data", "rejected")
        for p in sorted((run / stage / part).glob("*.parquet"))
    }


def manifest(run, stage) -> dict:
    return json.loads((run / stage / "manifest.json").read_text())


def statuses(res) -> list[str]:
    assert res.code == 0, res.stderr
    return [s["status"] for s in json.loads(res.stdout)["stages"]]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return sample_recipe(tmp_path_factory.mktemp("recipe"))


@pytest.fixture(scope="module")
def reference(recipe, tmp_path_factory):
    """One uninterrupted run of the sample recipe on one worker."""
    run = tmp_path_factory.mktemp("ref") / "run"
    assert statuses(winnow("run", recipe, "--out", run, "--json", "-q")) == ["ran"] * 4
    return run


def test_two_workers_give_the_same_bytes_for_every_stage(recipe, reference, tmp_path):
    run = tmp_path / "run"
    res = winnow("run", recipe, "--out", run, "--workers", "2", "--json", "-q")
    assert statuses(res) == ["ran"] * 4
    assert run_bytes(run) == run_bytes(reference)
    assert manifest(run, "02-dedup")["executor"] == {"name": "local", "workers": 2}


def test_killed_at_several_points_then_resumed_and_config_changes(recipe, reference, tmp_path):
    run = tmp_path / "run"
    kills = [  # inside dedup's global pass; midway through filter's shards; after label's pass
        {"WINNOW_TEST_KILL_STAGE": "dedup", "WINNOW_TEST_KILL_AFTER_TASKS": "2"},
        {"WINNOW_TEST_KILL_STAGE": "filter", "WINNOW_TEST_KILL_AFTER_SHARDS": "2"},
        {"WINNOW_TEST_KILL_STAGE": "label", "WINNOW_TEST_KILL_PREPARED": "1"},
    ]
    for env in kills:
        res = winnow("run", recipe, "--out", run, "-q", env=env)
        assert res.code == -signal.SIGKILL, res.stderr
    # what each kill left: finished stages in place, the interrupted one's work beside them
    assert (run / "03-filter" / "manifest.json").is_file()
    assert not (run / "04-label").exists() and (run / ".04-label.partial" / "prepared.pkl").exists()
    res = winnow("run", recipe, "--out", run, "--json", "-q")
    assert statuses(res) == ["skipped", "skipped", "skipped", "ran"]
    assert run_bytes(run) == run_bytes(reference)
    # only unfinished work was redone: filter reused its 2 shards, label its global pass
    assert manifest(run, "03-filter")["resumed"] == {"prepare": True, "shards": 2}
    assert manifest(run, "04-label")["resumed"] == {"prepare": True, "shards": 0}
    assert manifest(run, "02-dedup")["resumed"]["prepare"] is False
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]
    assert not [p for p in run.parent.iterdir() if p.name.startswith(".run.")]

    # a config change: interrupted work made with another config is discarded, never reused
    changed = sample_recipe(tmp_path, min_language_score=("0.3", "0.6"))
    env = {"WINNOW_TEST_KILL_STAGE": "filter", "WINNOW_TEST_KILL_AFTER_SHARDS": "1"}
    assert winnow("run", changed, "--out", run, "-q", env=env).code == -signal.SIGKILL
    assert statuses(winnow("run", recipe, "--out", run, "--json", "-q")) == ["skipped"] * 4
    assert not (run / ".03-filter.partial").exists()
    assert run_bytes(run) == run_bytes(reference)
    # a filter change: clean and dedup stay, filter and label (its input changed) re-run
    res = winnow("run", changed, "--out", run, "--json", "-q")
    assert statuses(res) == ["skipped", "skipped", "ran", "ran"]
    assert manifest(run, "03-filter")["config"]["params"]["min_language_score"] == 0.6
    assert manifest(run, "03-filter")["resumed"] == {"prepare": False, "shards": 0}
    # a label-only change re-runs label alone
    label_only = sample_recipe(tmp_path, min_language_score=("0.3", "0.6"), folds=("5", "4"))
    res = winnow("run", label_only, "--out", run, "--json", "-q")
    assert statuses(res) == ["skipped", "skipped", "skipped", "ran"]


def test_second_run_in_the_same_folder_exits_2_and_the_first_finishes(recipe, reference, tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen(
        [str(WINNOW), "run", str(recipe), "--out", str(run), "-q"],
        env={
            **os.environ,
            "WINNOW_TEST_KILL_STAGE": "dedup",
            "WINNOW_TEST_KILL_AFTER_SHARDS": "1",
            "WINNOW_TEST_HOOK_PAUSE": "1",  # the first run stops there, holding its locks
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while not list((run / ".02-dedup.partial" / "done").glob("*.json")):
            assert first.poll() is None and time.time() < deadline
            time.sleep(0.2)
        before = run_bytes(run)
        second = winnow("run", recipe, "--out", run, "-q")
        assert second.code == 2
        assert "another winnow process" in second.stderr and str(first.pid) in second.stderr
        assert first.poll() is None and run_bytes(run) == before  # the first is untouched
        # a single stage into the run's stage folder is refused the same way
        clean = winnow("clean", run / "01-clean", run / "02-dedup", "--force", "-q")
        assert clean.code == 2 and "another winnow process" in clean.stderr
    finally:
        first.kill()  # SIGKILL: the lock goes with the process
        first.wait()
    res = winnow("run", recipe, "--out", run, "--json", "-q")
    assert statuses(res) == ["skipped", "ran", "ran", "ran"]
    assert manifest(run, "02-dedup")["resumed"] == {"prepare": True, "shards": 1}
    assert run_bytes(run) == run_bytes(reference)
