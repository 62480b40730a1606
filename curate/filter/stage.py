"""`filter`: quality signals on every row, then rules (first failing = reason).

Signals: heuristics (curate.filter.heuristics), language and its score (curate.filter.language),
optionally a trained quality score (curate.filter.classifier) and personal-data redaction
(curate.filter.pii). Thresholds live in rules; `what_if` re-decides from the cached signals.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from curate.dataset import TEXT, Dataset, Shard
from curate.filter import heuristics
from curate.filter.rules import BY_REASON, PRESETS, RULES, resolve
from curate.stage import Rule, Stage, StageContext


@dataclass(frozen=True)
class FilterConfig:
    preset: Literal["web", "short", "none"] = "web"
    """Default thresholds: web (Gopher, C4, FineWeb as published), short (titles, dialog
    lines, glosses), none (no heuristic rule; signals still computed)."""
    rules: dict[str, float | bool] = field(default_factory=dict)
    """Per-rule overrides: a number re-thresholds, false switches off, true switches on."""
    max_chars: int = 1_000_000
    """Signals read at most this many characters of a row: bounded time on pathological rows."""
    languages: list[str] = field(default_factory=list)
    """Allowed languages (ISO 639-1, e.g. ["en"]); empty: any language (reason language)."""
    min_language_score: float = 0.5
    """A row in an allowed language must be detected with at least this confidence."""
    detect_language: bool = True
    """Compute filter.language and filter.language_score (needed when languages is set)."""
    known_words: bool = False
    """Also compute filter.known_word_fraction: the share of a row's words among the ~30k
    commonest of its detected language (wordfreq); signal only, re-threshold with a rule."""
    quality_model: str = ""
    """A saved quality classifier (winnow filter-train); scores go to filter.quality."""
    min_quality: float = 0.0
    """Rows scoring below this are rejected (reason low_quality); 0 keeps all. A model trained
    against a sample of this very input scores its own good rows low (they were its "other"
    class): prefer quality_top_fraction then."""
    quality_top_fraction: float = 0.0
    """Keep the best-scoring fraction of the input (e.g. 0.8; 0: off), as DCLM does: the cutoff
    is the dataset-wide quantile, recorded in the manifest."""
    redact_pii: bool = False
    """Replace e-mail addresses, IP addresses and phone numbers by placeholders."""

    def validate(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}")
        resolve(self.preset, self.rules)
        if self.max_chars < 1:
            raise ValueError("max_chars must be >= 1")
        if (self.languages or self.known_words) and not self.detect_language:
            raise ValueError("languages and known_words need detect_language = true")
        if not 0 <= self.min_language_score <= 1 or not 0 <= self.min_quality <= 1:
            raise ValueError("min_language_score and min_quality must be in [0, 1]")
        if (self.min_quality > 0 or self.quality_top_fraction > 0) and not self.quality_model:
            raise ValueError("min_quality and quality_top_fraction need quality_model")
        if not 0 <= self.quality_top_fraction <= 1:
            raise ValueError("quality_top_fraction must be in [0, 1]")
        if self.min_quality > 0 and self.quality_top_fraction > 0:
            raise ValueError("give min_quality or quality_top_fraction, not both")

    def thresholds(self) -> dict[str, float | bool]:
        active = resolve(self.preset, self.rules)
        if self.languages:
            active["language"] = True
        if self.min_quality > 0:
            active["low_quality"] = self.min_quality
        return active


class FilterStage(Stage):
    name = "filter"
    config_class = FilterConfig

    def __init__(self, config: FilterConfig | None = None):
        super().__init__(config)
        self._scores: Path | None = None  # per-shard quality scores, made by prepare
        self._cutoff: float | None = None

    def prepare(self, dataset: Dataset, ctx: StageContext) -> None:
        cfg: FilterConfig = self.config
        if not cfg.quality_model:
            return
        _model(cfg.quality_model)  # a bad model file fails here, before any shard is read
        self._scores = ctx.workdir / "quality"
        self._scores.mkdir(exist_ok=True)
        scores = ctx.map(_score_shard, dataset.shards, dataset, cfg.quality_model, self._scores)
        if cfg.quality_top_fraction > 0:
            self._cutoff = _top_fraction_cutoff(np.concatenate(scores), cfg.quality_top_fraction)

    def signals(self, df: pl.DataFrame, shard: Shard | None = None) -> pl.DataFrame:
        cfg: FilterConfig = self.config
        if cfg.redact_pii:
            from curate.filter.pii import count_exprs, redact_expr

            df = df.with_columns(*count_exprs(TEXT)).with_columns(redact_expr(TEXT).alias(TEXT))
        df = df.with_columns(
            pl.col(TEXT).str.len_chars().fill_null(0).cast(pl.Int64).alias("filter.chars")
        )
        df = heuristics.text_signals(df, TEXT, cfg.max_chars)
        ngrams = heuristics.ngram_signals(df["__t"])
        df = df.with_columns(pl.Series(k, v).fill_nan(None) for k, v in ngrams.items())
        if cfg.detect_language:
            from curate.filter.language import detect_language

            df = pl.concat([df, detect_language(df["__t"])], how="horizontal")
            df = df.with_columns(language_fails(cfg))
            if cfg.known_words:
                from curate.filter.language import known_word_fraction

                df = df.with_columns(known_word_fraction(df["__t"], df["filter.language"]))
        if self._scores is not None and shard is not None:
            scores = np.load(self._scores / f"{shard.index:05d}.npy")
            df = df.with_columns(pl.Series("filter.quality", scores))
        return df.drop("__t")

    def rules(self) -> list[Rule]:
        active = self.thresholds()
        return [
            Rule(spec.reason, spec.fails(active[spec.reason]))
            for spec in RULES
            if spec.reason in active
        ]

    def thresholds(self) -> dict[str, float | bool]:
        active = self.config.thresholds()
        if self._cutoff is not None:
            active["low_quality"] = self._cutoff
        return active

    def manifest_extra(self) -> dict:
        return {"thresholds": self.thresholds()}

    def summed_signals(self) -> list[str]:
        if not self.config.redact_pii:
            return []
        from curate.filter.pii import PII_KINDS

        return [f"filter.pii.{k}" for k in PII_KINDS]


@functools.cache
def _model(path: str):
    from curate.filter.classifier import QualityClassifier

    return QualityClassifier.load(path)


def _score_shard(shard: Shard, dataset: Dataset, model_path: str, folder: Path) -> np.ndarray:
    scores = _model(model_path).score(dataset.read_shard(shard, [TEXT])[TEXT])
    np.save(folder / f"{shard.index:05d}.npy", scores)
    return scores


def _top_fraction_cutoff(scores: np.ndarray, fraction: float) -> float:
    """The score at or above which `fraction` of the rows lie (the lower empirical quantile)."""
    if len(scores) == 0:
        return 0.0
    return float(np.quantile(scores, 1 - fraction, method="lower"))


def language_fails(cfg: FilterConfig) -> pl.Expr:
    """filter.language_ok, named for the rule it feeds: true where the row fails the allowlist."""
    if not cfg.languages:
        return pl.lit(False).alias("filter.language_ok")
    allowed = pl.col("filter.language").is_in(cfg.languages) & (
        pl.col("filter.language_score") >= cfg.min_language_score
    )
    return (~allowed.fill_null(False)).alias("filter.language_ok")


def what_if(frame: pl.DataFrame, cfg: FilterConfig) -> dict:
    """Decisions under another config's thresholds, from the signals a filter output holds."""
    thresholds = cfg.thresholds()
    if cfg.quality_top_fraction > 0:  # the same dataset-wide quantile the stage computed
        if "filter.quality" not in frame.columns:
            raise ValueError("signals not in this output: filter.quality")
        thresholds["low_quality"] = _top_fraction_cutoff(
            frame["filter.quality"].to_numpy(), cfg.quality_top_fraction
        )
    if cfg.languages:
        if "filter.language" not in frame.columns:
            raise ValueError("signals not in this output: filter.language")
        frame = frame.with_columns(language_fails(cfg))
    specs = [s for s in RULES if s.reason in thresholds]
    missing = sorted({s.signal for s in specs} - set(frame.columns))
    if missing:
        raise ValueError(f"signals not in this output: {', '.join(missing)}")
    fails = frame.select(*(s.fails(thresholds[s.reason]).alias(s.reason) for s in specs))
    first = pl.lit(None, dtype=pl.String)
    for s in reversed(specs):
        first = pl.when(pl.col(s.reason)).then(pl.lit(s.reason)).otherwise(first)
    decided = fails.with_columns(first.alias("__reason"), frame["filter.chars"].alias("__chars"))
    kept = decided.filter(pl.col("__reason").is_null())
    names = [s.reason for s in specs]
    overlaps = {
        a: {
            b: int((fails[a] & fails[b]).sum())
            for b in names
            if b != a and (fails[a] & fails[b]).any()
        }
        for a in names
    }
    return {
        "thresholds": thresholds,
        "rows": frame.height,
        "rows_kept": kept.height,
        "chars": int(decided["__chars"].sum()),
        "chars_kept": int(kept["__chars"].sum()),
        "first_failing": {n: int((decided["__reason"] == n).sum()) for n in names},
        "failing": {n: int(fails[n].sum()) for n in names},
        "overlaps": {a: o for a, o in overlaps.items() if o},
    }


__all__ = ["BY_REASON", "FilterConfig", "FilterStage", "what_if"]
