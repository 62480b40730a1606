"""The filter's rules: each a named threshold on one signal column, grouped into presets.

A rule fails a row when `signal <op> threshold` holds; a null signal never fails. Rules run in
the order of RULES, and the first failing one is the row's reason. Presets give every rule a
default (None: off); a recipe re-thresholds a rule with a number, or switches it with a bool.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from curate.filter.heuristics import DUP_NGRAMS, TOP_NGRAMS


@dataclass(frozen=True)
class RuleSpec:
    reason: str
    signal: str
    op: str  # lt, le, gt, ge: compare the signal with the threshold; true: a boolean signal

    def fails(self, threshold: float | bool) -> pl.Expr:
        s = pl.col(self.signal)
        if self.op == "true":
            return s.fill_null(False)
        expr = {
            "lt": s < threshold,
            "le": s <= threshold,
            "gt": s > threshold,
            "ge": s >= threshold,
        }[self.op]
        return expr.fill_null(False)


RULES: tuple[RuleSpec, ...] = (
    RuleSpec("language", "filter.language_ok", "true"),
    RuleSpec("few_known_words", "filter.known_word_fraction", "lt"),
    RuleSpec("gopher_short_doc", "filter.gopher.words", "lt"),
    RuleSpec("gopher_long_doc", "filter.gopher.words", "gt"),
    RuleSpec("gopher_below_avg_word_length", "filter.gopher.mean_word_length", "lt"),
    RuleSpec("gopher_above_avg_word_length", "filter.gopher.mean_word_length", "gt"),
    RuleSpec("gopher_too_many_hashes", "filter.gopher.hash_ratio", "gt"),
    RuleSpec("gopher_too_many_ellipsis", "filter.gopher.ellipsis_ratio", "gt"),
    RuleSpec("gopher_too_many_bullets", "filter.gopher.bullet_lines", "gt"),
    RuleSpec("gopher_too_many_end_ellipsis", "filter.gopher.ellipsis_lines", "gt"),
    RuleSpec("gopher_below_alpha_threshold", "filter.gopher.alpha_words", "lt"),
    RuleSpec("gopher_few_stop_words", "filter.gopher.stop_words", "lt"),
    RuleSpec("dup_para_frac", "filter.rep.dup_paragraphs", "gt"),
    RuleSpec("dup_para_char_frac", "filter.rep.dup_paragraph_chars", "gt"),
    RuleSpec("dup_line_frac", "filter.rep.dup_lines", "gt"),
    RuleSpec("dup_line_char_frac", "filter.rep.dup_line_chars", "gt"),
    *(RuleSpec(f"top_{n}_gram", f"filter.rep.top_{n}gram", "gt") for n in TOP_NGRAMS),
    *(RuleSpec(f"duplicated_{n}_n_grams", f"filter.rep.dup_{n}gram", "gt") for n in DUP_NGRAMS),
    RuleSpec("c4_lorem_ipsum", "filter.c4.lorem_ipsum", "true"),
    RuleSpec("c4_curly_bracket", "filter.c4.curly_bracket", "true"),
    RuleSpec("c4_javascript", "filter.c4.javascript_lines", "gt"),
    RuleSpec("c4_policy", "filter.c4.policy_lines", "gt"),
    RuleSpec("boilerplate", "filter.c4.boilerplate_lines", "gt"),
    RuleSpec("c4_no_terminal_punct", "filter.c4.no_terminal_punct_lines", "gt"),
    RuleSpec("fineweb_line_punct_ratio", "filter.fineweb.line_punct", "le"),
    RuleSpec("fineweb_short_line_ratio", "filter.fineweb.short_lines", "ge"),
    RuleSpec("fineweb_char_dup_ratio", "filter.fineweb.dup_line_chars", "ge"),
    RuleSpec("fineweb_list_ratio", "filter.fineweb.newlines_per_token", "gt"),
    RuleSpec("chars_non_alnum", "filter.chars.non_alnum", "gt"),
    RuleSpec("chars_digits", "filter.chars.digits", "gt"),
    RuleSpec("chars_uppercase", "filter.chars.uppercase", "gt"),
    RuleSpec("chars_whitespace", "filter.chars.whitespace", "gt"),
    RuleSpec("chars_urls", "filter.chars.urls", "gt"),
    RuleSpec("low_quality", "filter.quality", "lt"),
)
BY_REASON = {r.reason: r for r in RULES}

# Gopher (Rae et al. 2021, table A1), C4 (Raffel et al. 2020), FineWeb (Penedo et al. 2024).
# C4 drops lines mentioning javascript or cookie policies; winnow keeps text as it is and
# rejects a document only when such lines make up half of it.
WEB = {
    "gopher_short_doc": 50,
    "gopher_long_doc": 100_000,
    "gopher_below_avg_word_length": 3,
    "gopher_above_avg_word_length": 10,
    "gopher_too_many_hashes": 0.1,
    "gopher_too_many_ellipsis": 0.1,
    "gopher_too_many_bullets": 0.9,
    "gopher_too_many_end_ellipsis": 0.3,
    "gopher_below_alpha_threshold": 0.8,
    "gopher_few_stop_words": 2,
    "dup_para_frac": 0.3,
    "dup_para_char_frac": 0.2,
    "dup_line_frac": 0.3,
    "dup_line_char_frac": 0.2,
    "top_2_gram": 0.20,
    "top_3_gram": 0.18,
    "top_4_gram": 0.16,
    "duplicated_5_n_grams": 0.15,
    "duplicated_6_n_grams": 0.14,
    "duplicated_7_n_grams": 0.13,
    "duplicated_8_n_grams": 0.12,
    "duplicated_9_n_grams": 0.11,
    "duplicated_10_n_grams": 0.10,
    "c4_lorem_ipsum": True,
    "c4_curly_bracket": True,
    "c4_javascript": 0.5,
    "c4_policy": 0.5,
    "boilerplate": 0.5,
    "fineweb_line_punct_ratio": 0.12,
    "fineweb_short_line_ratio": 0.67,
    "fineweb_char_dup_ratio": 0.01,
    "fineweb_list_ratio": 0.3,
}
# Short texts (titles, captions, dialog lines, glosses): no length floor, no prose-shape rules,
# no top-n-gram share (in 10 words any 3-gram is 30% of the text); what stays is what junk looks
# like at any length: symbols, no letters, repeated lines and n-grams, boilerplate phrases.
SHORT = {
    "gopher_short_doc": 1,
    "gopher_long_doc": 1_000,
    "gopher_below_avg_word_length": 2,
    "gopher_above_avg_word_length": 15,
    "gopher_too_many_hashes": 0.1,
    "gopher_too_many_ellipsis": 0.3,
    "gopher_below_alpha_threshold": 0.6,
    "dup_line_frac": 0.3,
    "duplicated_5_n_grams": 0.3,
    "c4_lorem_ipsum": True,
    "c4_curly_bracket": True,
    "c4_javascript": 0.5,
    "c4_policy": 0.0,
    "boilerplate": 0.0,
    "chars_non_alnum": 0.25,
    "chars_urls": 0.5,
}
PRESETS: dict[str, dict[str, float | bool]] = {"web": WEB, "short": SHORT, "none": {}}


def resolve(preset: str, overrides: dict[str, float | bool]) -> dict[str, float | bool]:
    """Rule thresholds in force: the preset's, then overrides (a number re-thresholds a rule,
    false switches it off, true switches it on at the web preset's threshold)."""
    active = dict(PRESETS[preset])
    for reason, value in overrides.items():
        if reason not in BY_REASON or reason in ("language", "low_quality"):
            allowed = ", ".join(
                r.reason for r in RULES if r.reason not in ("language", "low_quality")
            )
            raise ValueError(f"unknown rule {reason!r}; rules: {allowed}")
        spec = BY_REASON[reason]
        if value is False:
            active.pop(reason, None)
        elif value is True:
            if spec.op != "true" and reason not in WEB:
                raise ValueError(f"rule {reason!r} has no default threshold: give a number")
            active[reason] = True if spec.op == "true" else WEB[reason]
        elif spec.op == "true":
            raise ValueError(f"rule {reason!r} is on or off: give true or false")
        else:
            active[reason] = value
    return active
