"""Text normalisation for duplicate keys and shingles, as one polars expression."""

from __future__ import annotations

import polars as pl


def normalize_expr(
    expr: pl.Expr,
    lowercase: bool = True,
    punctuation: bool = True,
    digits: bool = False,
    whitespace: bool = True,
) -> pl.Expr:
    """Lowercase; punctuation and symbols to spaces; digit runs to '0'; whitespace collapsed."""
    e = expr.fill_null("")
    if lowercase:
        e = e.str.to_lowercase()
    if punctuation:
        e = e.str.replace_all(r"[\p{P}\p{S}]+", " ")
    if digits:
        e = e.str.replace_all(r"\p{Nd}+", "0")
    if whitespace:
        e = e.str.replace_all(r"\s+", " ").str.strip_chars()
    return e
