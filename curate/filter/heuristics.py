"""Heuristic quality signals for a whole shard at once (Gopher, C4, FineWeb, character stats).

Counting signals are polars string expressions; n-gram repetition signals are numpy over word
hashes (curate.dedup.tokens). Every signal reads at most `max_chars` characters of a row (the
prefix `t`), so a 10 MB line costs what a 1 MB one does. Definitions, exactly (bench/filter.py
holds a per-document Python implementation of the same that must agree on every row):

- lines: `t.split("\\n")`; paragraphs: the runs of non-empty lines of `t.strip()` (what splitting
  on 2+ newlines gives); tokens: `t.split()`; words: tokens with a letter or digit.
- gopher.words: words. gopher.mean_word_length: letters and digits / words. gopher.hash_ratio:
  '#' / words. gopher.ellipsis_ratio: ('...' + '…') / words. gopher.bullet_lines: lines starting
  (after spaces) with one of BULLETS / lines. gopher.ellipsis_lines: lines ending (before spaces)
  with '...' or '…' / lines. gopher.alpha_words: words with a letter / words. gopher.stop_words:
  case-insensitive whole-word matches of STOP_WORDS.
- rep.dup_lines, rep.dup_paragraphs: non-empty lines (paragraphs) equal to an earlier one /
  non-empty lines (paragraphs); rep.dup_line_chars, rep.dup_paragraph_chars: their characters /
  characters of `t`. Blank lines do not count: the Gopher paper splits on runs of newlines, and
  text with blank lines between paragraphs would otherwise be half "duplicate lines".
  rep.top_{2,3,4}gram and rep.dup_{5..10}gram are over word tokens (runs of letters, digits and
  marks) and in UTF-8 bytes: the most frequent n-gram's count x its bytes (tokens + n-1 spaces)
  / bytes of `t`; and the bytes of tokens covered by an n-gram occurrence that repeats an earlier
  one (overlaps counted once) / bytes of `t`.
- c4.lorem_ipsum, c4.curly_bracket: present; c4.javascript_lines, c4.policy_lines,
  c4.boilerplate_lines: lines mentioning them (POLICY, BOILERPLATE phrases) / lines;
  c4.no_terminal_punct_lines: non-empty lines not ending in . ? ! " '
  (or ending in '...') / non-empty lines.
- fineweb.line_punct: non-empty lines ending in . ' " ! ? / non-empty lines;
  fineweb.short_lines: non-empty lines of <= 30 characters / non-empty lines (FineWeb drops
  blank lines first); fineweb.dup_line_chars: characters of non-empty lines equal to an earlier
  one / characters of `t` without newlines; fineweb.newlines_per_token: newlines / tokens.
- chars.*: non-alphanumeric (neither letter, digit nor whitespace), digit, uppercase, whitespace
  and URL characters, each / characters of `t`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.dedup.shingles import mix64
from curate.dedup.tokens import tokenize

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
# bullet, triangular bullet, white bullet, hyphen bullet, bullet operator, circles, squares
BULLETS = "\u2022\u2023\u25e6\u2043\u2219\u25cf\u25cb\u25aa\u25a0*-"
POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
# web-page furniture that no article, gloss or dialog line says (lowercase, matched anywhere)
BOILERPLATE = (
    "all rights reserved",
    "skip to main content",
    "click here",
    "subscribe to our",
    "sign up for our",
    "our newsletter",
    "share this article",
    "follow us on",
    "terms of service",
    "back to top",
    "accept all cookies",
    "log in to",
)
URL = r"(?:https?://|www\.)\S+"
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)

_K = np.uint64(0x9E3779B97F4A7C15)


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den as Float64; null where den is 0 (no rule fails on a null)."""
    return pl.when(den > 0).then(num.cast(pl.Float64) / den).otherwise(None)


def _count(t: pl.Expr, pattern: str, literal: bool = False) -> pl.Expr:
    return t.str.count_matches(pattern, literal=literal).cast(pl.Int64)


