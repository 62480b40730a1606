"""`winnow run`: a recipe's stages in order, a summary on stdout, unchanged stages skipped."""

from __future__ import annotations

import json

from tests.conftest import SAMPLE, winnow


def sample_recipe(tmp_path, **clean_params) -> str:
    text = (SAMPLE / "recipe.toml").read_text()
    text = text.replace('path = "shards"', f'path = "{SAMPLE / "shards"}"')
    for key, value in clean_params.items():
        text = text.replace(f"{key} = true", f"{key} = {str(value).lower()}")
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
    assert "clean shards" in res.stderr  # progress goes to stderr
    doc = json.loads((run / "run.json").read_text())
    assert doc["status"] == "complete" and doc["stages"] == ["01-clean"]
    assert (run / "01-clean" / "manifest.json").is_file()


def test_rerun_skips_and_config_change_reruns(tmp_path):
    recipe, run = sample_recipe(tmp_path), tmp_path / "run"
    first = json.loads(winnow("run", recipe, "--out", run, "--json", "-q").stdout)
    assert [s["status"] for s in first["stages"]] == ["ran"]
    again = json.loads(winnow("run", recipe, "--out", run, "--json", "-q").stdout)
    assert [s["status"] for s in again["stages"]] == ["skipped"]
    assert again["stages"][0]["kept"] == first["stages"][0]["kept"]
    changed = sample_recipe(tmp_path, nfc=False)
    third = json.loads(winnow("run", changed, "--out", run, "--json", "-q").stdout)
    assert [s["status"] for s in third["stages"]] == ["ran"]
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
    for args in ([], ["clean"], ["run"], ["sample"]):
        res = winnow(*args, "--help")
        assert res.code == 0 and "Example" in res.stdout, args
