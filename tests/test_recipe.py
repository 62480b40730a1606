"""`winnow run`: a recipe's stages in order, a summary on stdout, unchanged stages skipped."""

from __future__ import annotations

import json

from tests.conftest import SAMPLE, winnow


def sample_recipe(tmp_path, **params) -> str:
    """The sample recipe with absolute paths and some parameters changed (first match wins)."""
    text = (SAMPLE / "recipe.toml").read_text()
    text = text.replace('path = "shards"', f'path = "{SAMPLE / "shards"}"')
    text = text.replace('truth = "truth.csv"', f'truth = "{SAMPLE / "truth.csv"}"')
    text = text.replace('checks = "checks.toml"', f'checks = "{SAMPLE / "checks.toml"}"')
    for key, (old, new) in params.items():
        text = text.replace(f"\n{key} = {old}", f"\n{key} = {new}", 1)
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


def test_sample_recipe_runs_end_to_end(tmp_path):
    run = tmp_path / "run"
    res = winnow("run", SAMPLE / "recipe.toml", "--out", run)
    assert res.code == 0, res.stderr
    for header in ("stage", "rows in", "kept", "rejected", "by reason"):
        assert header in res.stdout
    assert "01-clean" in res.stdout and "empty_text=" in res.stdout
    assert "02-dedup" in res.stdout and "near_duplicate=" in res.stdout
    assert "clean shards" in res.stderr  # progress goes to stderr
    doc = json.loads((run / "run.json").read_text())
    assert doc["status"] == "complete" and doc["stages"] == [
        "01-clean",
        "02-dedup",
        "03-filter",
        "04-label",
    ]
    assert (run / "02-dedup" / "manifest.json").is_file()
    # the demo says how much injected noise each stage caught, from the truth file
    assert "against the truth file" in res.stdout
    score = {r["noise"]: r for r in doc["truth"]["by_noise"]}
    assert score["exact_duplicate"]["pairs_resolved"] >= 0.95 * score["exact_duplicate"]["rows"]
    assert score["near_duplicate"]["pairs_resolved"] >= 0.9 * score["near_duplicate"]["rows"]
    assert score["empty"]["rejected"] == score["empty"]["rows"]
    assert score["null"]["rejected"] == score["null"]["rows"]
    assert score["junk"]["rejected"] >= 0.95 * score["junk"]["rows"]
    # the label stage flags most flipped labels that survive to it
    flipped = score["flipped_label"]
    assert flipped["label_issues"] >= 0.7 * (flipped["rows"] - flipped["rejected"])
    assert score["other_language"]["rejected"] >= 0.95 * score["other_language"]["rows"]
    clean_lost = score["none"]["rejected"] - score["none"]["rejected_sources"]
    assert clean_lost <= 0.01 * score["none"]["rows"]


def test_rerun_skips_and_config_change_reruns(tmp_path):
    recipe, run = sample_recipe(tmp_path), tmp_path / "run"
    first = json.loads(winnow("run", recipe, "--out", run, "--json", "-q").stdout)
    assert [s["status"] for s in first["stages"]] == ["ran"] * 4
    again = json.loads(winnow("run", recipe, "--out", run, "--json", "-q").stdout)
    assert [s["status"] for s in again["stages"]] == ["skipped"] * 4
    assert again["stages"][1]["kept"] == first["stages"][1]["kept"]
    # a change to dedup only: clean stays, dedup re-runs
    changed = sample_recipe(tmp_path, threshold=("0.8", "0.9"))
    third = json.loads(winnow("run", changed, "--out", run, "--json", "-q").stdout)
    assert [s["status"] for s in third["stages"]] == ["skipped", "ran", "ran", "ran"]
    # a change to clean that changes its output: both re-run
    changed = sample_recipe(tmp_path, threshold=("0.8", "0.9"), nfc=("true", "false"))
    fourth = json.loads(winnow("run", changed, "--out", run, "--json", "-q").stdout)
    assert [s["status"] for s in fourth["stages"]] == ["ran"] * 4
    manifest = json.loads((run / "01-clean" / "manifest.json").read_text())
    assert manifest["config"]["params"]["nfc"] is False


def test_run_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.md").write_text("mine")
    res = winnow("run", sample_recipe(tmp_path), "--out", tmp_path / "run")
    assert res.code == 2 and "not a winnow run" in res.stderr
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["notes.md"]


def test_missing_input_in_recipe(tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('[input]\npath = "nowhere"\n[[stage]]\nuse = "clean"\n')
    res = winnow("run", recipe, "--out", tmp_path / "run")
    assert res.code == 2 and "nowhere" in res.stderr and "does not exist" in res.stderr
    assert not (tmp_path / "run").exists()


def test_every_help_shows_an_example():
    for args in (
        [],
        ["clean"],
        ["dedup"],
        ["filter"],
        ["what-if"],
        ["quality-train"],
        ["run"],
        ["sample"],
    ):
        res = winnow(*args, "--help")
        assert res.code == 0 and "Example" in res.stdout, args
