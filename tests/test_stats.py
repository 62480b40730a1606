"""The verdict logic on synthetic results whose answer is known (train/stats.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from train import stats


def test_clear_win_clear_loss_and_noise():
    ref = [0.80, 0.801, 0.799, 0.80, 0.80]
    better = [0.90, 0.901, 0.899, 0.90, 0.90]
    win = stats.verdict("curated", "raw", better, ref, p=0.001)
    assert win.kind == "win" and win.sentence.startswith("curated beats raw")
    assert win.diff == pytest.approx(0.10)
    loss = stats.verdict("curated", "raw", ref, better, p=0.001)
    assert loss.kind == "loss" and loss.sentence.startswith("raw beats curated")
    # a 0.5-point difference with seeds spread by 1 point: noise, whatever the test says
    wobbly_ref = [0.79, 0.81, 0.80, 0.78, 0.82]
    wobbly = [x + 0.005 for x in wobbly_ref]
    noise = stats.verdict("curated", "raw", wobbly, wobbly_ref, p=0.0001)
    assert noise.kind == "noise" and "twice the seed spread" in noise.sentence
    # a large difference the paired test does not find: noise too
    assert stats.verdict("curated", "raw", better, ref, p=0.2).kind == "noise"


def test_lower_is_better_metrics_flip_the_sign():
    v = stats.verdict("curated", "raw", [1.5, 1.51], [1.9, 1.91], p=0.001, metric="nats_per_char",
                      higher_is_better=False)  # fmt: skip
    assert v.kind == "win"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=2, max_size=6),
    st.floats(-0.5, 0.5),
    st.floats(0, 1),
)
def test_verdict_properties(ref, shift, p):
    cand = [x + shift for x in ref]
    v = stats.verdict("a", "b", cand, ref, p)
    back = stats.verdict("b", "a", ref, cand, p)
    assert {v.kind, back.kind} in ({"noise"}, {"win", "loss"})  # swapping arms swaps the answer
    if abs(v.diff) <= 2 * v.spread or p >= 0.05:
        assert v.kind == "noise"
    else:
        assert v.kind == ("win" if v.diff > 0 else "loss")


def test_paired_bootstrap_and_mcnemar_known_answers():
    rng = np.random.default_rng(0)
    a = (rng.random(1000) < 0.9).astype(float)
    same = stats.paired_bootstrap(a, a)
    assert same["diff"] == 0 and same["p"] == 1.0
    b = a.copy()
    b[:150] = 0  # b is wrong on 150 more items: a clear, paired difference
    d = stats.paired_bootstrap(a, b)
    assert d["diff"] == pytest.approx(a[:150].mean() * 0.15) and d["p"] < 0.01 and d["lo"] > 0
    m = stats.mcnemar(np.ones(10, bool), np.zeros(10, bool))
    assert m == {"only_a": 10, "only_b": 0, "p": pytest.approx(2 * 0.5**10)}
    assert stats.mcnemar(a > 0, a > 0)["p"] == 1.0


def test_mean_ci_and_crossover():
    ci = stats.mean_ci([1.0, 2.0, 3.0])
    assert ci["mean"] == 2.0 and ci["std"] == 1.0
    assert ci["hi"] - ci["mean"] == pytest.approx(4.302653 / 3**0.5, rel=1e-5)  # t(0.975, 2)
    assert stats.mean_ci([0.5])["lo"] == 0.5
    assert stats.crossover([100, 400, 200], [0.7, 0.9, 0.85], target=0.8) == 200
    assert stats.crossover([100, 200], [0.7, 0.75], target=0.8) is None
    assert stats.crossover([100, 200], [2.0, 1.7], target=1.8, higher_is_better=False) == 200
