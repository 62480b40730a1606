"""The heuristic signals again, one document at a time in plain Python.

The oracle for curate.filter.heuristics (tests assert both agree) and the per-document baseline
that bench/filter.py measures against. Definitions: see curate.filter.heuristics.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from curate.filter.heuristics import (
    BOILERPLATE,
    BULLETS,
    DUP_NGRAMS,
    POLICY,
    STOP_WORDS,
    TOP_NGRAMS,
    URL,
)

_BULLET = re.compile(r"[^\S\n]*[" + re.escape(BULLETS) + "]")
_END_ELLIPSIS = re.compile(r"(?:\.\.\.|…)[^\S\n]*$")
_STOP = re.compile(r"(?i)\b(?:" + "|".join(STOP_WORDS) + r")\b")
_TERMINAL = re.compile(r"[.?!\"']$")
# letters, digits and the common combining-mark blocks (Python's \w lacks marks; winnow's
# tokenizer counts every mark: rarer ones, such as Indic vowel signs, are where the two differ)
_WORD_TOKEN = re.compile(
    r"(?:[^\W_]|[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f])+"
)
_URL = re.compile(URL)


def _alnum(c: str) -> bool:
    return c.isalpha() or c.isnumeric()


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _repeats(elements: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    count = chars = 0
    for e in elements:
        if e in seen:
            count += 1
            chars += len(e)
        else:
            seen.add(e)
    return count, chars


def signals(text: str | None, max_chars: int = 1_000_000) -> dict[str, float | int | bool | None]:
    t = (text or "")[:max_chars]
    lines = t.split("\n")
    tokens = t.split()
    words = [w for w in tokens if any(_alnum(c) for c in w)]
    n_chars, n_lines, n_words = len(t), len(lines), len(words)
    paragraphs = [p for p in re.split(r"\n{2,}", t.strip()) if p]
    nonempty = [line for line in lines if line.strip() != ""]
    dup_l, dup_l_chars = _repeats(nonempty)
    dup_p, dup_p_chars = _repeats(paragraphs)
    low = t.lower()
    s: dict[str, float | int | bool | None] = {
        "filter.gopher.words": n_words,
        "filter.gopher.mean_word_length": _ratio(sum(_alnum(c) for c in t), n_words),
        "filter.gopher.hash_ratio": _ratio(t.count("#"), n_words),
        "filter.gopher.ellipsis_ratio": _ratio(t.count("...") + t.count("…"), n_words),
        "filter.gopher.bullet_lines": _ratio(sum(bool(_BULLET.match(x)) for x in lines), n_lines),
        "filter.gopher.ellipsis_lines": _ratio(
            sum(bool(_END_ELLIPSIS.search(x)) for x in lines), n_lines
        ),
        "filter.gopher.alpha_words": _ratio(
            sum(any(c.isalpha() for c in w) for w in tokens), n_words
        ),
        "filter.gopher.stop_words": len(_STOP.findall(t)),
        "filter.rep.dup_lines": _ratio(dup_l, len(nonempty)),
        "filter.rep.dup_paragraphs": _ratio(dup_p, len(paragraphs)),
        "filter.rep.dup_line_chars": _ratio(dup_l_chars, n_chars),
        "filter.rep.dup_paragraph_chars": _ratio(dup_p_chars, n_chars),
        "filter.c4.lorem_ipsum": "lorem ipsum" in low,
        "filter.c4.curly_bracket": "{" in t,
        "filter.c4.javascript_lines": _ratio(
            sum("javascript" in x for x in low.split("\n")), n_lines
        ),
        "filter.c4.policy_lines": _ratio(
            sum(any(p in x for p in POLICY) for x in low.split("\n")), n_lines
        ),
        "filter.c4.boilerplate_lines": _ratio(
            sum(any(p in x for p in BOILERPLATE) for x in low.split("\n")), n_lines
        ),
        "filter.c4.no_terminal_punct_lines": _ratio(
            sum(not _TERMINAL.search(x) or x.endswith("...") for x in nonempty), len(nonempty)
        ),
        "filter.fineweb.line_punct": _ratio(
            sum(x.endswith((".", "'", '"', "!", "?")) for x in nonempty), len(nonempty)
        ),
        "filter.fineweb.short_lines": _ratio(sum(len(x) <= 30 for x in nonempty), len(nonempty)),
        "filter.fineweb.dup_line_chars": _ratio(_repeats(nonempty)[1], len(t.replace("\n", ""))),
        "filter.fineweb.newlines_per_token": _ratio(t.count("\n"), len(tokens)),
        "filter.chars.non_alnum": _ratio(sum(not (_alnum(c) or c.isspace()) for c in t), n_chars),
        "filter.chars.digits": _ratio(sum(c.isdecimal() for c in t), n_chars),
        "filter.chars.uppercase": _ratio(sum(unicodedata.category(c) == "Lu" for c in t), n_chars),
        "filter.chars.whitespace": _ratio(sum(c.isspace() for c in t), n_chars),
        "filter.chars.urls": _ratio(sum(len(u) for u in _URL.findall(t)), n_chars),
    }
    s.update(ngram_signals(t))
    return s


def ngram_signals(t: str) -> dict[str, float | None]:
    tokens = _WORD_TOKEN.findall(t)
    size = [len(x.encode()) for x in tokens]
    total = len(t.encode())
    out: dict[str, float | None] = {}
    for n in TOP_NGRAMS:
        grams = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        best = max(
            (c * (sum(len(w.encode()) for w in g) + n - 1) for g, c in grams.items()), default=0
        )
        out[f"filter.rep.top_{n}gram"] = _ratio(best, total)
    for n in DUP_NGRAMS:
        seen: set[tuple[str, ...]] = set()
        covered = [False] * len(tokens)
        for i in range(len(tokens) - n + 1):
            g = tuple(tokens[i : i + n])
            if g in seen:
                covered[i : i + n] = [True] * n
            else:
                seen.add(g)
        out[f"filter.rep.dup_{n}gram"] = _ratio(
            sum(b for b, c in zip(size, covered, strict=True) if c), total
        )
    return out
