"""Weak supervision: labeling functions, their votes, and two ways to aggregate the votes.

A labeling function (LF) votes one label on a row or abstains. Kinds: `keywords` (any of a list,
case-insensitive, whole word), `regex` (polars/Rust syntax, on the text), `predicate` (a
comparison on any column, e.g. a filter signal) and `python` (`module:function`, for what config
cannot say). Votes are string signals `label.lf.<name>` (null = abstain); `vote_matrix` turns
them into an int matrix L (rows x functions, -1 = abstain, else the class index).

Aggregation:
- `majority_vote`: most votes wins; ties are broken at random, seeded, per row (by a row key when
  given, so the result does not depend on how rows are split into shards). Breaking ties by
  class order would push every tie into the first class and skew the class fractions.
- `LabelModel`: Dawid-Skene EM. Each LF has a full confusion matrix P(vote | true class), where
  abstaining is one of the outcomes: an LF that only ever votes one label carries its
  information in *when* it fires, which a model of non-abstaining votes alone cannot see.
  Assumes LFs are independent given the true class, so it learns which LFs to trust from how
  they agree; near-copies of one LF look like a confident consensus to it (as to majority vote).

`lf_summary` is Snorkel's LF analysis (coverage, overlaps, conflicts, empirical accuracy).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import polars as pl

from curate.dedup.shingles import mix64

PREFIX = "label.lf."
KINDS = ("keywords", "regex", "predicate", "python")
OPS = ("==", "!=", "<", "<=", ">", ">=", "in")
_NAME = re.compile(r"[A-Za-z0-9_]+")
_COMMON = ("name", "label", "kind")
_KEYS = {
    "keywords": (*_COMMON, "keywords"),
    "regex": (*_COMMON, "pattern"),
    "predicate": (*_COMMON, "column", "op", "value"),
    "python": (*_COMMON, "function"),
}
# what Rust's regex-syntax escapes; Python's re.escape differs (it escapes spaces, for one)
_META = set("\\.+*?()|[]{}^$#&-~")


@dataclass(frozen=True)
class LabelingFunction:
    name: str
    label: str
    kind: str
    keywords: tuple[str, ...] = ()
    pattern: str = ""
    column: str = ""
    op: str = ""
    value: object = None  # a scalar; a tuple for "in"
    function: str = ""

    @property
    def signal(self) -> str:
        return PREFIX + self.name

    def expr(self, text: str = "text") -> pl.Expr:
        """String expression: `label` where the function fires, null (abstain) elsewhere."""
        if self.kind == "keywords":
            fires = pl.col(text).str.contains(keyword_pattern(self.keywords))
        elif self.kind == "regex":
            fires = pl.col(text).str.contains(self.pattern)
        elif self.kind == "predicate":
            c = pl.col(self.column)
            v = self.value
            fires = {
                "==": lambda: c == v,
                "!=": lambda: c != v,
                "<": lambda: c < v,
                "<=": lambda: c <= v,
                ">": lambda: c > v,
                ">=": lambda: c >= v,
                # equalities, not is_in: polars 2 will not compare an int column with floats
                "in": lambda: pl.any_horizontal([c == x for x in v]),  # type: ignore[union-attr]
            }[self.op]()
        else:
            raise ValueError(
                f"labeling function '{self.name}' is kind python: call apply_functions"
            )
        # a null test (null text or column value) abstains
        return pl.when(fires).then(pl.lit(self.label)).otherwise(None).alias(self.signal)


def keyword_pattern(keywords: tuple[str, ...] | list[str]) -> str:
    """Case-insensitive whole-word alternation. Borders are non-word characters or the text's
    ends rather than `\\b`, so keywords that start or end in punctuation ("c++") match too."""
    alts = []
    for k in sorted(set(keywords), key=lambda k: (-len(k), k)):  # longest first: stable output
        escaped = "".join("\\" + ch if ch in _META else ch for ch in k.strip())
        alts.append(re.sub(r"\s+", r"\\s+", escaped))
    return r"(?i)(?:^|\W)(?:" + "|".join(alts) + r")(?:\W|$)"


def parse_functions(entries: list[dict], where: str) -> list[LabelingFunction]:
    """LabelingFunctions from recipe tables (e.g. `[[label.functions]]`); ValueError on anything
    unknown, missing or malformed, naming the function."""
    if not isinstance(entries, (list, tuple)):
        raise ValueError(f"{where} must be a list of tables, got {type(entries).__name__}")
    out: list[LabelingFunction] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"{where}[{i}] must be a table, got {entry!r}")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"{where}[{i}]: name must be letters, digits and _, got {name!r}")
        at = f"{where}: labeling function '{name}'"
        if name in seen:
            raise ValueError(f"{at}: name used twice")
        seen.add(name)
        kind = entry.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{at}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        unknown = sorted(set(entry) - set(_KEYS[kind]))
        if unknown:
            raise ValueError(
                f"{at}: unknown key '{unknown[0]}' for kind {kind}; allowed: "
                + ", ".join(_KEYS[kind])
            )
        missing = [k for k in _KEYS[kind] if k not in entry]
        if missing:
            raise ValueError(f"{at}: missing key '{missing[0]}'")
        label = entry["label"]
        if not isinstance(label, str) or not label:
            raise ValueError(f"{at}: label must be a non-empty string, got {label!r}")
        try:
            out.append(_build(name, label, kind, entry))
        except ValueError as e:
            raise ValueError(f"{at}: {e}") from None
    return out


def _build(name: str, label: str, kind: str, e: dict) -> LabelingFunction:
    lf = LabelingFunction
    if kind == "keywords":
        kws = e["keywords"]
        if (
            not isinstance(kws, (list, tuple))
            or not kws
            or not all(isinstance(k, str) and k.strip() for k in kws)
        ):
            raise ValueError(f"keywords must be a non-empty list of non-empty strings, got {kws!r}")
        return lf(name, label, kind, keywords=tuple(kws))
    if kind == "regex":
        pattern = e["pattern"]
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"pattern must be a non-empty string, got {pattern!r}")
        try:  # compile it now with the engine that will run it (Rust regex: no look-around)
            pl.select(pl.lit("").str.contains(pattern))
        except pl.exceptions.PolarsError as err:
            why = [ln[6:].strip() for ln in str(err).splitlines() if ln.startswith("error:")]
            raise ValueError(f"invalid regex {pattern!r}: {why[0] if why else err}") from None
        return lf(name, label, kind, pattern=pattern)
    if kind == "predicate":
        column, op, value = e["column"], e["op"], e["value"]
        if not isinstance(column, str) or not column:
            raise ValueError(f"column must be a non-empty string, got {column!r}")
        if op not in OPS:
            raise ValueError(f"op must be one of {' '.join(OPS)}, got {op!r}")
        scalar = (str, int, float, bool)
        if op == "in":
            if not isinstance(value, (list, tuple)) or not value:
                raise ValueError(f"op 'in' needs a non-empty list value, got {value!r}")
            strings = sum(isinstance(v, str) for v in value)
            if not all(isinstance(v, scalar) for v in value) or 0 < strings < len(value):
                raise ValueError(f"op 'in' needs a list of strings or of numbers, got {value!r}")
            value = tuple(value)
        elif not isinstance(value, scalar):
            raise ValueError(f"op '{op}' needs a string or number value, got {value!r}")
        return lf(name, label, kind, column=column, op=op, value=value)
    spec = e["function"]
    resolve(spec)
    return lf(name, label, kind, function=spec)


@cache
def resolve(spec: str) -> Callable[[pl.DataFrame], object]:
    """The callable named by "module:function" (the function may be a dotted attribute path)."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ValueError(f"function must be 'module:function', got {spec!r}")
    module, attr = spec.split(":")
    try:
        obj: object = importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"cannot import module '{module}' ({err})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module '{module}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"'{spec}' is not callable")
    return obj  # type: ignore[return-value]


