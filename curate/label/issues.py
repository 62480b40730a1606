"""Model-assisted labeling and label-error detection for the `label` stage.

- Features: hashed word 1-2 grams (sklearn's stateless `HashingVectorizer`, as the quality
  classifier in `curate.filter.classifier`), so nothing is fitted or saved to featurise a row.
- Model: multinomial logistic regression (lbfgs): deterministic, no random state involved, and
  its probabilities are good enough for confident learning (calibration matters little there:
  cleanlab compares each row to per-class average confidences, not to 0.5).
- Label errors: out-of-fold probabilities (every row scored by a model that never saw it nor
  any row of its group, e.g. its `dedup.cluster`), then confident learning (cleanlab's
  `find_label_issues`, prune by noise rate) flags rows whose given label the other folds
  contradict.
- Assist: the same model fitted on every labeled row predicts the unlabeled ones with a
  confidence (the max probability); the stage applies `--min-confidence`.

Class ids are ints 0..n_classes-1 (`encode_labels` maps strings, in sorted order); the
probability columns follow them. Policies (flag, drop, relabel) and the class-loss guard are the
stage's; `fold_report` and `class_losses` give it what it needs to decide.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

# Rows are l2-normalised, so each feature value is small: sklearn's C=1 over-regularises and
# lets frequent unigrams drown everything else (see bench/label_issues.py for the sweep).
DEFAULT_C = 16.0
MAX_ITER = 1000
# Texts are hashed in batches: bounds the intermediate lists of a large input.
BATCH = 4096


def text_features(
    texts: pl.Series, n_features: int = 2**20, max_chars: int = 10_000
) -> sp.csr_matrix:
    """Hashed word 1-2 grams of each text (lowercased, counts, l2-normalised rows).

    Nulls count as "" (an all-zero row: the model falls back to its intercept, i.e. the class
    prior); texts are cut to `max_chars` first so one huge row costs bounded time.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    vec = HashingVectorizer(
        n_features=n_features,
        ngram_range=(1, 2),
        lowercase=True,
        alternate_sign=False,
        norm="l2",
        dtype=np.float64,
    )
    s = texts.cast(pl.String).fill_null("").str.slice(0, max_chars)
    parts = [vec.transform(s.slice(i, BATCH).to_list()) for i in range(0, len(s), BATCH)]
    if not parts:
        return sp.csr_matrix((0, n_features), dtype=np.float64)
    return sp.vstack(parts, format="csr")


def encode_labels(labels: pl.Series) -> tuple[np.ndarray, list[str]]:
    """Class ids (int64, sorted class names; null -> -1) and the class names."""
    s = labels.cast(pl.String)
    classes = sorted(s.drop_nulls().unique().to_list())
    index = {c: i for i, c in enumerate(classes)}
    ids = s.replace_strict(index, default=-1, return_dtype=pl.Int64).to_numpy()
    return ids, classes


# ---- folds ------------------------------------------------------------------------------------


def fold_report(
    labels: np.ndarray, groups: np.ndarray | None, folds: int = 5, seed: int = 0
) -> dict[str, Any]:
    """How the rows split into `folds` folds, and which classes are too small for them.

    A class with fewer rows (or, grouped, fewer groups) than folds cannot appear on the
    training side of every fold: its rows still get probabilities, but some from a model that
    never saw the class (0 for it), so confident learning would flag them all. They are
    reported here (`too_few`), never dropped; the caller decides (fail, or exempt them).

    `assignment` is the fold of every row (None when no split is possible, `problem` says why);
    a group never straddles two folds. Everything but `assignment` is JSON-ready.
    """
    labels = _check_labels(labels)
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    n_classes = int(labels.max()) + 1 if len(labels) else 0
    rows = np.bincount(labels, minlength=n_classes)
    if groups is None:
        group_ids = np.arange(len(labels))
    else:
        if len(groups) != len(labels):
            raise ValueError(f"groups has {len(groups)} rows, labels {len(labels)}")
        group_ids = np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
    n_groups = int(group_ids.max()) + 1 if len(group_ids) else 0
    # groups per class: distinct (group, class) pairs, counted by class
    pairs = np.unique(group_ids.astype(np.int64) * max(n_classes, 1) + labels)
    class_groups = np.bincount(pairs % max(n_classes, 1), minlength=n_classes)
    present = np.flatnonzero(rows)
    too_few = [int(c) for c in present if rows[c] < folds or class_groups[c] < folds]
    mixed = _mixed_groups(labels, group_ids, n_groups)

    problem = None
    if n_groups < folds:
        problem = f"{n_groups} rows/groups cannot fill {folds} folds"
    elif len(present) < 2:
        problem = f"need at least 2 classes, got {len(present)}"
    elif all(class_groups[c] < folds for c in present):
        problem = f"every class has fewer than {folds} rows/groups"
    grouped = groups is not None
    assignment = None if problem else _assign_folds(labels, group_ids, grouped, folds, seed)
    fold_rows = None if assignment is None else np.bincount(assignment, minlength=folds).tolist()
    return {
        "folds": folds,
        "seed": seed,
        "grouped": grouped,
        "rows": len(labels),
        "groups": n_groups,
        "mixed_label_groups": mixed,
        "class_rows": {int(c): int(rows[c]) for c in present},
        "class_groups": {int(c): int(class_groups[c]) for c in present},
        "too_few": too_few,
        "fold_rows": fold_rows,
        "problem": problem,
        "assignment": assignment,
    }


