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
- chars.*: non-alphanumeric (neither isalpha, isnumeric nor isspace), digit (isdecimal),
  uppercase (category Lu), whitespace (isspace) and URL characters, each / characters of `t`.
  Letters, numerics and whitespace are Python's str predicates throughout (curate.filter.charstats
  counts them from the UTF-8 bytes), so tokens are exactly `t.split()`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.dedup.shingles import mix64
from curate.dedup.tokens import tokenize
from curate.filter.charstats import char_counts

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


def _lines_with(t: pl.Expr, alternatives: str) -> pl.Expr:
    """Lines containing one of the alternatives. Each match runs to its line's end, so the next
    is on a later line; the regex engine then scans for the phrases, not from every line start."""
    return _count(t, "(?:" + alternatives + ")[^\n]*")


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
    counts = char_counts(df["__t"])
    # intermediates every ratio shares, computed once (eager with_columns does not share them)
    df = df.with_columns(
        *(pl.Series(f"__{k}", v) for k, v in counts.items()),
        (t.str.count_matches("\n", literal=True).cast(pl.Int64) + 1).alias("__lines"),
        t.str.len_chars().cast(pl.Int64).alias("__chars"),
        t.str.to_lowercase().alias("__low"),
        t.str.split("\n")
        .list.eval(pl.element().filter(pl.element().str.strip_chars() != ""))
        .alias("__nonempty"),
        # paragraphs: split on runs of 2+ newlines (collapsed first: a literal split is far
        # cheaper than extracting the runs of lines with a regex)
        t.str.strip_chars()
        .str.replace_all(r"\n{2,}", "\n\n")
        .str.split("\n\n")
        .list.eval(pl.element().filter(pl.element() != ""))
        .alias("__paras"),
    )
    nonempty, low = pl.col("__nonempty"), pl.col("__low")
    n_lines, n_chars, words = pl.col("__lines"), pl.col("__chars"), pl.col("__words")
    dup_l, dup_l_chars, n_nonempty = _repeats(nonempty)
    df = df.with_columns(
        dup_l.alias("__dup_l"), dup_l_chars.alias("__dup_l_chars"), n_nonempty.alias("__n_ne")
    )
    dup_l, dup_l_chars, n_nonempty = pl.col("__dup_l"), pl.col("__dup_l_chars"), pl.col("__n_ne")
    dup_p, dup_p_chars, n_paras = _repeats(pl.col("__paras"))
    bullet = "[" + "".join("\\" + c if c in "-*" else c for c in BULLETS) + "]"
    df = df.with_columns(
        words.alias("filter.gopher.words"),
        _ratio(pl.col("__alnum"), words).alias("filter.gopher.mean_word_length"),
        _ratio(_count(t, "#", literal=True), words).alias("filter.gopher.hash_ratio"),
        _ratio(_count(t, "...", literal=True) + _count(t, "…", literal=True), words).alias(
            "filter.gopher.ellipsis_ratio"
        ),
        _ratio(_count(t, rf"(?m)^[^\S\n]*{bullet}"), n_lines).alias("filter.gopher.bullet_lines"),
        _ratio(_count(t, r"(?m)(?:\.\.\.|…)[^\S\n]*$"), n_lines).alias(
            "filter.gopher.ellipsis_lines"
        ),
        _ratio(pl.col("__alpha_tokens"), words).alias("filter.gopher.alpha_words"),
        _count(t, r"(?i)\b(?:" + "|".join(STOP_WORDS) + r")\b").alias("filter.gopher.stop_words"),
        _ratio(dup_l, n_nonempty).alias("filter.rep.dup_lines"),
        _ratio(dup_p, n_paras).alias("filter.rep.dup_paragraphs"),
        _ratio(dup_l_chars, n_chars).alias("filter.rep.dup_line_chars"),
        _ratio(dup_p_chars, n_chars).alias("filter.rep.dup_paragraph_chars"),
        low.str.contains("lorem ipsum", literal=True).alias("filter.c4.lorem_ipsum"),
        t.str.contains("{", literal=True).alias("filter.c4.curly_bracket"),
        _ratio(_lines_with(low, "javascript"), n_lines).alias("filter.c4.javascript_lines"),
        _ratio(_lines_with(low, "|".join(POLICY)), n_lines).alias("filter.c4.policy_lines"),
        _ratio(_lines_with(low, "|".join(BOILERPLATE)), n_lines).alias(
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
        _ratio(dup_l_chars, n_chars - n_lines + 1).alias("filter.fineweb.dup_line_chars"),
        _ratio(n_lines - 1, pl.col("__tokens")).alias("filter.fineweb.newlines_per_token"),
        _ratio(n_chars - pl.col("__alnum") - pl.col("__space"), n_chars).alias(
            "filter.chars.non_alnum"
        ),
        _ratio(pl.col("__decimal"), n_chars).alias("filter.chars.digits"),
        _ratio(pl.col("__upper"), n_chars).alias("filter.chars.uppercase"),
        _ratio(pl.col("__space"), n_chars).alias("filter.chars.whitespace"),
        _ratio(
            t.str.extract_all(URL).list.eval(pl.element().str.len_chars()).list.sum(), n_chars
        ).alias("filter.chars.urls"),
    )
    return df.drop([c for c in df.columns if c.startswith("__") and c != "__t"])


def ngram_signals(prefix: pl.Series) -> dict[str, np.ndarray]:
    """rep.top_{2,3,4}gram and rep.dup_{5..10}gram for each row of `prefix` (NaN: no bytes).

    An (n+1)-gram can only repeat where its n-gram prefix repeats, so each size looks only at the
    positions whose shorter n-gram occurs more than once in its document: after the 2-grams, a
    few percent of the positions of prose. Other positions hold n-grams seen once (count 1)."""
    tok = tokenize(prefix.fill_null(""))
    docs, n_tok = len(tok.offsets) - 1, len(tok.hashes)
    text_bytes = prefix.fill_null("").str.len_bytes().cast(pl.Float64).to_numpy()
    denom = np.where(text_bytes > 0, text_bytes, np.nan)
    doc_of = np.repeat(np.arange(docs, dtype=np.int64), np.diff(tok.offsets))
    len_cs = np.concatenate(([0], np.cumsum(tok.lengths)))
    doc_mix = doc_of.astype(np.uint64) * _K  # per-document identity of a key
    out: dict[str, np.ndarray] = {}
    pos, raw = np.arange(n_tok), tok.hashes.copy()  # candidate start positions, rolling keys
    for n in range(2, max(DUP_NGRAMS) + 1):
        # candidates whose n-gram lies inside one document
        inside = pos + n - 1 < n_tok
        pos, raw = pos[inside], raw[inside]
        inside = doc_of[pos + n - 1] == doc_of[pos]
        pos, raw = pos[inside], raw[inside]
        with np.errstate(over="ignore"):
            raw = (raw * _K) ^ tok.hashes[pos + n - 1]
            key = pl.Series(mix64(raw ^ doc_mix[pos]))
        repeated = key.is_duplicated().to_numpy()
        if n in TOP_NGRAMS:
            out[f"filter.rep.top_{n}gram"] = (
                _top_ngram(n, pos, key, repeated, tok, doc_of, len_cs) / denom
            )
        elif n in DUP_NGRAMS:
            again = pos[~key.is_first_distinct().to_numpy()]
            # the tokens of every repeating occurrence, overlaps once
            covered = np.unique((again[:, None] + np.arange(n)).ravel())
            dup = np.bincount(doc_of[covered], weights=tok.lengths[covered], minlength=docs)
            out[f"filter.rep.dup_{n}gram"] = dup / denom
        pos, raw = pos[repeated], raw[repeated]
    return out


def _top_ngram(
    n: int,
    pos: np.ndarray,
    key: pl.Series,
    repeated: np.ndarray,
    tok,
    doc_of: np.ndarray,
    len_cs: np.ndarray,
) -> np.ndarray:
    """Per document: max over its n-grams of occurrences x bytes (tokens + n - 1 spaces)."""
    docs = len(tok.offsets) - 1
    best = np.zeros(docs)
    # n-grams seen once count their bytes: the longest of every n-gram inside each document
    m = len(tok.hashes) - n + 1
    if m > 0:
        start = np.arange(m)
        inside = doc_of[start] == doc_of[start + n - 1]
        nbytes = np.where(inside, len_cs[start + n] - len_cs[start] + (n - 1), 0)
        has = np.flatnonzero(np.diff(tok.offsets) >= n)
        best[has] = np.maximum.reduceat(nbytes, tok.offsets[has])
    if repeated.any():
        p = pos[repeated]
        top = (
            pl.DataFrame(
                {
                    "k": key.filter(pl.Series(repeated)),
                    "doc": doc_of[p],
                    "b": len_cs[p + n] - len_cs[p] + (n - 1),
                }
            )
            .group_by("k")
            .agg(pl.len(), pl.first("doc"), pl.first("b"))
            .group_by("doc")
            .agg((pl.col("len") * pl.col("b")).max().alias("v"))
        )
        d = top["doc"].to_numpy()
        best[d] = np.maximum(best[d], top["v"].to_numpy())
    return best
