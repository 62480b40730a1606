"""Model-assisted labeling and label-error detection for the `label` stage.

- Features: hashed word 1-2 grams (the dedup tokenizer's words, numpy), sublinear term
  frequency, l2-normalised rows. Each model re-weights them by an idf learned from its own
  training rows only.
- Model: logistic regression by SGD (log loss, one-vs-rest, a fixed number of epochs, seeded):
  deterministic for the seed. Measured on BBC News's 5 folds: ~4 s, where lbfgs took ~180 s
  for no better detection (bench/label_issues.py). Calibration matters little here: confident
  learning compares each row to per-class average confidences, not to 0.5.
- Label errors: out-of-fold probabilities (every row scored by a model that never saw it nor
  any row of its group, e.g. its `dedup.cluster`), then confident learning (cleanlab's
  `find_label_issues`) flags rows whose given label the other folds contradict.
- Assist: the same model fitted on every labeled row predicts the unlabeled ones with a
  confidence (the max probability); the stage applies `--min-confidence`.

Class ids are ints 0..n_classes-1 (`encode_labels` maps strings, in sorted order); probability
columns follow them. Policies (flag, drop, relabel) and the class-loss guard belong to the
stage; `fold_report` and `class_losses` give it what it needs to decide.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import normalize

from curate.dedup.shingles import word_bigrams
from curate.dedup.tokens import tokenize

# L2 strength and epochs of the SGD model. Swept on BBC News with 10% flips and on the sample
# glosses, seeds 0..2 (bench/label_issues.py): alpha 1e-5..1e-4 x 10..30 epochs all land within
# two points of each other; 10 epochs is the cheapest, 3e-5 the middle of the flat region.
DEFAULT_ALPHA = 3e-5
EPOCHS = 10
# cleanlab's rule: "both" = flagged by prune_by_noise_rate and by prune_by_class. Measured
# (same sweep): 2 points more precision on BBC and 6 on the glosses than prune_by_noise_rate
# alone, for 1-2 points of recall; drop and relabel act on the flags, so precision matters most.
DEFAULT_FILTER = "both"


def text_features(
    texts: pl.Series, n_features: int = 2**20, max_chars: int = 10_000
) -> sp.csr_matrix:
    r"""Hashed word 1-2 grams of each text: lowercased, 1 + log(count), l2-normalised rows.

    Words are the dedup tokenizer's (runs of letters, digits and marks, hashed from the UTF-8
    bytes with numpy), one-byte words dropped as scikit-learn's `\w\w+` drops one-letter ones;
    bigrams pair neighbouring kept words. A few array passes: scikit-learn's
    HashingVectorizer, which built these before, spent 63% of the label stage in Python at
    1 GB. Nulls count as "" (an all-zero row: a model falls back to its intercept, i.e. the
    class prior); texts are cut to `max_chars` first so one huge row costs bounded time.
    Sublinear counts plus the per-model idf measured better than plain l2-normalised counts:
    on the sample glosses, precision 0.60 -> 0.68 at the same recall; on BBC News the same.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    s = texts.cast(pl.String).fill_null("").str.slice(0, max_chars).str.to_lowercase()
    docs = len(s)
    tok = tokenize(s)
    keep = tok.lengths >= 2
    h = tok.hashes[keep]
    doc = np.repeat(np.arange(docs, dtype=np.int64), np.diff(tok.offsets))[keep]
    bigrams, bigram_doc = word_bigrams(h, doc)
    col = (np.concatenate([h, bigrams]) % np.uint64(n_features)).astype(np.int64)
    row = np.concatenate([doc, bigram_doc])
    X = sp.csr_matrix((np.ones(len(col)), (row, col)), shape=(docs, n_features), dtype=np.float64)
    X.sum_duplicates()
    X.sort_indices()
    X.data = 1.0 + np.log(X.data)
    return normalize(X, norm="l2", copy=False)


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
    assignment = None if problem else _assign_folds(labels, group_ids, folds, seed)
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