def _assign_folds(
    labels: np.ndarray, group_ids: np.ndarray, grouped: bool, folds: int, seed: int
) -> np.ndarray:
    fold = np.full(len(labels), -1, dtype=np.int64)
    with warnings.catch_warnings():
        # "least populated class has only n members": fold_report says so in `too_few`
        warnings.filterwarnings("ignore", message=".*least populated class.*", category=UserWarning)
        if grouped:
            split = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
            tests = (test for _, test in split.split(labels, labels, group_ids))
        else:
            split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            tests = (test for _, test in split.split(labels, labels))
        for k, test in enumerate(tests):
            fold[test] = k
    assert (fold >= 0).all(), "a row was left out of every fold"
    return fold


def _mixed_groups(labels: np.ndarray, group_ids: np.ndarray, n_groups: int) -> int:
    """Groups whose rows carry more than one label (copies labeled differently)."""
    if n_groups == 0:
        return 0
    lo = np.full(n_groups, np.iinfo(np.int64).max)
    hi = np.full(n_groups, -1)
    np.minimum.at(lo, group_ids, labels)
    np.maximum.at(hi, group_ids, labels)
    return int(np.count_nonzero(lo != hi))


# ---- model ------------------------------------------------------------------------------------


def _compact(X: sp.csr_matrix) -> sp.csr_matrix:
    """Drops the hashed columns no row uses. Exact: an unused column gets a zero gradient and
    so stays at its zero start under L2, but lbfgs would still carry 2**20 x classes weights."""
    X = sp.csr_matrix(X)
    used, inverse = np.unique(X.indices, return_inverse=True)
    return sp.csr_matrix((X.data, inverse.ravel(), X.indptr), shape=(X.shape[0], len(used)))


def _fit_predict(
    X_train: sp.csr_matrix,
    y: np.ndarray,
    X_test: sp.csr_matrix,
    n_classes: int,
    seed: int,
    C: float,
) -> np.ndarray:
    """Probabilities (rows of X_test x n_classes); classes absent from y get 0."""
    out = np.zeros((X_test.shape[0], n_classes), dtype=np.float64)
    seen = np.unique(y)
    if len(seen) == 1:  # nothing to discriminate: all mass on the only class seen
        out[:, seen[0]] = 1.0
        return out
    # lbfgs is deterministic (random_state only matters to sag/saga/liblinear; kept for them)
    lr = LogisticRegression(C=C, solver="lbfgs", max_iter=MAX_ITER, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)  # sklearn's convergence chatter
        lr.fit(X_train, y)
    out[:, lr.classes_] = lr.predict_proba(X_test)
    return out


