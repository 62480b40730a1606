"""The statistics behind an ablation's verdict, small enough to check by hand.

- `mean_ci`: mean over seeds with a 95% Student-t interval, and the seed spread (sample std).
- `mcnemar`: exact McNemar test on two classifiers' right/wrong answers to the same items.
- `paired_bootstrap`: difference of mean per-item scores, 95% interval and two-sided p-value,
  resampling held-out items (both arms scored on the same items, so the pairing is kept).
- `verdict`: a difference is called only if it is at least twice the seed spread and the paired
  test finds it (p < 0.05); anything less is noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

ALPHA = 0.05
NOISE_SPREADS = 2.0  # differences below this many seed standard deviations are noise


def mean_ci(values: list[float] | np.ndarray, level: float = 0.95) -> dict:
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    mean = float(v.mean()) if n else math.nan
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    half = float(sps.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "lo": mean - half, "hi": mean + half, "n": n}


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> dict:
    """Exact (binomial) McNemar test: only items where exactly one of the two is right count."""
    a, b = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    p = float(sps.binomtest(min(only_a, only_b), n, 0.5).pvalue) if n else 1.0
    return {"only_a": only_a, "only_b": only_b, "p": p}


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> dict:
    """mean(a) - mean(b) over the same items, with a percentile interval and a two-sided p-value
    (twice the share of resampled differences on the far side of zero)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if len(d) == 0:
        return {"diff": math.nan, "lo": math.nan, "hi": math.nan, "p": 1.0}
    rng = np.random.default_rng(seed)
    boot = np.empty(resamples)
    for lo in range(0, resamples, 200):  # bounded memory: 200 resamples at a time
        k = min(200, resamples - lo)
        boot[lo : lo + k] = d[rng.integers(0, len(d), (k, len(d)))].mean(axis=1)
    tail = (1 - level) / 2
    diff = float(d.mean())
    if np.all(d == 0):
        p = 1.0
    else:
        p = float(min(1.0, 2 * min((boot <= 0).mean(), (boot >= 0).mean())))
        p = max(p, 1.0 / resamples)  # never report exactly 0 from a finite bootstrap
    lo_q, hi_q = np.quantile(boot, [tail, 1 - tail])
    return {"diff": diff, "lo": float(lo_q), "hi": float(hi_q), "p": p}


@dataclass
class Verdict:
    kind: str  # "win", "loss" or "noise" (of the candidate against the reference)
    diff: float  # candidate minus reference, in the metric's units (sign: higher is better)
    spread: float  # the larger seed std of the two arms
    p: float  # paired test p-value
    sentence: str

    def as_dict(self) -> dict:
        return asdict(self)


def verdict(
    candidate: str,
    reference: str,
    cand_values: list[float],
    ref_values: list[float],
    p: float,
    metric: str = "accuracy",
    higher_is_better: bool = True,
) -> Verdict:
    """Candidate vs reference from per-seed metric values and the paired test's p-value."""
    c, r = mean_ci(cand_values), mean_ci(ref_values)
    diff = c["mean"] - r["mean"]
    better = diff if higher_is_better else -diff
    spread = max(c["std"], r["std"])
    scale = 100.0 if metric in ("accuracy", "macro_f1") else 1.0
    unit = " points" if scale == 100.0 else ""
    dp = 2 if scale == 100.0 else 4
    amount = f"{abs(diff) * scale:.{dp}f}{unit} {metric}"
    if abs(diff) <= NOISE_SPREADS * spread:  # (a zero difference is noise, even unspread)
        kind = "noise"
        twice = f"twice the seed spread ({spread * scale:.{dp}f})"
        why = f"the difference ({amount}) is less than {twice}"
    elif p >= ALPHA:
        kind = "noise"
        why = f"the paired test does not find the difference ({amount}, p = {p:.3g})"
    else:
        kind = "win" if better > 0 else "loss"
        why = f"{amount} {'better' if better > 0 else 'worse'} (paired test p = {p:.3g})"
    head = {
        "win": f"{candidate} beats {reference}",
        "loss": f"{reference} beats {candidate}",
        "noise": f"no difference between {candidate} and {reference} beyond noise",
    }[kind]
    return Verdict(kind, diff, spread, p, f"{head}: {why}")


def crossover(sizes: list[int], means: list[float], target: float, higher_is_better: bool = True):
    """The smallest size whose mean reaches `target` (e.g. the full raw arm's), or None."""
    for n, m in sorted(zip(sizes, means, strict=True)):
        if (m >= target) if higher_is_better else (m <= target):
            return n
    return None