def apply_functions(
    df: pl.DataFrame, lfs: list[LabelingFunction], text: str = "text"
) -> pl.DataFrame:
    """`df` plus one String column `label.lf.<name>` per function, in the order given."""
    for lf in lfs:
        need = text if lf.kind in ("keywords", "regex") else lf.column
        if need and need not in df.columns:
            raise ValueError(f"labeling function '{lf.name}': no column '{need}' in the data")
    columns: list[pl.Expr | pl.Series] = []
    for lf in lfs:
        if lf.kind == "python":  # errors raised inside a user's function propagate as they are
            columns.append(_python_votes(df, lf))
            continue
        try:
            columns.append(lf.expr(text))
        except (pl.exceptions.PolarsError, TypeError) as err:
            raise ValueError(f"labeling function '{lf.name}': {_first_line(err)}") from None
    try:
        return df.with_columns(columns)
    except pl.exceptions.PolarsError:
        # one batch for speed; on failure, find the function to blame (e.g. a string
        # predicate value on a numeric column)
        for lf, col in zip(lfs, columns, strict=True):
            try:
                df.select(col)
            except pl.exceptions.PolarsError as err:
                raise ValueError(f"labeling function '{lf.name}': {_first_line(err)}") from None
        raise


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _python_votes(df: pl.DataFrame, lf: LabelingFunction) -> pl.Series:
    """A custom function's votes: a String Series (its label or null), or Boolean (True fires)."""
    at = f"labeling function '{lf.name}' ({lf.function})"
    try:
        out = resolve(lf.function)(df)
    except ValueError as err:
        raise ValueError(f"{at}: {err}") from None
    if not isinstance(out, pl.Series):
        raise ValueError(f"{at} must return a polars Series, got {type(out).__name__}")
    if out.len() != df.height:
        raise ValueError(f"{at} returned {out.len()} values for {df.height} rows")
    if out.dtype == pl.Boolean:
        out = pl.select(pl.when(pl.lit(out)).then(pl.lit(lf.label)).otherwise(None)).to_series()
    elif out.dtype == pl.Null:
        out = out.cast(pl.String)
    elif out.dtype != pl.String:
        raise ValueError(f"{at} must return String or Boolean values, got {out.dtype}")
    voted = out.drop_nulls().unique().sort()
    others = voted.filter(voted != lf.label)
    if others.len():
        raise ValueError(f"{at} voted {others[0]!r}; it may vote only {lf.label!r} or None")
    return out.alias(lf.signal)


