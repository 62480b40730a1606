"""Mergeable statistics: what one shard adds, the next shard adds to, and memory never grows.

- `Sketch`: quantiles of a numeric column to 1% relative accuracy (the DDSketch idea: counts in
  logarithmic buckets of fixed width, so two sketches merge by adding their counts), with exact
  count, sum, min and max. A fixed range of buckets (1e-9 .. 1e15 in magnitude) keeps it a dense
  numpy array of ~5,600 counters whatever the data.
- `Histogram`: counts over fixed edges (lengths: quarter-octaves), for plots and drift.
- `Counts`: category counts (languages, labels, reasons).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

ALPHA = 0.01  # relative accuracy of a quantile
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
_MIN_IDX = math.floor(math.log(1e-9) / _LOG_GAMMA)
_MAX_IDX = math.ceil(math.log(1e15) / _LOG_GAMMA)
_BINS = _MAX_IDX - _MIN_IDX + 1


def _bucket(magnitudes: np.ndarray) -> np.ndarray:
    idx = np.ceil(np.log(magnitudes) / _LOG_GAMMA).astype(np.int64)
    return np.clip(idx, _MIN_IDX, _MAX_IDX) - _MIN_IDX


@dataclass
class Sketch:
    count: int = 0
    nulls: int = 0
    zeros: int = 0
    total: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf
    pos: np.ndarray = field(default_factory=lambda: np.zeros(_BINS, np.int64))
    neg: np.ndarray = field(default_factory=lambda: np.zeros(_BINS, np.int64))

    def add(self, values: np.ndarray) -> None:
        """Adds a column's values (float; NaN counts as null)."""
        v = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(v)
        self.nulls += int(v.size - finite.sum())
        v = v[finite]
        if v.size == 0:
            return
        self.count += int(v.size)
        self.total += float(v.sum())
        self.lo, self.hi = min(self.lo, float(v.min())), max(self.hi, float(v.max()))
        self.zeros += int((v == 0).sum())
        self.pos += np.bincount(_bucket(v[v > 0]), minlength=_BINS)
        self.neg += np.bincount(_bucket(-v[v < 0]), minlength=_BINS)

    def merge(self, other: Sketch) -> None:
        self.count += other.count
        self.nulls += other.nulls
        self.zeros += other.zeros
        self.total += other.total
        self.lo, self.hi = min(self.lo, other.lo), max(self.hi, other.hi)
        self.pos += other.pos
        self.neg += other.neg

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """The value at rank q * (count - 1), within 1% (exact at q = 0 and q = 1)."""
        if not self.count:
            return None
        if q <= 0:
            return self.lo
        if q >= 1:
            return self.hi
        rank = q * (self.count - 1)
        # ascending order: negatives from the largest magnitude down, zeros, then positives
        seen = 0
        for sign, counts in ((-1, self.neg[::-1]), (0, None), (1, self.pos)):
            if sign == 0:
                seen += self.zeros
                if rank < seen:
                    return 0.0
                continue
            cum = np.cumsum(counts)
            if rank < seen + cum[-1]:
                i = int(np.searchsorted(cum, rank - seen, side="right"))
                idx = (_BINS - 1 - i if sign < 0 else i) + _MIN_IDX
                value = sign * 2 * GAMMA**idx / (GAMMA + 1)
                return min(max(value, self.lo), self.hi)
            seen += int(cum[-1])
        return self.hi


# Length histogram edges: [0, 1), then quarter-octaves 2^(k/4) up to 2^26 (67M characters).
LENGTH_EDGES = [0.0] + [2 ** (k / 4) for k in range(0, 105)]


@dataclass
class Histogram:
    edges: list[float]
    counts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.edges) - 1, np.int64)

    def add(self, values: np.ndarray) -> None:
        v = np.asarray(values, dtype=np.float64)
        idx = np.searchsorted(np.asarray(self.edges), v[np.isfinite(v)], side="right") - 1
        idx = np.clip(idx, 0, len(self.counts) - 1)
        self.counts += np.bincount(idx, minlength=len(self.counts))

    def merge(self, other: Histogram) -> None:
        self.counts += other.counts

    def to_json(self) -> dict:
        return {"edges": [round(e, 4) for e in self.edges], "counts": self.counts.tolist()}


class Counts(dict):
    """Category -> count; `add` takes a polars value_counts frame or a mapping."""

    def add(self, mapping: dict) -> None:
        # value_counts come in hash order: insert in name order, so every sum over the
        # values (floats: entropy) adds in the same order on every run
        for k, v in sorted(mapping.items(), key=lambda kv: str(kv[0])):
            self[k] = self.get(k, 0) + int(v)

    def sorted(self) -> dict:
        """Largest first, ties by name: a stable order for JSON and plots."""
        return dict(sorted(self.items(), key=lambda kv: (-kv[1], str(kv[0]))))