def out_of_fold_proba(
    X: sp.spmatrix,
    labels: np.ndarray,
    groups: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
    C: float = DEFAULT_C,
) -> np.ndarray:
    """Out-of-fold class probabilities (rows x classes, float64, rows sum to 1).

    Row i's probabilities come from a model fitted on the other folds only; with `groups`
    (e.g. `dedup.cluster`), a group's rows share a fold, so a near duplicate never teaches the
    model the label it is then asked to judge. Raises ValueError when no split is possible
    (see `fold_report`, which the caller should consult first for small classes).
    """
    labels = _check_labels(labels)
    if X.shape[0] != len(labels):
        raise ValueError(f"X has {X.shape[0]} rows, labels {len(labels)}")
    report = fold_report(labels, groups, folds, seed)
    if report["assignment"] is None:
        raise ValueError(f"cannot split into folds: {report['problem']}")
    fold = report["assignment"]
    X = _compact(X)
    n_classes = int(labels.max()) + 1
    proba = np.full((len(labels), n_classes), np.nan)
    for k in range(folds):
        test = np.flatnonzero(fold == k)
        train = np.flatnonzero(fold != k)
        proba[test] = _fit_predict(X[train], labels[train], X[test], n_classes, seed, C)
    assert not np.isnan(proba).any(), "a row got no out-of-fold prediction"
    return proba


def assist(
    X_labeled: sp.spmatrix,
    y: np.ndarray,
    X_unlabeled: sp.spmatrix,
    seed: int = 0,
    C: float = DEFAULT_C,
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class ids (from those in y) and confidence (max probability, in [0, 1]) for
    each unlabeled row, from one model fitted on every labeled row."""
    y = _check_labels(y)
    if X_labeled.shape[0] != len(y):
        raise ValueError(f"X_labeled has {X_labeled.shape[0]} rows, y {len(y)}")
    if X_labeled.shape[1] != X_unlabeled.shape[1]:
        raise ValueError("X_labeled and X_unlabeled have different feature spaces")
    n = X_unlabeled.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    if len(y) == 0:
        raise ValueError("no labeled rows to learn from")
    both = _compact(sp.vstack([X_labeled, X_unlabeled], format="csr"))
    proba = _fit_predict(both[: len(y)], y, both[len(y) :], int(y.max()) + 1, seed, C)
    predicted = proba.argmax(axis=1).astype(np.int64)
    return predicted, proba[np.arange(n), predicted]


# ---- confident learning -----------------------------------------------------------------------


def find_issues(labels: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(is_issue, label_quality) per row, from out-of-fold probabilities.

    is_issue: cleanlab's `find_label_issues` (confident learning, prune by noise rate): a row
    is flagged when it is confidently another class (above that class's average self-confidence)
    and its class pair's estimated noise calls for removing that many rows. label_quality: the
    self-confidence, P(given label), in [0, 1]: low = suspicious; it ranks rows for review.
    """
    # imported here: cleanlab pulls in pandas (~0.3 s), only the label stage needs it
    from cleanlab.filter import find_label_issues

    labels = _check_labels(labels)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != len(labels):
        raise ValueError(f"proba must be rows x classes, got {proba.shape} for {len(labels)} rows")
    if len(labels) and labels.max() >= proba.shape[1]:
        raise ValueError(f"label {labels.max()} has no probability column ({proba.shape[1]})")
    quality = proba[np.arange(len(labels)), labels]
    present = np.unique(labels)
    if len(present) < 2:  # one class given: nothing to confuse it with
        return np.zeros(len(labels), dtype=bool), quality
    if len(present) < proba.shape[1]:
        # cleanlab wants every column's class among the labels: drop the others, renormalise
        sub = proba[:, present]
        total = sub.sum(axis=1, keepdims=True)
        # a row with all its mass on absent classes says nothing about the present ones
        proba = np.where(total > 0, sub / np.where(total > 0, total, 1), 1 / len(present))
        labels = np.searchsorted(present, labels)
    # n_jobs=1: no multiprocessing pool (cleanlab says results do not depend on it)
    is_issue = find_label_issues(labels, proba, filter_by="prune_by_noise_rate", n_jobs=1)
    return np.asarray(is_issue, dtype=bool), quality


def class_losses(labels: np.ndarray, lost: np.ndarray) -> dict[int, float]:
    """Fraction of each class's rows that `lost` (dropped or relabeled away) takes, for the
    guard that fails the stage when a class loses more than its allowed fraction."""
    labels = _check_labels(labels)
    lost = np.asarray(lost, dtype=bool)
    total = np.bincount(labels)
    gone = np.bincount(labels[lost], minlength=len(total))
    return {int(c): float(gone[c] / total[c]) for c in np.flatnonzero(total)}


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-d array of int class ids, got {labels.dtype}")
    if len(labels) and labels.min() < 0:
        raise ValueError("labels must be >= 0 (unlabeled rows are not part of this)")
    return labels.astype(np.int64, copy=False)