def encode(values: pl.Series, classes: list[str], what: str) -> np.ndarray:
    """Labels as class indices (int16), -1 for null; ValueError on a label not in `classes`."""
    unknown = values.drop_nulls().unique().sort()
    unknown = unknown.filter(~unknown.is_in(list(classes)))
    if unknown.len():
        raise ValueError(f"{what}: label {unknown[0]!r} is not one of the classes {classes}")
    idx = values.cast(pl.String).replace_strict(
        classes, list(range(len(classes))), default=None, return_dtype=pl.Int16
    )
    return idx.fill_null(-1).to_numpy().astype(np.int16)


def vote_matrix(df: pl.DataFrame, lfs: list[LabelingFunction], classes: list[str]) -> np.ndarray:
    """L: rows x functions, -1 = abstain, else the index of the voted label in `classes`."""
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"classes must be distinct and non-empty, got {classes}")
    if len(classes) > np.iinfo(np.int16).max:
        raise ValueError(f"too many classes ({len(classes)})")
    dtype = np.int8 if len(classes) <= np.iinfo(np.int8).max else np.int16
    L = np.empty((df.height, len(lfs)), dtype=dtype)
    for j, lf in enumerate(lfs):
        if lf.label not in classes:
            raise ValueError(f"labeling function '{lf.name}': label {lf.label!r} not in {classes}")
        L[:, j] = encode(df.get_column(lf.signal), classes, f"labeling function '{lf.name}'")
    return L


def _check(L: np.ndarray, n_classes: int) -> np.ndarray:
    L = np.asarray(L)
    if L.ndim != 2 or not np.issubdtype(L.dtype, np.integer):
        raise ValueError(f"L must be a 2-d integer array, got {L.dtype} of shape {L.shape}")
    if L.size and (L.min() < -1 or L.max() >= n_classes):
        raise ValueError(f"L values must be -1 (abstain) or class indices below {n_classes}")
    return L


