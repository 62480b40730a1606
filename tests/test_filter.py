"""The filter stage: columnar signals agree with the per-document reference, each rule family at
and around its threshold, presets, switches, what-if, pathological rows, the CLI."""

from __future__ import annotations

import json
import time

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.filter import FilterConfig, FilterStage, reference
from curate.filter.heuristics import ngram_signals, text_signals
from curate.filter.rules import RULES
from tests.conftest import ROOT, SAMPLE, read_dir, winnow, write_shards

GLOSSES = ROOT / "curate" / "resources" / "wordnet_glosses.tsv.gz"
SIGNALS = sorted(
    {r.signal for r in RULES}
    - {"filter.language_ok", "filter.quality", "filter.known_word_fraction"}
)


def columnar(texts: list[str | None], max_chars: int = 1_000_000) -> list[dict]:
    df = text_signals(pl.DataFrame({"text": texts}, schema={"text": pl.String}), "text", max_chars)
    for k, v in ngram_signals(df["__t"]).items():
        df = df.with_columns(pl.Series(k, v).fill_nan(None))
    return df.select(SIGNALS).to_dicts()


def assert_agree(texts: list[str | None], max_chars: int = 1_000_000) -> None:
    for text, got in zip(texts, columnar(texts, max_chars), strict=True):
        want = reference.signals(text, max_chars)
        for name in SIGNALS:
            a, b = got[name], want[name]
            if isinstance(b, float) and a is not None:
                assert a == pytest.approx(b, rel=1e-9, abs=1e-12), (name, text)
            else:
                assert a == b, (name, text, a, b)


# letters, digits, punctuation, bullets, ellipses, braces, newlines, spaces: no control
# characters and no combining marks, where Python and Rust regex classes part ways
ALPHABET = [*list("abcAB the and of 09#.…!?'\"{}-*•\n\n\n  :/w"), "é", "ß", "Ω", "日"]
# characters where byte-level counting could slip: multi-byte spaces, a numeric that is not a
# decimal digit (Nl; not No such as '²', which Python's regex \b counts as a word character and
# Rust's does not), letters and symbols beyond the Basic Multilingual Plane
ALPHABET += ["\t", "\r", "\xa0", "\x85", "\u2028", "\u3000", "Ⅻ", "\U0001d538", "😀"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET, max_size=120), min_size=1, max_size=5))
def test_columnar_signals_equal_the_reference(texts):
    assert_agree(texts)


def test_agree_on_real_text():
    glosses = pl.read_csv(GLOSSES, separator="\t", quote_char=None)["text"].head(300).to_list()
    sample = read_dir(SAMPLE / "shards")["text"].to_list()
    assert_agree(glosses + sample + ["\n".join(glosses[:40]), "\n\n".join(glosses[:20]) * 3])


def decide(texts: list[str], **cfg) -> list[str | None]:
    stage = FilterStage(FilterConfig(detect_language=False, **cfg))
    df = stage.signals(pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts}))
    return stage.decide(df).to_list()


PROSE = (
    "The committee said that the plan to build a new bridge over the river would go "
    "ahead with the support of local people and of the council."
)


def only(rule: str, value) -> dict:
    return {"preset": "none", "rules": {rule: value}}


def test_gopher_quality_rules_at_their_thresholds():
    words = lambda n: " ".join(["word"] * n)  # noqa: E731
    assert decide([words(49), words(50)], **only("gopher_short_doc", 50)) == [
        "gopher_short_doc",
        None,
    ]
    assert decide(["aa " * 10, "aaa " * 10], **only("gopher_below_avg_word_length", 3)) == [
        "gopher_below_avg_word_length",
        None,
    ]
    text = "word " * 20
    assert decide([text + "#" * 3, text + "#" * 2], **only("gopher_too_many_hashes", 0.1)) == [
        "gopher_too_many_hashes",
        None,
    ]
    bullets = "\n".join(["• item"] * 9 + ["plain"])
    assert decide([bullets, bullets + "\nplain"], **only("gopher_too_many_bullets", 0.85)) == [
        "gopher_too_many_bullets",
        None,
    ]
    assert decide(["the cat", "the cat and dog"], **only("gopher_few_stop_words", 2)) == [
        "gopher_few_stop_words",
        None,
    ]
    assert decide(["12 34 56 ab", "ab cd ef 12"], **only("gopher_below_alpha_threshold", 0.5)) == [
        "gopher_below_alpha_threshold",
        None,
    ]


