"""The clean stage: what it normalises, what each switch does, what it rejects; invariants."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.clean import CleanConfig, CleanStage
from curate.dataset import derive_ids
from curate.stage import RunOptions, run_stage
from tests.conftest import read_dir, winnow, write_shards


def cleaned(texts: list[str | None], **cfg) -> list[str | None]:
    stage = CleanStage(CleanConfig(**cfg))
    df = pl.DataFrame({"text": texts}, schema={"text": pl.String})
    return stage.signals(df)["text"].to_list()


def test_normalisation_steps():
    assert cleaned(["Cafe\u0301"]) == ["Caf\u00e9"]
    assert cleaned(["a\u200bb\ufeffc\u2060d\u00ade"]) == ["abcde"]
    assert cleaned(["bell\x07 and\x00 nul\x1b"]) == ["bell and nul"]
    assert cleaned(["one\r\ntwo\rthree\u2028four"]) == ["one\ntwo\nthree\nfour"]
    assert cleaned(["  lots \t of\u00a0\u3000space  "]) == ["lots of space"]
    assert cleaned(["para one \n\n\n\n para two"]) == ["para one\n\npara two"]


def test_joiners_kept_by_default_for_emoji_and_scripts():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    assert cleaned([family, persian]) == [family, persian]
    assert cleaned([family], strip_joiners=True) == ["\U0001f468\U0001f469\U0001f467"]


def test_each_switch_turns_its_step_off():
    raw = "Cafe\u0301\u200b \x07 x\r\n"
    assert cleaned([raw], nfc=False)[0].startswith("Cafe\u0301")
    assert "\u200b" in cleaned([raw], strip_zero_width=False)[0]
    assert "\x07" in cleaned([raw], strip_control=False)[0]
    keep_cr = {
        "normalize_newlines": False,
        "strip_control": False,
        "collapse_whitespace": False,
        "strip": False,
    }
    assert "\r" in cleaned([raw], **keep_cr)[0]
    assert "  " in cleaned(["a  b"], collapse_whitespace=False)[0]
    assert cleaned([" a "], strip=False) == [" a "]


def test_signals_and_empty_text(small, tmp_path):
    res = winnow("clean", small, tmp_path / "out", "--json")
    assert res.code == 0, res.stderr
    kept = read_dir(tmp_path / "out" / "data").sort("id")
    rejected = read_dir(tmp_path / "out" / "rejected").sort("id")
    assert kept["id"].to_list() == ["a", "d"]
    assert kept["text"].to_list() == ["Hello world", "Caf\u00e9\nok"]
    assert kept["clean.original_length"].to_list() == [13, 9]
    assert kept["clean.changed"].to_list() == [True, True]
    assert rejected["id"].to_list() == ["b", "c"]
    assert set(rejected["reason"]) == {"empty_text"} and set(rejected["stage"]) == {"clean"}
    assert rejected["clean.original_length"].to_list() == [None, 3]
    assert kept["label"].to_list() == ["x", "y"]


def test_empty_even_without_strip(small, tmp_path):
    res = winnow("clean", small, tmp_path / "out", "--no-strip")
    assert res.code == 0, res.stderr
    assert sorted(read_dir(tmp_path / "out" / "rejected")["id"]) == ["b", "c"]


def test_column_mapping_and_derived_ids(tmp_path):
    src = write_shards(
        tmp_path / "in",
        [
            pl.DataFrame({"body": ["same", "same", "other"], "topic": ["t1", "t2", "t1"]}),
            pl.DataFrame({"body": ["same"], "topic": ["t2"]}),
        ],
    )
    args = ("--text-column", "body", "--label-column", "topic")
    assert winnow("clean", src, tmp_path / "a", *args).code == 0
    assert winnow("clean", src, tmp_path / "b", *args).code == 0
    a, b = read_dir(tmp_path / "a" / "data"), read_dir(tmp_path / "b" / "data")
    assert a.columns[:3] == ["id", "text", "label"]
    assert a["id"].n_unique() == 4  # identical texts still get distinct ids
    assert a["id"].to_list() == b["id"].to_list()  # and the same ones on every run
    assert a["label"].to_list() == ["t1", "t2", "t1", "t2"]


def test_derived_ids_are_stable_values():
    ids = derive_ids(pl.Series(["x", None, "x"]), "part-00000.parquet").to_list()
    assert len(set(ids)) == 3 and all(len(i) == 16 for i in ids)
    assert ids == derive_ids(pl.Series(["x", None, "x"]), "part-00000.parquet").to_list()


texts = st.lists(
    st.one_of(
        st.none(),
        st.text(
            alphabet=st.sampled_from(list("ab \t\n\r\x00\x07\u200b\u200d\u00a0e\u0301\u2028")),
            max_size=12,
        ),
        st.text(max_size=12),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=texts, shards=st.integers(min_value=1, max_value=3))
def test_nothing_lost_and_idempotent(tmp_path_factory, texts, shards):
    tmp = tmp_path_factory.mktemp("prop")
    ids = [f"r{i}" for i in range(len(texts))]
    df = pl.DataFrame({"id": ids, "text": texts}, schema={"id": pl.String, "text": pl.String})
    bounds = [round(k * len(texts) / shards) for k in range(shards + 1)]
    parts = [df[bounds[k] : bounds[k + 1]] for k in range(shards) if bounds[k + 1] > bounds[k]]
    src = write_shards(tmp / "in", parts)
    res = run_stage(CleanStage(), src, tmp / "out", RunOptions())
    kept, rejected = read_dir(tmp / "out" / "data"), read_dir(tmp / "out" / "rejected")
    assert sorted(kept["id"].to_list() + rejected["id"].to_list()) == sorted(ids)
    assert res.counts["kept"] + res.counts["rejected"] == len(texts)
    assert all(t and t.strip() for t in kept["text"].to_list())
    # cleaning what is already clean changes nothing
    again = run_stage(CleanStage(), tmp / "out", tmp / "again", RunOptions())
    assert again.counts["rejected"] == 0
    assert read_dir(tmp / "again" / "data")["text"].to_list() == kept["text"].to_list()
