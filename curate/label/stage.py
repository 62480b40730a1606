"""`label`: labeling functions and a label model, model-assisted labels, label-error detection.

Global pass (`prepare`), because every decision needs the whole dataset:
1. labeling functions vote on every row (per shard, on the executor); majority vote and a
   Dawid-Skene label model aggregate the votes; with gold labels present the better one on them
   is used, otherwise the label model;
2. rows with a given label keep it; rows without one take the aggregated vote; the rest are
   labeled by a classifier trained on the labeled rows, with a confidence;
3. rows with a given label get out-of-fold predicted probabilities (folds grouped by
   `dedup.cluster`) and confident learning flags likely wrong labels; past `fit_rows` labeled
   rows the models are fitted on a seeded, stratified sample of that many, and the other rows
   are scored, shard by shard on the executor, by a model fitted on the whole sample;
4. the policy (flag, drop, relabel) and the guards decide; per-shard decision files follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp

from curate.dataset import ID, LABEL, TEXT, Dataset, Shard
from curate.errors import RunError
from curate.stage import Rule, ShardDecisions, Stage, StageContext

CLUSTER = "dedup.cluster"


@dataclass(frozen=True)
class LabelConfig:
    functions: list[dict[str, Any]] = field(default_factory=list)
    """Labeling functions: tables with name, label, kind (keywords, regex, predicate, python)
    and the kind's fields (keywords; pattern; column, op, value; function = "module:fn")."""
    assist: bool = True
    """Label rows that neither carry a label nor get a vote with a classifier trained on the
    labeled rows (hashed word n-grams, logistic regression)."""
    min_confidence: float = 0.0
    """Model-assisted labels below this confidence are not given (or the row is rejected)."""
    low_confidence: Literal["unlabeled", "reject"] = "unlabeled"
    """What happens to a row under min_confidence: it stays unlabeled, or reason low_confidence."""
    issues: Literal["flag", "drop", "relabel", "off"] = "flag"
    """Label errors among given labels: flag (signals only), drop (reason label_issue),
    relabel (the predicted label when confident; the given one stays in label.original)."""
    folds: int = 5
    """Folds of the out-of-fold probabilities (grouped by dedup.cluster when present)."""
    relabel_confidence: float = 0.8
    """relabel: the out-of-fold probability of the predicted label must reach this."""
    max_class_loss: float = 0.5
    """drop and relabel fail the stage (exit 3) rather than take more than this fraction of any
    class's rows."""
    fit_rows: int = 50_000
    """Label errors: the most labeled rows the models are fitted on (the features of those rows
    are what the stage holds in memory). Past it: a sample of about this many, seeded by the
    run's seed, stratified by label, whole dedup clusters; their probabilities are out of fold,
    the other rows' come from a model fitted on the whole sample, scored shard by shard."""

    def validate(self) -> None:
        from curate.label.weak import parse_functions

        parse_functions(self.functions, "label.functions")
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")
        if self.fit_rows < 2 * self.folds:
            raise ValueError(
                f"fit_rows must be >= 2 x folds ({2 * self.folds}), got {self.fit_rows}"
            )
        for name in ("min_confidence", "relabel_confidence", "max_class_loss"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1]")