def _chars_in(t: pl.Expr, runs: str) -> pl.Expr:
    """Characters of a class: the length lost when its runs are deleted. One regex step per run,
    not per character, which is several times faster on prose than counting single matches."""
    return (t.str.len_chars() - t.str.replace_all(runs, "").str.len_chars()).cast(pl.Int64)


def _repeats(elements: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(elements equal to an earlier one, their characters, all elements) of a list column."""
    again = elements.list.eval(pl.element().is_first_distinct().not_())
    chars = elements.list.eval(
        pl.when(pl.element().is_first_distinct()).then(0).otherwise(pl.element().str.len_chars())
    )
    return (
        again.list.sum().cast(pl.Int64),
        chars.list.sum().cast(pl.Int64),
        elements.list.len().cast(pl.Int64),
    )


def text_signals(df: pl.DataFrame, text: str, max_chars: int) -> pl.DataFrame:
    """All string-expression signals, as new columns of `df` (text column left as is)."""
    t = pl.col("__t")
    df = df.with_columns(pl.col(text).fill_null("").str.slice(0, max_chars).alias("__t"))
    lines = t.str.split("\n")
    n_lines = _count(t, "\n", literal=True) + 1
    n_chars = t.str.len_chars().cast(pl.Int64)
    words = _count(t, r"\S*[\p{L}\p{N}]\S*")
    tokens = _count(t, r"\S+")
    low = t.str.to_lowercase()
    nonempty = lines.list.eval(pl.element().filter(pl.element().str.strip_chars() != ""))
    dup_l, dup_l_chars, n_nonempty = _repeats(nonempty)
    dup_p, dup_p_chars, n_paras = _repeats(
        t.str.strip_chars().str.extract_all(r"[^\n]+(?:\n[^\n]+)*")
    )
    fw_dup_chars = dup_l_chars
    bullet = "[" + "".join("\\" + c if c in "-*" else c for c in BULLETS) + "]"
    return df.with_columns(
        _count(t, r"\S*[\p{L}\p{N}]\S*").alias("filter.gopher.words"),
        _ratio(_chars_in(t, r"[\p{L}\p{N}]+"), words).alias("filter.gopher.mean_word_length"),
        _ratio(_count(t, "#", literal=True), words).alias("filter.gopher.hash_ratio"),
        _ratio(_count(t, "...", literal=True) + _count(t, "…", literal=True), words).alias(
            "filter.gopher.ellipsis_ratio"
        ),
        _ratio(_count(t, rf"(?m)^[^\S\n]*{bullet}"), n_lines).alias("filter.gopher.bullet_lines"),
        _ratio(_count(t, r"(?m)(?:\.\.\.|…)[^\S\n]*$"), n_lines).alias(
            "filter.gopher.ellipsis_lines"
        ),
        _ratio(_count(t, r"\S*\p{L}\S*"), words).alias("filter.gopher.alpha_words"),
        _count(t, r"(?i)\b(?:" + "|".join(STOP_WORDS) + r")\b").alias("filter.gopher.stop_words"),
        _ratio(dup_l, n_nonempty).alias("filter.rep.dup_lines"),
        _ratio(dup_p, n_paras).alias("filter.rep.dup_paragraphs"),
        _ratio(dup_l_chars, n_chars).alias("filter.rep.dup_line_chars"),
        _ratio(dup_p_chars, n_chars).alias("filter.rep.dup_paragraph_chars"),
        low.str.contains("lorem ipsum", literal=True).alias("filter.c4.lorem_ipsum"),
        t.str.contains("{", literal=True).alias("filter.c4.curly_bracket"),
        _ratio(_count(low, r"(?m)^[^\n]*javascript"), n_lines).alias("filter.c4.javascript_lines"),
        _ratio(_count(low, r"(?m)^[^\n]*(?:" + "|".join(POLICY) + ")"), n_lines).alias(
            "filter.c4.policy_lines"
        ),
        _ratio(_count(low, r"(?m)^[^\n]*(?:" + "|".join(BOILERPLATE) + ")"), n_lines).alias(
            "filter.c4.boilerplate_lines"
        ),
        _ratio(
            nonempty.list.eval(
                ~pl.element().str.contains(r"[.?!\"']$") | pl.element().str.ends_with("...")
            ).list.sum(),
            n_nonempty,
        ).alias("filter.c4.no_terminal_punct_lines"),
        _ratio(
            nonempty.list.eval(pl.element().str.contains(r"[.'\"!?]$")).list.sum(), n_nonempty
        ).alias("filter.fineweb.line_punct"),
        _ratio(nonempty.list.eval(pl.element().str.len_chars() <= 30).list.sum(), n_nonempty).alias(
            "filter.fineweb.short_lines"
        ),
        _ratio(fw_dup_chars, n_chars - n_lines + 1).alias("filter.fineweb.dup_line_chars"),
        _ratio(n_lines - 1, tokens).alias("filter.fineweb.newlines_per_token"),
        _ratio(_chars_in(t, r"[^\p{L}\p{N}\s]+"), n_chars).alias("filter.chars.non_alnum"),
        _ratio(_chars_in(t, r"\p{Nd}+"), n_chars).alias("filter.chars.digits"),
        _ratio(_chars_in(t, r"\p{Lu}+"), n_chars).alias("filter.chars.uppercase"),
        _ratio(_chars_in(t, r"\s+"), n_chars).alias("filter.chars.whitespace"),
        _ratio(
            t.str.extract_all(URL).list.eval(pl.element().str.len_chars()).list.sum(), n_chars
        ).alias("filter.chars.urls"),
    )


def ngram_signals(prefix: pl.Series) -> dict[str, np.ndarray]:
    """rep.top_{2,3,4}gram and rep.dup_{5..10}gram for each row of `prefix` (NaN: no bytes)."""
    tok = tokenize(prefix.fill_null(""))
    docs = len(tok.offsets) - 1
    text_bytes = prefix.fill_null("").str.len_bytes().cast(pl.Float64).to_numpy()
    denom = np.where(text_bytes > 0, text_bytes, np.nan)
    doc_of = np.repeat(np.arange(docs, dtype=np.int64), np.diff(tok.offsets))
    len_cs = np.concatenate(([0], np.cumsum(tok.lengths)))
    out: dict[str, np.ndarray] = {}
    for n in (*TOP_NGRAMS, *DUP_NGRAMS):
        m = len(tok.hashes) - n + 1
        name = f"filter.rep.{'top' if n in TOP_NGRAMS else 'dup'}_{n}gram"
        if m <= 0:
            out[name] = np.where(np.isnan(denom), np.nan, 0.0)
            continue
        start = np.arange(m)
        valid = doc_of[:m] == doc_of[n - 1 :]  # the n-gram lies inside one document
        with np.errstate(over="ignore"):
            key = tok.hashes[:m].copy()
            for j in range(1, n):
                key = (key * _K) ^ tok.hashes[j : j + m]
            key = mix64(key ^ (doc_of[:m].astype(np.uint64) * _K))  # per-document identity
        key, start = key[valid], start[valid]
        if n in TOP_NGRAMS:
            nbytes = len_cs[start + n] - len_cs[start] + (n - 1)
            top = (
                pl.DataFrame({"k": key, "doc": doc_of[start], "b": nbytes})
                .group_by("k")
                .agg(pl.len(), pl.first("doc"), pl.first("b"))
                .group_by("doc")
                .agg((pl.col("len") * pl.col("b")).max().alias("v"))
            )
            best = np.zeros(docs)
            best[top["doc"].to_numpy()] = top["v"].to_numpy()
            out[name] = best / denom
        else:
            repeat = ~pl.Series(key).is_first_distinct().to_numpy()
            flag = np.zeros(len(tok.hashes) + 1, dtype=np.int64)
            flag[start[repeat] + 1] = 1  # token i is covered by a repeat starting in [i-n+1, i]
            cs = np.cumsum(flag)
            i = np.arange(len(tok.hashes))
            covered = cs[i + 1] - cs[np.maximum(i - n + 1, 0)] > 0
            dup = np.bincount(doc_of[covered], weights=tok.lengths[covered], minlength=docs)
            out[name] = dup / denom
    return out