def test_repetition_rules():
    assert decide(
        ["same line\nsame line\nsame line\nother", "a\nb\nc\nd"], **only("dup_line_frac", 0.3)
    ) == ["dup_line_frac", None]
    spam = "buy cheap pills now " * 10
    assert decide([spam, PROSE], **only("top_2_gram", 0.2)) == ["top_2_gram", None]
    assert decide([PROSE + " " + PROSE, PROSE], **only("duplicated_5_n_grams", 0.15)) == [
        "duplicated_5_n_grams",
        None,
    ]


def test_c4_and_fineweb_rules():
    assert decide(["Lorem ipsum dolor sit amet.", PROSE], **only("c4_lorem_ipsum", True)) == [
        "c4_lorem_ipsum",
        None,
    ]
    assert decide(["var x = {a: 1};", PROSE], **only("c4_curly_bracket", True)) == [
        "c4_curly_bracket",
        None,
    ]
    nav = "Home\nAbout us\nContact\nPrivacy Policy"
    assert decide([nav, PROSE], **only("fineweb_line_punct_ratio", 0.12)) == [
        "fineweb_line_punct_ratio",
        None,
    ]
    assert decide([nav, PROSE], **only("fineweb_short_line_ratio", 0.67)) == [
        "fineweb_short_line_ratio",
        None,
    ]
    assert decide(["Please enable JavaScript.\nok.", PROSE], **only("c4_javascript", 0.4)) == [
        "c4_javascript",
        None,
    ]


def test_a_disabled_rule_drops_nothing():
    junk = ["Lorem ipsum dolor sit amet.", "#### $$$ %%%", "x"]
    assert (
        decide(
            junk,
            rules={
                r: False for r in (s.reason for s in RULES) if r not in ("language", "low_quality")
            },
        )
        == [None] * 3
    )


def test_presets():
    glosses = pl.read_csv(GLOSSES, separator="\t", quote_char=None)["text"].head(500).to_list()
    kept = sum(r is None for r in decide(glosses, preset="short"))
    assert kept >= 0.97 * len(glosses)
    web = decide(glosses[:50], preset="web")  # glosses are far too short for web documents
    assert sum(r == "gopher_short_doc" for r in web) >= 45


def test_pathological_rows_take_bounded_time():
    rows = [
        "x" * 10_000_000,
        "🙂" * 100_000,
        bytes(range(256)).decode("latin-1") * 4000,
        ("a " * 5_000_000),
        "\n" * 1_000_000,
    ]
    t = time.perf_counter()
    reasons = decide(rows, preset="web")
    assert time.perf_counter() - t < 60
    assert all(r is not None for r in reasons)


def test_filter_cli_on_the_sample_and_what_if(tmp_path):
    out = tmp_path / "f"
    res = winnow(
        "filter",
        SAMPLE / "shards",
        out,
        "--preset",
        "short",
        "--no-detect-language",
        "--json",
        "-q",
    )
    assert res.code == 0, res.stderr
    kept, rejected = read_dir(out / "data"), read_dir(out / "rejected")
    assert kept.height + rejected.height == read_dir(SAMPLE / "shards").height
    # what-if with a changed threshold equals a real re-run with it
    rules = tmp_path / "stricter.toml"
    rules.write_text(
        '[filter]\npreset = "short"\ndetect_language = false\n'
        "[filter.rules]\nchars_non_alnum = 0.1\n"
    )
    wi = winnow("what-if", out, rules, "--json")
    assert wi.code == 0, wi.stderr
    predicted = json.loads(wi.stdout)
    rerun = winnow("filter", SAMPLE / "shards", tmp_path / "g", "--config", rules, "--json", "-q")
    counts = json.loads(rerun.stdout)["stages"][0]
    assert predicted["rows_kept"] == counts["kept"]
    assert {k: v for k, v in predicted["first_failing"].items() if v} == counts["by_reason"]