class LabelStage(Stage):
    name = "label"
    config_class = LabelConfig

    def __init__(self, config: LabelConfig | None = None):
        super().__init__(config)
        self._decisions: ShardDecisions | None = None
        self._info: dict = {}

    def prepare(self, dataset: Dataset, ctx: StageContext) -> None:
        from curate.label import issues as li
        from curate.label import weak

        cfg: LabelConfig = self.config
        lfs = weak.parse_functions(cfg.functions, "label.functions")
        # per shard, on the executor: the functions' votes, so the text itself never travels
        # here (at 1 GB it would be 1 GB of this process's memory); features come later, for
        # the rows a model needs them for
        frames = ctx.map(_read_for_labels, dataset.shards, dataset, lfs)
        starts = np.cumsum([0, *(f.height for f in frames)])
        df = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
        del frames
        X_all = None

        def features() -> sp.csr_matrix:
            nonlocal X_all
            if X_all is None:
                X_all = sp.vstack(ctx.map(_features, dataset.shards, dataset), format="csr")
            return X_all

        def by_shard(rows: np.ndarray) -> list[tuple[Shard, np.ndarray]]:
            """Ascending global rows -> (shard, its local rows), shards in order, none empty."""
            at = np.searchsorted(rows, starts)
            return [
                (shard, rows[at[i] : at[i + 1]] - starts[i])
                for i, shard in enumerate(dataset.shards)
                if at[i + 1] > at[i]
            ]

        def features_of(rows: np.ndarray) -> sp.csr_matrix:
            """The features of these rows (ascending), computed per shard on the executor."""
            if X_all is not None:
                return X_all[rows]
            # stacked as they are freed: the peak is the result plus one shard's part
            return li.stack_rows(ctx.map(_features_of, by_shard(rows), dataset))

        given = (
            df[LABEL]
            if LABEL in df.columns
            else pl.Series(LABEL, [None] * df.height, dtype=pl.String)
        )
        lf_cols = [f"label.lf.{f.name}" for f in lfs]
        classes = sorted({*given.drop_nulls().to_list(), *(f.label for f in lfs)})
        index = {c: i for i, c in enumerate(classes)}
        gold = np.array(
            [index.get(v, -1) if v is not None else -1 for v in given.to_list()], dtype=np.int64
        )
        info: dict[str, Any] = {"classes": classes}

        # 1. weak supervision: both aggregators run; the better on given labels is used
        voted = np.full(df.height, -1)
        if lfs:
            L = weak.vote_matrix(df, lfs, classes)
            agg = weak.aggregate(L, len(classes), ctx.seed, gold=gold)
            voted = agg.labels
            info["aggregation"] = agg.report
            info["functions"] = weak.lf_summary(
                L, lfs, classes, gold if (gold >= 0).any() else None
            )

        # 2. labels: given, else the vote, else the classifier
        label = np.where(gold >= 0, gold, voted)
        source = np.where(gold >= 0, "given", np.where(voted >= 0, "functions", ""))
        confidence = np.where(label >= 0, 1.0, np.nan)
        X = None
        low = np.zeros(df.height, dtype=bool)
        todo = label < 0
        if cfg.assist and todo.any() and (~todo).any() and len(np.unique(label[~todo])) > 1:
            X = features()
            pred, conf = li.assist(X[~todo], label[~todo], X[todo], ctx.seed)
            ok = conf >= cfg.min_confidence
            at = np.flatnonzero(todo)
            label[at[ok]], confidence[at[ok]], source[at[ok]] = pred[ok], conf[ok], "model"
            low[at[~ok]] = True
            info["assist"] = {"labeled": int(ok.sum()), "below_min_confidence": int((~ok).sum())}

        # 3. label errors among given labels
        n = df.height
        issue = np.zeros(n, dtype=bool)
        quality = np.full(n, np.nan)
        predicted = np.full(n, -1)
        pred_conf = np.full(n, np.nan)
        has = gold >= 0
        if cfg.issues != "off" and has.sum() > 0:
            groups = df[CLUSTER].to_numpy() if CLUSTER in df.columns else None
            report = li.fold_report(
                gold[has], None if groups is None else groups[has], cfg.folds, ctx.seed
            )
            report.pop("assignment")
            # too small for the folds: reported (by name), exempt from detection, never dropped
            small = set(report["too_few"])
            report["too_few"] = [classes[c] for c in report["too_few"]]
            info["folds"] = report
            check = has & ~np.isin(gold, list(small))
            sub = (
                li.fold_report(
                    gold[check], None if groups is None else groups[check], cfg.folds, ctx.seed
                )
                if check.any()
                else {"problem": "no rows"}
            )
            if sub["problem"] is None:
                ids = np.flatnonzero(check)
                present, y = np.unique(gold[check], return_inverse=True)
                y = y.ravel()
                g = None if groups is None else groups[check]
                keys = (
                    df[ID].cast(pl.String)
                    if ID in df.columns
                    else pl.Series(np.arange(n).astype(str))
                )
                if CLUSTER in df.columns:
                    keys = df[CLUSTER].cast(pl.String).fill_null(keys)
                pick = li.fit_sample(
                    y, keys.gather(ids).to_list(), cfg.fit_rows, cfg.folds, ctx.seed
                )
                if len(pick) == len(ids):  # every row fits: all out of fold
                    X = features_of(ids)
                    proba = li.out_of_fold_proba(X, y, g, cfg.folds, ctx.seed)
                    del X
                    rest = np.zeros(0, dtype=np.int64)
                else:
                    X, used = li.compact(features_of(ids[pick]))
                    proba_s, fitted = li.sample_proba(
                        X, used, y[pick], None if g is None else g[pick], cfg.folds, ctx.seed
                    )
                    del X
                    rest = np.setdiff1d(np.arange(len(ids)), pick)
                    proba = np.empty((len(ids), len(present)), dtype=np.float64)
                    proba[pick] = proba_s
                    parts = ctx.map(_score_rows, by_shard(ids[rest]), dataset, fitted)
                    proba[rest] = np.vstack(parts)
                    del parts, fitted
                info["fit"] = {
                    "fit_rows": cfg.fit_rows,
                    "rows_fitted": len(pick),
                    "rows_scored_out_of_sample": len(rest),
                }
                flags, q = li.find_issues(y, proba)
                issue[ids], quality[ids] = flags, q
                predicted[ids], pred_conf[ids] = present[proba.argmax(axis=1)], proba.max(axis=1)
            else:
                info["folds"]["skipped"] = sub["problem"]

        # 4. policy and guards
        original = np.full(n, -1)
        if cfg.issues == "relabel":
            swap = issue & (pred_conf >= cfg.relabel_confidence)
            original[swap], label[swap], source[swap] = gold[swap], predicted[swap], "relabeled"
            _guard(gold, swap, classes, cfg.max_class_loss, "relabel")
        if cfg.issues == "drop":
            _guard(gold, issue, classes, cfg.max_class_loss, "drop")
        info["issues"] = {c: int((issue & (gold == i)).sum()) for i, c in enumerate(classes)}
        info["issues_total"] = int(issue.sum())

        names = np.array([*classes, None], dtype=object)  # index -1 -> None
        out = pl.DataFrame(
            {
                "label.given": given,
                LABEL: pl.Series(names[label].tolist(), dtype=pl.String),
                "label.source": pl.Series(source).replace("", None),
                "label.confidence": confidence,
                "label.predicted": pl.Series(names[predicted].tolist(), dtype=pl.String),
                "label.quality": quality,
                "label.issue": pl.Series(
                    np.where(has & (cfg.issues != "off"), issue, None).tolist(), dtype=pl.Boolean
                ),
                "label.original": pl.Series(names[original].tolist(), dtype=pl.String),
                "label.low_confidence": low,
            }
        ).with_columns(pl.col("label.confidence", "label.quality").fill_nan(None))
        out = pl.concat([df.select(lf_cols), out], how="horizontal")
        self._decisions = ShardDecisions.write(out, dataset, ctx.workdir / "label", 0)
        self._info = info

    def signals(self, df: pl.DataFrame, shard: Shard) -> pl.DataFrame:
        assert self._decisions is not None, "prepare() runs before signals()"
        return self._decisions.attach(df, shard)

    def rules(self) -> list[Rule]:
        rules = []
        if self.config.low_confidence == "reject":
            rules.append(Rule("low_confidence", pl.col("label.low_confidence")))
        if self.config.issues == "drop":
            rules.append(Rule("label_issue", pl.col("label.issue")))
        return rules

    def manifest_extra(self) -> dict:
        return self._info