def _counts(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """Votes per row and class (rows x classes), one pass per class to bound memory."""
    counts = np.empty((votes.shape[0], n_classes), dtype=np.int32)
    for c in range(n_classes):
        counts[:, c] = (votes == c).sum(axis=1)
    return counts


def majority_vote(
    L: np.ndarray, n_classes: int, seed: int = 0, keys: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(label index, -1 where every function abstains; confidence = winner's share of votes,
    0.0 where none). Ties go to a uniformly random one of the tied classes, drawn from `seed`
    and, when given, the row's `keys` (uint64, e.g. a hash of the id) so that a row's draw does
    not depend on its position; without keys, draws follow row order."""
    L = _check(L, n_classes)
    counts = _counts(L, n_classes)
    total = counts.sum(axis=1)
    best = counts.max(axis=1, initial=0)
    tied = (counts == best[:, None]) & (best[:, None] > 0)
    if keys is None:
        priority = np.random.default_rng(seed).random(counts.shape)
    else:
        keys = np.asarray(keys, dtype=np.uint64)
        if keys.shape != (L.shape[0],):
            raise ValueError(f"keys must have one value per row ({L.shape[0]}), got {keys.shape}")
        salt = mix64(np.array([seed], dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15))
        cls = mix64(np.arange(1, n_classes + 1, dtype=np.uint64) * np.uint64(0xBF58476D1CE4E5B9))
        # top 53 bits as a float in [0, 1): the same draw for a key whatever the partition
        priority = (mix64((keys ^ salt)[:, None] ^ cls[None, :]) >> np.uint64(11)).astype(
            np.float64
        ) / float(1 << 53)
    labels = np.where(tied, priority, -1.0).argmax(axis=1).astype(np.int64)
    labels[total == 0] = -1
    confidence = np.divide(best, total, out=np.zeros(len(total)), where=total > 0)
    return labels, confidence


class LabelModel:
    """Dawid-Skene label model fitted by EM without gold labels.

    Parameters: a class prior, and per function a confusion matrix P(vote | true class) over
    the outcomes (abstain, class 0, ..., class k-1). EM starts from the soft majority vote (each
    row's vote shares), so nothing is drawn at random: the fit is a pure function of the
    multiset of vote patterns. It runs on distinct patterns weighted by their counts, which
    makes it fast and independent of row order and sharding. `smoothing` pseudo-counts are added
    to every cell, so a function with few votes keeps probabilities away from 0 and 1 and its
    learned accuracy near chance. Fitted on rows with at least one vote; `predict_proba` gives
    all-abstain rows the prior (callers treat them as unlabeled).

    `class_prior`: None learns it (Dawid-Skene); "uniform" or a list of class fractions holds
    it fixed (Snorkel's `class_balance`). Which is better depends on the functions: when each
    class has one function and they rarely overlap, accuracies are not identifiable without
    gold, and a learned prior follows the functions' coverage (see the module doc).
    """

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-7,
        smoothing: float = 1.0,
        class_prior: str | list[float] | None = None,
    ):
        if n_iter < 1 or tol < 0 or smoothing <= 0:
            raise ValueError("n_iter >= 1, tol >= 0 and smoothing > 0 are required")
        if isinstance(class_prior, str) and class_prior != "uniform":
            raise ValueError(
                f"class_prior must be None, 'uniform' or fractions, not {class_prior!r}"
            )
        self.n_iter, self.tol, self.smoothing = n_iter, tol, smoothing
        self.class_prior = class_prior
        self.seed = 0
        self.n_classes = 0
        self._fixed: np.ndarray | None = None
        self.prior = np.empty(0)
        self.confusion = np.empty((0, 0, 0))  # functions x classes x (1 + classes)
        self.accuracies = np.empty(0)
        self.iterations = 0
        self.converged = False
        self.log_likelihood = float("nan")  # per voted row, at the end

    def fit(self, L: np.ndarray, n_classes: int, seed: int = 0) -> LabelModel:
        # `seed` is recorded for the manifest; the fit draws nothing at random (see class doc)
        L = _check(L, n_classes)
        k = n_classes
        self.seed, self.n_classes = seed, k
        self._fixed = None
        if isinstance(self.class_prior, str):
            self._fixed = np.full(k, 1.0 / k)
        elif self.class_prior is not None:
            fixed = np.asarray(self.class_prior, dtype=np.float64)
            if fixed.shape != (k,) or np.any(fixed <= 0) or abs(fixed.sum() - 1) > 1e-6:
                raise ValueError(f"class_prior needs {k} positive fractions summing to 1")
            self._fixed = fixed / fixed.sum()
        # internally functions x rows and classes x rows, so every inner loop reads
        # contiguous memory
        outcome, weight = _patterns(L[(L >= 0).any(axis=1)], k)
        w = weight.astype(np.float64)
        counts = _counts(outcome - 1, k).T.astype(np.float64)
        q = counts / np.maximum(counts.sum(axis=0), 1)
        outcome = np.ascontiguousarray(outcome.T)
        previous = -np.inf
        self.converged = False
        for it in range(1, self.n_iter + 1):
            self._m_step(outcome, w, q)
            logp = self._log_joint(outcome)
            top = logp.max(axis=0)
            norm = top + np.log(np.exp(logp - top).sum(axis=0))
            q = np.exp(logp - norm)
            ll = float((w * norm).sum() / max(w.sum(), 1.0))
            self.iterations, self.log_likelihood = it, ll
            if abs(ll - previous) <= self.tol:
                self.converged = True
                break
            previous = ll
        self._m_step(outcome, w, q)  # parameters that match the final posteriors
        # P(vote is right | it votes), under the model: sum_y prior_y P(vote y | y) / P(votes)
        right = self.prior[None, :] * np.diagonal(self.confusion[:, :, 1:], axis1=1, axis2=2)
        votes = self.prior[None, :] * (1.0 - self.confusion[:, :, 0])
        self.accuracies = right.sum(axis=1) / votes.sum(axis=1)
        return self

    def _m_step(self, outcome: np.ndarray, w: np.ndarray, q: np.ndarray) -> None:
        """outcome: functions x rows; q: classes x rows (posteriors); w: row weights."""
        a = self.smoothing
        (m, _), k = outcome.shape, q.shape[0]
        wq = q * w
        fixed = self._fixed
        self.prior = (wq.sum(axis=1) + a) / (w.sum() + k * a) if fixed is None else fixed
        conf = np.full((m, k, k + 1), a)
        for j in range(m):
            for c in range(k):  # bincount: one sequential (deterministic) pass, no masks
                conf[j, c] += np.bincount(outcome[j], weights=wq[c], minlength=k + 1)
        self.confusion = conf / conf.sum(axis=2, keepdims=True)

    def _log_joint(self, outcome: np.ndarray) -> np.ndarray:
        """log P(class) + sum_j log P(vote_j | class), classes x rows (outcome: functions x
        rows)."""
        log_prior, log_conf = np.log(self.prior), np.log(self.confusion)
        logp = np.empty((len(log_prior), outcome.shape[1]))
        for c in range(len(log_prior)):
            logp[c] = log_prior[c]
            for j in range(len(outcome)):
                logp[c] += log_conf[j, c][outcome[j]]
        return logp

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """Posterior class probabilities, rows x classes; the prior where every LF abstains."""
        if not self.n_classes:
            raise ValueError("LabelModel is not fitted")
        L = _check(L, self.n_classes)
        if L.shape[1] != self.confusion.shape[0]:
            raise ValueError(f"L has {L.shape[1]} functions, the model {self.confusion.shape[0]}")
        logp = self._log_joint(np.ascontiguousarray(L.T, dtype=np.int64) + 1)
        logp -= logp.max(axis=0)
        p = np.exp(logp)
        p /= p.sum(axis=0)
        p = np.ascontiguousarray(p.T)
        p[~(L >= 0).any(axis=1)] = self.prior
        return p

    def predict(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label index, -1 where every function abstains; its posterior probability, 0.0 there).
        An exact tie in probability goes to the lower class index."""
        p = self.predict_proba(L)
        labels = p.argmax(axis=1).astype(np.int64)
        confidence = p.max(axis=1)
        none = ~(np.asarray(L) >= 0).any(axis=1)
        labels[none], confidence[none] = -1, 0.0
        return labels, confidence


def _patterns(votes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of `votes` as outcomes (0 = abstain, 1 + c = class c; int64), sorted, and
    how often each occurs. Rows become base-(k+1) integers when they fit in 62 bits, which
    sorts far faster than `np.unique(axis=0)`."""
    m = votes.shape[1]
    if (k + 1) ** m < 2**62:
        place = (k + 1) ** np.arange(m, dtype=np.int64)
        codes, weight = np.unique((votes.astype(np.int64) + 1) @ place, return_counts=True)
        return (codes[:, None] // place) % (k + 1), weight
    rows, weight = np.unique(votes, axis=0, return_counts=True)
    return rows.astype(np.int64) + 1, weight


def lf_summary(
    L: np.ndarray, lfs: list[LabelingFunction], classes: list[str], gold: np.ndarray | None = None
) -> list[dict]:
    """Per function, Snorkel's LF analysis. Fractions are of all rows: coverage (it votes),
    overlaps (it and at least one other function vote), conflicts (... and at least one other
    votes a different label). `gold`: class index per row, -1 where unknown; with it, correct
    and incorrect count its votes on rows with gold, and accuracy = correct / (both), None when
    it never votes on such a row or there is no gold at all."""
    L = _check(L, len(classes))
    n, m = L.shape
    if m != len(lfs):
        raise ValueError(f"L has {m} columns for {len(lfs)} labeling functions")
    if gold is not None:
        gold = np.asarray(gold)
        if gold.shape != (n,):
            raise ValueError(f"gold must have one value per row ({n}), got {gold.shape}")
    counts = _counts(L, len(classes))
    n_votes = counts.sum(axis=1)
    out = []
    for j, lf in enumerate(lfs):
        v = L[:, j]
        votes = v >= 0
        same = np.take_along_axis(counts, np.maximum(v, 0)[:, None].astype(np.int64), 1)[:, 0]
        row: dict = {
            "name": lf.name,
            "kind": lf.kind,
            "label": lf.label,
            "polarity": [classes[c] for c in np.unique(v[votes])],
            "votes": int(votes.sum()),
            "coverage": float(votes.sum() / n) if n else 0.0,
            "overlaps": float((votes & (n_votes >= 2)).sum() / n) if n else 0.0,
            "conflicts": float((votes & (n_votes > same)).sum() / n) if n else 0.0,
            "correct": None,
            "incorrect": None,
            "accuracy": None,
        }
        if gold is not None:
            judged = votes & (gold >= 0)
            correct = int((judged & (v == gold)).sum())
            incorrect = int(judged.sum()) - correct
            row.update(correct=correct, incorrect=incorrect)
            row["accuracy"] = correct / (correct + incorrect) if correct + incorrect else None
        out.append(row)
    return out


@dataclass
class Aggregation:
    labels: np.ndarray  # chosen method's class index per row, -1 where every function abstains
    confidence: np.ndarray  # its confidence (winning share or posterior), 0.0 where unlabeled
    method: str  # "majority" or "label_model"
    model: LabelModel
    report: dict  # for the manifest: coverage, agreement, accuracy on gold per method, choice


def aggregate(
    L: np.ndarray,
    n_classes: int,
    seed: int = 0,
    gold: np.ndarray | None = None,
    keys: np.ndarray | None = None,
    prefer: str = "label_model",
    class_prior: str | list[float] | None = None,
) -> Aggregation:
    """Runs both aggregators and picks one: the more accurate on rows with gold labels (a tie
    keeps `prefer`), else `prefer`. Both cover exactly the rows with at least one vote."""
    if prefer not in ("majority", "label_model"):
        raise ValueError(f"prefer must be majority or label_model, got {prefer!r}")
    mv, mv_conf = majority_vote(L, n_classes, seed, keys)
    model = LabelModel(class_prior=class_prior).fit(L, n_classes, seed)
    lm, lm_conf = model.predict(L)
    covered = mv >= 0
    n = len(mv)
    accuracy: dict[str, float | None] = {"majority": None, "label_model": None}
    judged = covered & (np.asarray(gold) >= 0) if gold is not None else np.zeros(n, dtype=bool)
    if judged.any():
        accuracy = {
            "majority": float((mv[judged] == gold[judged]).mean()),  # type: ignore[index]
            "label_model": float((lm[judged] == gold[judged]).mean()),  # type: ignore[index]
        }
        other = "majority" if prefer == "label_model" else "label_model"
        method = other if accuracy[other] > accuracy[prefer] else prefer  # type: ignore[operator]
    else:
        method = prefer
    report = {
        "method": method,
        "coverage": float(covered.mean()) if n else 0.0,
        "agreement": float((mv[covered] == lm[covered]).mean()) if covered.any() else None,
        "gold_rows": int(judged.sum()),
        "accuracy": accuracy,
        "label_model": {
            "iterations": model.iterations,
            "converged": model.converged,
            "class_prior": [float(p) for p in model.prior],
            "accuracies": [float(a) for a in model.accuracies],
        },
    }
    labels, confidence = (mv, mv_conf) if method == "majority" else (lm, lm_conf)
    return Aggregation(labels, confidence, method, model, report)