def test_bad_rules_are_exit_2(tmp_path):
    src = write_shards(tmp_path / "in", [pl.DataFrame({"id": ["a"], "text": [PROSE]})])
    for args, fragment in [
        (("--rule", "gopher_typo=3"), "unknown rule 'gopher_typo'"),
        (("--rule", "c4_lorem_ipsum=0.5"), "true or false"),
        (("--preset", "tweets"), "preset must be one of"),
    ]:
        res = winnow("filter", src, tmp_path / "out", *args)
        assert res.code == 2 and fragment in res.stderr, res.stderr
        assert not (tmp_path / "out").exists()


def test_quality_model_top_fraction_and_pii_counts(tmp_path):
    """quality-train on real text, filter keeps the best-scoring fraction, what-if agrees;
    PII redaction totals land in the manifest."""
    glosses = pl.read_csv(GLOSSES, separator="\t", quote_char=None)["text"]
    good = write_shards(
        tmp_path / "good",
        [pl.DataFrame({"id": [f"g{i}" for i in range(600)], "text": glosses.slice(0, 600)})],
    )
    junk = [
        f"Click here to subscribe {i} | Home | Login | Contact us at x{i}@example.com"
        for i in range(150)
    ]
    mixed = pl.DataFrame(
        {"id": [f"m{i}" for i in range(450)], "text": glosses.slice(1000, 300).to_list() + junk}
    )
    src = write_shards(tmp_path / "in", [mixed[:200], mixed[200:]])
    res = winnow("quality-train", good, src, "--out", tmp_path / "q.npz", "--json")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["auc"] > 0.8
    out = tmp_path / "f"
    res = winnow(
        "filter",
        src,
        out,
        "--preset",
        "none",
        "--no-detect-language",
        "--quality-model",
        tmp_path / "q.npz",
        "--redact-pii",
        "-q",
        "--json",
    )
    assert res.code == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage_info"]["signal_sums"]["filter.pii.email"] == 150
    kept = read_dir(out / "data")
    assert kept.filter(pl.col("text").str.contains("@example.com")).height == 0
    assert kept["filter.quality"].is_between(0, 1).all()
    rules = tmp_path / "top.toml"
    rules.write_text(
        f'[filter]\npreset = "none"\ndetect_language = false\n'
        f'quality_model = "{tmp_path / "q.npz"}"\nquality_top_fraction = 0.6\n'
    )
    predicted = json.loads(winnow("what-if", out, rules, "--json").stdout)
    res = winnow("filter", src, tmp_path / "top", "--config", rules, "-q", "--json")
    assert res.code == 0, res.stderr
    stage = json.loads(res.stdout)["stages"][0]
    assert stage["kept"] == predicted["rows_kept"]
    assert 0.55 * 450 <= stage["kept"] <= 0.65 * 450
    top = read_dir(tmp_path / "top" / "data")
    assert top["id"].str.starts_with("g").sum() == 0  # no training rows leak in
    assert top["id"].str.starts_with("m").sum() == stage["kept"]
    assert top.filter(pl.col("text").str.contains("Click here")).height == 0  # junk is gone


@pytest.mark.parametrize("spec", [r for r in RULES if r.op != "true"], ids=lambda r: r.reason)
def test_every_threshold_rule_fails_exactly_past_its_threshold(spec):
    threshold = 0.3
    values = [threshold - 1e-9, threshold, threshold + 1e-9, None]
    fails = (
        pl.DataFrame({spec.signal: values}, schema={spec.signal: pl.Float64})
        .select(spec.fails(threshold))[spec.signal]
        .to_list()
    )
    expected = {
        "lt": [True, False, False],
        "le": [True, True, False],
        "gt": [False, False, True],
        "ge": [False, True, True],
    }[spec.op]
    assert fails == [*expected, False]  # a missing signal never fails a row


def test_character_counts_follow_python_predicates():
    # numerics that are not decimal digits, spaces beyond ASCII, astral letters and symbols
    assert_agree(
        ["x² ¾ Ⅻ \U0001d538\U0001d539 😀😀 a\u3000b\xa0c", "\u2028\u2029 ² ", "ÄÖÜ ß 12 ٣٤"]
    )


def test_long_tokens_count_as_words():
    # a token of 256 letters: a byte-sized running sum would wrap to zero and lose the word
    assert_agree(["a" * 256 + " b", "x" * 300, "1" * 512 + "\n" + "é" * 256])
