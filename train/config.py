"""What `winnow train` is told: the configuration (plain values with their defaults), reading
datasets and checking the output folder. No torch here: bad options and bad inputs fail in a
fraction of a second, before the model code loads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from curate.dataset import ID, LABEL, TEXT, Columns, Dataset
from curate.errors import ConfigError, InputError, OutputError
from train.features import FeatureConfig

MODEL_FILES = ("config.json", "model.safetensors")

TASKS = ("classify", "lm")
DEVICES = ("auto", "cpu", "cuda")
CURVE_POINTS = 10  # held-out evaluations along a classifier's training


# --- 1. configuration ------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    task: str = "classify"  # classify (needs labels) or lm (byte-level language model)
    dim: int = 0  # 0: the task's default (classify: embedding width 64; lm: model width 128)
    buckets: int = 1 << 20  # hash buckets for word and byte n-grams (classify)
    word_ngrams: int = 2  # 1: unigrams; 2: unigrams and bigrams
    char_ngrams: tuple[int, int] | None = None  # e.g. (3, 5): byte n-grams too
    epochs: float = 5.0  # passes over the training set (classify)
    examples: int | None = None  # examples to see instead of epochs (equal-compute budgets)
    lr: float = 0.0  # 0: the task's default (classify 0.3, lm 0.002)
    batch_size: int = 0  # 0: the default, 32
    threads: int = 1  # torch threads; metrics are reproducible for a given thread count
    device: str = "auto"  # auto (cuda when available), cpu, cuda
    seed: int = 0
    # language model
    steps: int = 2000  # optimizer steps (lm)
    context: int = 128  # bytes of context (lm)
    layers: int = 4
    heads: int = 4
    eval_bytes: int = 200_000  # held-out bytes scored (lm)
    max_seconds: float = 0.0  # > 0: stop training after this long (lm; not reproducible)

    def validate(self) -> TrainConfig:
        checks = [
            (self.task in TASKS, "task", f"one of {', '.join(TASKS)}"),
            (self.device in DEVICES, "device", f"one of {', '.join(DEVICES)}"),
            (self.dim >= 0, "dim", ">= 1 (0: the task's default)"),
            (self.buckets >= 1, "buckets", ">= 1"),
            (self.word_ngrams in (1, 2), "word-ngrams", "1 or 2"),
            (self.epochs > 0, "epochs", "> 0"),
            (self.examples is None or self.examples >= 1, "examples", ">= 1"),
            (self.lr >= 0, "lr", ">= 0"),
            (self.batch_size >= 0, "batch-size", ">= 0"),
            (self.threads >= 1, "threads", ">= 1"),
            (self.steps >= 1, "steps", ">= 1"),
            (self.context >= 2, "context", ">= 2"),
            (self.layers >= 1 and self.heads >= 1, "layers/heads", ">= 1"),
        ]
        if self.char_ngrams is not None:
            lo, hi = self.char_ngrams
            checks.append((1 <= lo <= hi <= 8, "char-ngrams", "LO-HI with 1 <= LO <= HI <= 8"))
        if self.task == "lm" and self.dim:
            checks.append((self.dim % self.heads == 0, "dim", "a multiple of --heads (lm)"))
        for ok, name, allowed in checks:
            if not ok:
                raise ConfigError(f"--{name} must be {allowed}")
        return self

    def with_defaults(self) -> TrainConfig:
        lm = self.task == "lm"
        return replace(
            self,
            dim=self.dim or (128 if lm else 64),
            lr=self.lr or (0.002 if lm else 0.3),
            batch_size=self.batch_size or 32,
        )

    def features(self) -> FeatureConfig:
        return FeatureConfig(self.buckets, self.word_ngrams, self.char_ngrams)


def parse_char_ngrams(value: str | None) -> tuple[int, int] | None:
    """'3-5' -> (3, 5); '' or None -> None."""
    if not value:
        return None
    try:
        lo, _, hi = value.partition("-")
        return int(lo), int(hi or lo)
    except ValueError:
        raise ConfigError(f"--char-ngrams must look like 3-5, got '{value}'") from None


def read_dataset(
    path: Path, columns: Columns = Columns(), need_labels: bool = False
) -> pl.DataFrame:
    """id, text (and label) of every row, in dataset order. With need_labels, a dataset without
    the label column is refused (exit 2) and rows with a null or empty label are left out."""
    ds = Dataset.open(path, columns)
    if need_labels and not ds.has_label:
        raise InputError(
            f"no label column '{columns.label}' (columns: {', '.join(ds.schema.names)}); "
            "--task classify needs labels: pass --label-column, or use --task lm",
            ds.shards[0].path,
        )
    keep = [ID, TEXT] + ([LABEL] if ds.has_label else [])
    df = pl.concat([ds.read_shard(s).select(keep) for s in ds.shards], how="vertical_relaxed")
    if need_labels:
        df = df.filter(pl.col(LABEL).is_not_null() & (pl.col(LABEL) != ""))
        if df.is_empty():
            raise InputError("no row has a label", ds.data_dir)
    return df


def preflight(
    data: Path, heldout: Path, out: Path, cfg: TrainConfig, columns: Columns, force: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Everything checked before training: options, the output folder, both datasets."""
    cfg.validate()
    _check_out(Path(out), force, (Path(data), Path(heldout)))
    classify = cfg.task == "classify"
    return (
        read_dataset(data, columns, need_labels=classify),
        read_dataset(heldout, columns, need_labels=classify),
    )


def _check_out(out: Path, force: bool, inputs: tuple[Path, ...]) -> None:
    for p in inputs:
        if p.exists() and (out.resolve() == p.resolve() or p.resolve() in out.resolve().parents):
            raise OutputError("output folder is an input or inside one", out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not all((out / f).is_file() for f in (*MODEL_FILES, "metrics.json")):
            raise OutputError(
                "exists and is not a winnow train output; refusing to replace it", out
            )
        if not force:
            raise OutputError("exists (an earlier train run); pass --force to replace it", out)
    if not out.parent.exists():
        raise OutputError("parent folder of the output does not exist", out)


def check_safetensors(path: Path) -> None:
    """Refuses anything but a safetensors file (8-byte header length, then a JSON header) before
    torch is even loaded: a pickled checkpoint renamed .safetensors is never unpickled."""
    import json
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(8)
            size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            ok = 0 < size <= min(path.stat().st_size - 8, 100 << 20)
            header = json.loads(f.read(size)) if ok else None
    except (OSError, ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict):
        raise InputError("not a safetensors file; pickled weights are refused", path)