def _assign_folds(labels: np.ndarray, group_ids: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Stratified folds that keep every group whole, seeded.

    Not sklearn's StratifiedGroupKFold: it steps in Python per group and per row (measured on
    200,000 rows in ~120,000 random groups: 41 s, here 0.9 s; 1,000,000 rows: 6.6 s), and
    after dedup nearly every group is a single row, which needs no Python step at all.

    Multi-row groups go first, largest first (ties in seeded random order), each to the fold
    where its classes are least represented (ties: fewest rows, lowest fold). Single rows then
    fill, class by class in seeded random order, the folds holding the fewest rows of their
    class (water filling). With label-pure groups (copies share a label), a class's fold counts
    end within its largest group of each other, within 1 when every group is a single row
    (as StratifiedKFold).
    """
    rng = np.random.default_rng(seed)
    n_classes = int(labels.max()) + 1
    total = np.bincount(labels, minlength=n_classes)
    sizes = np.bincount(group_ids)
    counts = np.zeros((folds, n_classes), dtype=np.int64)  # rows per fold and class so far
    fold = np.full(len(labels), -1, dtype=np.int64)

    in_multi = sizes[group_ids] > 1
    multi = np.flatnonzero(sizes > 1)
    if len(multi):
        local = np.searchsorted(multi, group_ids[in_multi])
        group_counts = np.zeros((len(multi), n_classes), dtype=np.int64)
        np.add.at(group_counts, (local, labels[in_multi]), 1)
        order = rng.permutation(len(multi))
        order = order[np.argsort(-sizes[multi][order], kind="stable")]
        group_fold = np.empty(len(multi), dtype=np.int64)
        share_of = 1.0 / np.maximum(total, 1)
        for g in order:
            # the fold where the group's own classes are least represented (a share of each
            # class's total, weighted by the group's rows): other classes do not vote, so a
            # tiny class cannot push a big group onto a fold that is already full of its class
            cost = ((counts + group_counts[g]) * share_of) @ group_counts[g]
            k = int(np.lexsort((np.arange(folds), counts.sum(axis=1), cost))[0])
            counts[k] += group_counts[g]
            group_fold[g] = k
        fold[in_multi] = group_fold[local]

    single = np.flatnonzero(~in_multi)
    single = single[rng.permutation(len(single))]
    single = single[np.argsort(labels[single], kind="stable")]  # by class, random within
    starts = np.searchsorted(labels[single], np.arange(n_classes + 1))
    for c in range(n_classes):
        rows = single[starts[c] : starts[c + 1]]
        if len(rows) == 0:
            continue
        # the len(rows) lowest free slots (fold k, level counts[k, c] + j); at equal levels the
        # folds take turns starting at c, so one fold does not collect every class's remainder
        # (the water never rises more than the current spread plus an even share: no fold
        # needs more slots than that)
        e = counts[:, c]
        width = min(len(rows), int(e.max() - e.min()) + -(-len(rows) // folds) + 1)
        level = e[:, None] + np.arange(width)[None, :]
        turn = np.broadcast_to(((np.arange(folds) - c) % folds)[:, None], level.shape)
        slot = np.lexsort((turn.ravel(), level.ravel()))[: len(rows)]
        fold[rows] = slot // width
        counts[:, c] += np.bincount(fold[rows], minlength=folds)
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


def _compact(X: sp.spmatrix) -> sp.csr_matrix:
    """Drops the hashed columns no row uses (their weights would stay 0): the models then carry
    classes x used-columns weights, not classes x 2**20. X is left as it is (the result shares
    its data; see `compact` for the in-place form that also says which columns were kept)."""
    X = sp.csr_matrix(X)
    used, remap = _used_columns(X)
    # remap[j] is j's rank among the used columns: np.unique's inverse, without its sort
    indices = np.empty_like(X.indices)
    for i in range(0, X.nnz, CHUNK):
        indices[i : i + CHUNK] = remap[X.indices[i : i + CHUNK]]
    return sp.csr_matrix((X.data, indices, X.indptr), shape=(X.shape[0], len(used)))


def _used_columns(X: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """The columns X uses (ascending) and, for every column, its rank among them."""
    in_use = np.bincount(X.indices, minlength=X.shape[1]) > 0
    return np.flatnonzero(in_use), (np.cumsum(in_use) - 1).astype(X.indices.dtype)


def _idf(X_train: sp.csr_matrix) -> np.ndarray:
    """Smoothed idf from the training rows only; 0 for columns they never use, as a fitted
    vocabulary would ignore an unseen word (so test rows carry nothing the model lacks)."""
    n = X_train.shape[0]
    df = np.bincount(X_train.indices, minlength=X_train.shape[1])
    return np.where(df > 0, np.log((1 + n) / (1 + df)) + 1.0, 0.0)


# Entries per step of the in-place passes over a feature matrix: bounds their temporaries.
CHUNK = 1 << 22


class Fitted:
    """A model fitted on compacted rows (see `_compact`): its idf, its classifier (None when the
    rows had one class only), and the hashed columns it knows (`used`, when it is to score rows
    of `text_features` elsewhere, e.g. shard by shard on a worker)."""

    def __init__(
        self,
        X_train: sp.csr_matrix,
        y: np.ndarray,
        n_classes: int,
        seed: int,
        alpha: float,
        used: np.ndarray | None = None,
    ):
        """Fits on X_train, which it rewrites in place (idf-weighted, l2-normalised): pass a
        matrix nothing else needs (a fancy-indexed or sliced copy, or one's last use)."""
        self.n_classes, self.used = n_classes, used
        self.model: SGDClassifier | None = None
        seen = np.unique(y)
        self.only = int(seen[0]) if len(seen) == 1 else None
        self.idf = _idf(X_train)
        if self.only is not None:  # nothing to discriminate: all mass on the only class seen
            return
        X_train = _weight_in_place(X_train, self.idf)
        # tol=None: exactly EPOCHS passes, so the result never hinges on a convergence test
        self.model = SGDClassifier(
            loss="log_loss", alpha=alpha, max_iter=EPOCHS, tol=None, random_state=seed
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            self.model.fit(X_train, y)

    def predict_compacted(self, X_test: sp.csr_matrix) -> np.ndarray:
        """Probabilities (rows of X_test, compacted as the training rows, x n_classes); classes
        absent from the training labels get 0."""
        out = np.zeros((X_test.shape[0], self.n_classes), dtype=np.float64)
        if X_test.shape[0] == 0:
            return out
        if self.only is not None:
            out[:, self.only] = 1.0
            return out
        assert self.model is not None
        out[:, self.model.classes_] = self.model.predict_proba(
            normalize(X_test @ sp.diags(self.idf))
        )
        return out

    def predict_proba(self, X: sp.spmatrix) -> np.ndarray:
        """Probabilities for rows of `text_features` (needs `used`): hashed columns the fitted
        rows never used are dropped (their idf would be 0)."""
        assert self.used is not None, "fitted without the hashed columns it uses"
        X = sp.csr_matrix(X)
        if len(self.used) == 0:  # the fitted rows had no features at all
            pos = np.zeros(X.nnz, dtype=np.int64)
            keep = np.zeros(X.nnz, dtype=bool)
        else:
            pos = np.minimum(np.searchsorted(self.used, X.indices), len(self.used) - 1)
            keep = self.used[pos] == X.indices
        indptr = np.concatenate([[0], np.cumsum(keep)])[X.indptr]
        shape = (X.shape[0], len(self.used))
        return self.predict_compacted(sp.csr_matrix((X.data[keep], pos[keep], indptr), shape))


def _weight_in_place(X: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """`normalize(X @ sp.diags(idf))` in X's own arrays, bit for bit.

    The product would be a second copy of the training rows (then normalize a third). Its
    entries are x * idf (no sums: one diagonal entry per column) and scipy's sparse product
    leaves each row's entries in reverse order, which the normalisation and the SGD passes then
    sum in: so the rows are reversed here too, a block of rows at a time. Every training column
    has idf >= 1 (it is used), so the product drops no zeros.
    """
    ip = X.indptr.astype(np.int64)
    r, n = 0, X.shape[0]
    while r < n:
        e = min(n, max(r + 1, int(np.searchsorted(ip, ip[r] + CHUNK, side="right")) - 1))
        a, b = ip[r], ip[e]
        if b > a:
            lengths = np.diff(ip[r : e + 1])
            # entry p of a row [s, t) takes the one at s + t - 1 - p
            src = np.repeat(ip[r:e] + ip[r + 1 : e + 1] - 1 - 2 * a, lengths) - np.arange(b - a)
            cols = X.indices[a:b][src]
            X.data[a:b] = X.data[a:b][src] * idf[cols]
            X.indices[a:b] = cols
        r = e
    X.has_sorted_indices = False
    X.has_canonical_format = False
    return normalize(X, copy=False)


def _fit_predict(
    X_train: sp.csr_matrix,
    y: np.ndarray,
    X_test: sp.csr_matrix,
    n_classes: int,
    seed: int,
    alpha: float,
) -> np.ndarray:
    """Probabilities (rows of X_test x n_classes); classes absent from y get 0. X_train is
    rewritten in place (see `Fitted`)."""
    if X_test.shape[0] == 0:  # an empty fold (possible with a few big groups)
        return np.zeros((0, n_classes), dtype=np.float64)
    return Fitted(X_train, y, n_classes, seed, alpha).predict_compacted(X_test)


def out_of_fold_proba(
    X: sp.spmatrix,
    labels: np.ndarray,
    groups: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
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
    return _out_of_fold(_compact(X), labels, groups, folds, seed, alpha, report["assignment"])


def _out_of_fold(
    X: sp.csr_matrix,
    labels: np.ndarray,
    groups: np.ndarray | None,
    folds: int,
    seed: int,
    alpha: float,
    fold: np.ndarray | None = None,
) -> np.ndarray:
    """`out_of_fold_proba` on compacted rows. Memory: X plus one fold's training rows."""
    if fold is None:
        report = fold_report(labels, groups, folds, seed)
        if report["assignment"] is None:
            raise ValueError(f"cannot split into folds: {report['problem']}")
        fold = report["assignment"]
    n_classes = int(labels.max()) + 1
    proba = np.full((len(labels), n_classes), np.nan)
    for k in range(folds):
        test = np.flatnonzero(fold == k)
        train = np.flatnonzero(fold != k)
        proba[test] = _fit_predict(X[train], labels[train], X[test], n_classes, seed, alpha)
    assert not np.isnan(proba).any(), "a row got no out-of-fold prediction"
    return proba


def assist(
    X_labeled: sp.spmatrix,
    y: np.ndarray,
    X_unlabeled: sp.spmatrix,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
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
    proba = _fit_predict(both[: len(y)], y, both[len(y) :], int(y.max()) + 1, seed, alpha)
    predicted = proba.argmax(axis=1).astype(np.int64)
    return predicted, proba[np.arange(n), predicted]


# ---- confident learning -----------------------------------------------------------------------


def find_issues(
    labels: np.ndarray, proba: np.ndarray, filter_by: str = DEFAULT_FILTER
) -> tuple[np.ndarray, np.ndarray]:
    """(is_issue, label_quality) per row, from out-of-fold probabilities.

    is_issue: cleanlab's `find_label_issues` (confident learning): a row is flagged when it is
    confidently another class (above that class's average self-confidence) and the estimated
    noise between its given and likely class calls for removing that many rows. `filter_by` is
    cleanlab's (default "both", see DEFAULT_FILTER). label_quality: the self-confidence,
    P(given label), in [0, 1]: low = suspicious; it ranks rows for review.
    """
    # imported here: only label-error detection needs cleanlab (~0.1 s on top of sklearn)
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
    with warnings.catch_warnings():
        # "may not flag all label issues in class c, too few examples": fold_report's too_few
        warnings.filterwarnings("ignore", message="May not flag all", category=UserWarning)
        # n_jobs=1: no multiprocessing pool (cleanlab says results do not depend on it)
        is_issue = find_label_issues(labels, proba, filter_by=filter_by, n_jobs=1)
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


# ---- bounded fitting: a sample for the models, the rest scored shard by shard -----------------


def fit_sample(
    labels: np.ndarray, keys: list[str], fit_rows: int, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Indices (ascending) of the rows the models are fitted on: every row when there are at
    most `fit_rows`; otherwise about `fit_rows` of them, stratified by label, whole groups only.

    `keys` name each row's group (its `dedup.cluster`, else its id): a group is in or out as a
    whole, so no row scored out of sample has a near copy among the rows the model learned from.
    Groups are ranked by a keyed hash of (seed, key), so the sample depends on the seed and the
    rows only, not on their order, the shard split or the worker count. Each class takes its
    share of `fit_rows` (largest remainders) in hash order, as far as whole groups fit, and at
    least `folds` groups when it has them (so it can fill its folds). A group whose rows carry
    several labels counts towards its lowest class id.
    """
    import hashlib

    labels = _check_labels(labels)
    n = len(labels)
    if len(keys) != n:
        raise ValueError(f"keys has {len(keys)} rows, labels {n}")
    if fit_rows < 1:
        raise ValueError(f"fit_rows must be >= 1, got {fit_rows}")
    if n <= fit_rows:
        return np.arange(n)
    uniq, gid = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
    gid = gid.ravel()
    salt = str(seed).encode()
    h = np.array(
        [
            int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8, key=salt).digest(), "big")
            for k in uniq.tolist()
        ],
        dtype=np.uint64,
    )
    n_groups, n_classes = len(uniq), int(labels.max()) + 1
    gclass = np.full(n_groups, n_classes, dtype=np.int64)
    np.minimum.at(gclass, gid, labels)
    size = np.bincount(gid, minlength=n_groups)
    rows = np.bincount(gclass, weights=size, minlength=n_classes).astype(np.int64)
    exact = fit_rows * rows / n
    quota = np.floor(exact).astype(np.int64)
    short = fit_rows - int(quota.sum())
    if short > 0:  # largest remainders, ties to the lower class id
        quota[np.lexsort((np.arange(n_classes), -(exact - quota)))[:short]] += 1
    # groups by class, then hash (then key, which is unique) within
    order = np.lexsort((np.arange(n_groups), h, gclass))
    starts = np.searchsorted(gclass[order], np.arange(n_classes + 1))
    take = np.zeros(n_groups, dtype=bool)
    for c in range(n_classes):
        g = order[starts[c] : starts[c + 1]]
        fits = np.cumsum(size[g]) <= quota[c]
        fits[: min(folds, len(g))] = True
        take[g[fits]] = True
    return np.flatnonzero(take[gid])


def stack_rows(parts: list[sp.csr_matrix]) -> sp.csr_matrix:
    """`sp.vstack(parts)` that empties `parts` as it copies them: the peak is the result plus
    one part, not twice the result (np.empty's pages are only resident once written)."""
    if not parts:
        raise ValueError("no parts to stack")
    width = parts[0].shape[1]
    rows = sum(p.shape[0] for p in parts)
    nnz = sum(p.nnz for p in parts)
    idx = np.int32 if max(nnz, rows, width) < 2**31 else np.int64
    data = np.empty(nnz, dtype=np.float64)
    indices = np.empty(nnz, dtype=idx)
    indptr = np.empty(rows + 1, dtype=idx)
    indptr[0] = 0
    r = at = 0
    parts.reverse()
    while parts:
        p = sp.csr_matrix(parts.pop())
        if p.shape[1] != width:
            raise ValueError(f"parts have {p.shape[1]} and {width} columns")
        data[at : at + p.nnz] = p.data
        indices[at : at + p.nnz] = p.indices
        indptr[r + 1 : r + 1 + p.shape[0]] = p.indptr[1:] + at
        r, at = r + p.shape[0], at + p.nnz
        del p
    return sp.csr_matrix((data, indices, indptr), shape=(rows, width))


def compact(X: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """`_compact` in place (X's own index array is rewritten, a chunk at a time: no second copy
    of it), and the hashed columns kept (ascending), for `Fitted.predict_proba`."""
    if not sp.isspmatrix_csr(X):
        raise ValueError("compact wants a csr matrix it may rewrite")
    used, remap = _used_columns(X)
    for i in range(0, X.nnz, CHUNK):
        X.indices[i : i + CHUNK] = remap[X.indices[i : i + CHUNK]]
    return sp.csr_matrix((X.data, X.indices, X.indptr), shape=(X.shape[0], len(used))), used


def sample_proba(
    X: sp.csr_matrix,
    used: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray | None,
    folds: int = 5,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
) -> tuple[np.ndarray, Fitted]:
    """For a sample (X compacted, see `compact`): its out-of-fold probabilities, exactly as
    `out_of_fold_proba` gives them, and a model fitted on all of it that scores rows of
    `text_features` out of the sample. X is rewritten by that last fit: do not reuse it."""
    labels = _check_labels(labels)
    if X.shape[0] != len(labels):
        raise ValueError(f"X has {X.shape[0]} rows, labels {len(labels)}")
    proba = _out_of_fold(X, labels, groups, folds, seed, alpha)
    return proba, Fitted(X, labels, proba.shape[1], seed, alpha, used=used)
