"""`label`: labeling functions and a label model, model-assisted labels, label-error detection.

Global pass (`prepare`), because every decision needs the whole dataset:
1. labeling functions vote on every row (per shard, on the executor); majority vote and a
   Dawid-Skene label model aggregate the votes; with gold labels present the better one on them
   is used, otherwise the label model;
2. rows with a given label keep it; rows without one take the aggregated vote; the rest are
   labeled by a classifier trained on the labeled rows, with a confidence;
3. rows with a given label get out-of-fold predicted probabilities (folds grouped by
   `dedup.cluster`) and confident learning flags likely wrong labels;
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

    def validate(self) -> None:
        from curate.label.weak import parse_functions

        parse_functions(self.functions, "label.functions")
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")
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
        # per shard, on the executor: the functions' votes and the text features, so the text
        # itself never travels here (at 1 GB it would be 1 GB of this process's memory)
        # (label-error detection always needs the features; assist only if a row has no label)
        early = cfg.issues != "off"
        parts = ctx.map(_read_for_labels, dataset.shards, dataset, lfs, early)
        frames = [frame for frame, _ in parts]
        df = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
        X_all = sp.vstack([x for _, x in parts], format="csr") if early and parts else None
        del parts, frames

        def features() -> sp.csr_matrix:
            nonlocal X_all
            if X_all is None:
                X_all = sp.vstack(ctx.map(_features, dataset.shards, dataset), format="csr")
            return X_all

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
                X = features()
                ids = np.flatnonzero(check)
                present, y = np.unique(gold[check], return_inverse=True)
                proba = li.out_of_fold_proba(
                    X[ids], y, None if groups is None else groups[check], cfg.folds, ctx.seed
                )
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


def _read_for_labels(
    shard: Shard, dataset: Dataset, lfs: list, features: bool
) -> tuple[pl.DataFrame, sp.csr_matrix | None]:
    """What the global pass needs of a shard: id, label, cluster, the functions' votes and (when
    a model is trained) the text features. Features are per row, so computing them shard by
    shard gives the same matrix as computing them on the whole dataset."""
    from curate.label.issues import text_features
    from curate.label.weak import apply_functions

    df = apply_functions(dataset.read_shard(shard), lfs, TEXT)
    X = text_features(df[TEXT]) if features else None
    keep = [c for c in (ID, LABEL, CLUSTER) if c in df.columns]
    return df.select(*keep, *(f"label.lf.{f.name}" for f in lfs)), X


def _features(shard: Shard, dataset: Dataset) -> sp.csr_matrix:
    from curate.label.issues import text_features

    return text_features(dataset.read_shard(shard)[TEXT])


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
