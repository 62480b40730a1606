"""Every bad input: exit 2, one line on stderr naming the file and the problem, no output left."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.conftest import leftovers, winnow, write_shards


def assert_rejected(res, *fragments: str) -> None:
    assert res.code == 2, (res.code, res.stderr)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("winnow: error: ")
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def clean_fails(tmp_path: Path, src: Path, *fragments: str, extra=()) -> None:
    out = tmp_path / "out"
    assert_rejected(winnow("clean", src, out, *extra), *fragments)
    assert leftovers(tmp_path, "out") == []


def test_input_folder_missing(tmp_path):
    clean_fails(tmp_path, tmp_path / "nope", str(tmp_path / "nope"), "does not exist")


def test_no_parquet_files(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    clean_fails(tmp_path, tmp_path / "empty", "empty", "no Parquet files")


def test_file_that_is_not_parquet(small, tmp_path):
    (small / "part-00009.parquet").write_text("id,text\n1,hello\n")
    clean_fails(tmp_path, small, "part-00009.parquet", "not a readable Parquet file")


def test_truncated_parquet(small, tmp_path):
    shard = small / "part-00000.parquet"
    shard.write_bytes(shard.read_bytes()[:-100])
    clean_fails(tmp_path, small, "part-00000.parquet", "not a readable Parquet file")


def test_text_column_missing(tmp_path):
    src = write_shards(tmp_path / "in", [pl.DataFrame({"id": ["a"], "body": ["x"]})])
    clean_fails(tmp_path, src, "part-00000.parquet", "text column 'text' not found", "body")


def test_text_column_named_but_missing(small, tmp_path):
    clean_fails(tmp_path, small, "'content' not found", extra=("--text-column", "content"))


def test_text_column_not_string(tmp_path):
    src = write_shards(tmp_path / "in", [pl.DataFrame({"id": ["a"], "text": [3]})])
    clean_fails(tmp_path, src, "part-00000.parquet", "text column 'text' must hold strings")


def test_conflicting_schemas(tmp_path):
    src = write_shards(
        tmp_path / "in",
        [
            pl.DataFrame({"id": ["a"], "text": ["x"], "score": [1.0]}),
            pl.DataFrame({"id": ["b"], "text": ["y"], "score": ["high"]}),
        ],
    )
    clean_fails(tmp_path, src, "part-00001.parquet", "schema conflicts", "'score'")


def test_missing_column_in_one_shard(tmp_path):
    src = write_shards(
        tmp_path / "in",
        [
            pl.DataFrame({"id": ["a"], "text": ["x"], "lang": ["en"]}),
            pl.DataFrame({"id": ["b"], "text": ["y"]}),
        ],
    )
    clean_fails(tmp_path, src, "part-00001.parquet", "missing lang")


def test_duplicate_ids_across_shards(tmp_path):
    src = write_shards(
        tmp_path / "in",
        [
            pl.DataFrame({"id": ["a", "b"], "text": ["x", "y"]}),
            pl.DataFrame({"id": ["c", "a"], "text": ["z", "w"]}),
        ],
    )
    clean_fails(tmp_path, src, "duplicate id 'a'", "part-0000")


def test_null_id(tmp_path):
    src = write_shards(tmp_path / "in", [pl.DataFrame({"id": ["a", None], "text": ["x", "y"]})])
    clean_fails(tmp_path, src, "part-00000.parquet", "null at row 1")


def test_unknown_option(small, tmp_path):
    clean_fails(tmp_path, small, "--frobnicate", extra=("--frobnicate",))


def test_unknown_config_key(small, tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[clean]\nnfc = true\nlowercase = true\n")
    clean_fails(tmp_path, small, "cfg.toml", "unknown key 'lowercase'", extra=("--config", cfg))


def test_config_value_of_wrong_type(small, tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[clean]\nnfc = "yes"\n')
    clean_fails(tmp_path, small, "clean.nfc must be bool", extra=("--config", cfg))


def test_config_not_toml(small, tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("[clean\n")
    clean_fails(tmp_path, small, "cfg.toml", "invalid TOML", extra=("--config", cfg))


def test_output_is_input(small, tmp_path):
    before = sorted(p.name for p in small.iterdir())
    assert_rejected(winnow("clean", small, small), "is the input")
    assert sorted(p.name for p in small.iterdir()) == before


def test_output_inside_input(small, tmp_path):
    assert_rejected(winnow("clean", small, small / "out"), "inside it")
    assert not (small / "out").exists()


def test_output_is_a_users_folder(small, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    for extra in ((), ("--force",)):  # --force never overwrites what winnow did not make
        assert_rejected(winnow("clean", small, mine, *extra), "not a winnow output")
        assert (mine / "thesis.tex").read_text() == "precious"
        assert [p.name for p in mine.iterdir()] == ["thesis.tex"]


def test_earlier_output_needs_force(small, tmp_path):
    out = tmp_path / "out"
    assert winnow("clean", small, out).code == 0
    res = winnow("clean", small, out, "--no-nfc")
    assert_rejected(res, "--force")
    res = winnow("clean", small, out, "--no-nfc", "--force")
    assert res.code == 0, res.stderr
    assert '"nfc": false' in (out / "manifest.json").read_text()
    assert leftovers(tmp_path, "out") == [out]


@pytest.mark.parametrize(
    "recipe, fragment",
    [
        ('[input]\npath = "in"\n[[stage]]\nuse = "sharpen"\n', "unknown stage 'sharpen'"),
        ('[input]\npath = "in"\n[[stage]]\nuse = "clean"\nbogus = 1\n', "unknown key 'bogus'"),
        ('[input]\npath = "in"\n[extras]\n[[stage]]\nuse = "clean"\n', "unknown key 'extras'"),
        ('[input]\npath = "in"\n', "no stages"),
        ('[[stage]]\nuse = "clean"\n', "missing [input]"),
    ],
)
def test_bad_recipe(small, tmp_path, recipe, fragment):
    (tmp_path / "in").symlink_to(small)
    path = tmp_path / "recipe.toml"
    path.write_text(recipe)
    assert_rejected(winnow("run", path, "--out", tmp_path / "run"), "recipe.toml", fragment)
    assert not (tmp_path / "run").exists()


def test_version_is_answered_without_a_command():
    from curate import __version__

    r = winnow("--version")
    assert r.code == 0 and r.stdout.strip() == __version__, r