def _read_for_labels(shard: Shard, dataset: Dataset, lfs: list) -> pl.DataFrame:
    """What the global pass needs of a shard: id, label, cluster and the functions' votes."""
    from curate.label.weak import apply_functions

    df = apply_functions(dataset.read_shard(shard), lfs, TEXT)
    keep = [c for c in (ID, LABEL, CLUSTER) if c in df.columns]
    return df.select(*keep, *(f"label.lf.{f.name}" for f in lfs))


def _features_of(item: tuple[Shard, np.ndarray], dataset: Dataset) -> sp.csr_matrix:
    """The text features of some rows of a shard. Features are per row, so computing them shard
    by shard gives the same matrix as computing them on the whole dataset."""
    from curate.label.issues import text_features

    shard, rows = item
    return text_features(dataset.read_shard(shard, [TEXT])[TEXT].gather(rows))


def _score_rows(item: tuple[Shard, np.ndarray], dataset: Dataset, fitted: Any) -> np.ndarray:
    """Class probabilities of some rows of a shard from a model fitted elsewhere: only this
    shard's features are ever held here."""
    return fitted.predict_proba(_features_of(item, dataset))


def _features(shard: Shard, dataset: Dataset) -> sp.csr_matrix:
    from curate.label.issues import text_features

    return text_features(dataset.read_shard(shard, [TEXT])[TEXT])


def _guard(
    gold: np.ndarray, removed: np.ndarray, classes: list[str], limit: float, policy: str
) -> None:
    for i, c in enumerate(classes):
        rows = int((gold == i).sum())
        lost = int((removed & (gold == i)).sum())
        if rows and lost / rows > limit:
            raise RunError(
                f"label: policy {policy} would take {lost} of {rows} rows of class "
                f"'{c}' ({lost / rows:.0%} > max_class_loss {limit:.0%}); "
                "not writing a dataset that lost a class"
            )
