"""`winnow train` and `winnow predict`: read top to bottom (the configuration, plain values with
their defaults, and dataset reading are in train/config.py, which loads without torch).

1. the classifier: features, a shuffled schedule of examples, SGD with fastText's linear decay,
   held-out metrics at ten points along the way;
2. the byte-level language model: random windows, AdamW, held-out nats per character;
3. writing a run folder atomically, and scoring a dataset with a saved model.

Determinism: everything random draws from `seed` (numpy and torch), and torch runs on `threads`
threads with deterministic algorithms, so on CPU the same data, seed and thread count give the
same metrics.json bytes. Wall-clock figures go to timing.json, never to metrics.json.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch.nn import functional as F

from curate import __version__
from curate.dataset import ID, LABEL, TEXT, Columns
from curate.errors import ConfigError, InputError, OutputError
from train import model as models
from train.config import CURVE_POINTS, TrainConfig, read_dataset
from train.features import FeatureConfig, bags, featurize, gather, idf, weights


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda, but torch sees no CUDA device (use auto or cpu)")
    return torch.device(name)


def _seed_everything(cfg: TrainConfig, device: torch.device) -> np.random.Generator:
    torch.manual_seed(cfg.seed)  # CPU and every CUDA device
    torch.set_num_threads(cfg.threads)
    # On CPU every op used here is deterministic. On CUDA, index_add_ adds with atomics (the
    # order of float additions varies), so GPU runs are close but not bit-identical; asking for
    # deterministic algorithms there would only warn at every step.
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    return np.random.default_rng(cfg.seed)


# --- 1. the classifier -----------------------------------------------------------------------
Bags = tuple[np.ndarray, np.ndarray, np.ndarray]  # buckets, counts, offsets (train.features.bags)


def subset_bags(b: Bags, rows: np.ndarray) -> Bags:
    pos, off = gather(b[2], rows)
    return b[0][pos], b[1][pos], off


@dataclass
class Result:
    """What a training run produced. `item_scores`: one number per held-out item, higher is
    better (correct = 1.0 for classify, minus nats per character for lm); ablations pair them."""

    model: torch.nn.Module
    config: dict  # the model's config (saved beside its weights)
    metrics: dict  # deterministic: metrics.json
    timing: dict  # wall clock: timing.json
    item_scores: np.ndarray = field(repr=False)


def schedule(n: int, examples: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices in training order: whole shuffled passes over the n rows, the last one cut so
    exactly `examples` are seen (a smaller set is repeated more often: equal compute)."""
    passes = -(-examples // n)
    return np.concatenate([rng.permutation(n) for _ in range(passes)])[:examples]


def train_classifier(
    train: pl.DataFrame,
    heldout: pl.DataFrame,
    cfg: TrainConfig,
    progress: Callable[[int, int], None] | None = None,
    cached: tuple[Bags, Bags] | None = None,
) -> Result:
    """`cached`: the (train, held-out) bags from `bags(featurize(...))` when the caller already
    has them (an ablation featurises each arm once, not once per run)."""
    cfg = cfg.with_defaults().validate()
    device = _device(cfg.device)
    rng = _seed_everything(cfg, device)
    t0 = time.perf_counter()
    classes = sorted(train[LABEL].unique().to_list())
    index = {c: i for i, c in enumerate(classes)}
    y = train[LABEL].replace_strict(index, return_dtype=pl.Int64).to_numpy()
    e_y = heldout[LABEL].replace_strict(index, default=-1, return_dtype=pl.Int64).to_numpy()
    if cached is None:
        cached = (
            bags(*featurize(train[TEXT], cfg.features())),
            bags(*featurize(heldout[TEXT], cfg.features())),
        )
    (x_b, x_c, x_off), (h_b, h_c, h_off) = cached
    idf_w = idf(x_b, x_off, cfg.buckets)
    x_w = weights(x_b, x_c, x_off, idf_w)
    ev = (h_b, weights(h_b, h_c, h_off, idf_w), h_off)
    t_features = time.perf_counter() - t0

    model = models.BagClassifier(cfg.buckets, cfg.dim, len(classes)).to(device)
    model.idf.copy_(torch.from_numpy(idf_w))
    table = model.embedding.weight
    table.requires_grad_(False)  # updated sparsely by hand, below
    examples = cfg.examples or math.ceil(cfg.epochs * len(train))
    order = schedule(len(train), examples, rng)
    steps = -(-examples // cfg.batch_size)
    points = {round(k * steps / CURVE_POINTS) for k in range(1, CURVE_POINTS + 1)}
    curve, running, seen = [], [], 0
    t_train = 0.0
    for step in range(steps):
        t = time.perf_counter()
        rows = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        pos, off = gather(x_off, rows)
        idx, w = _tensor(x_b[pos], device), _tensor(x_w[pos], device)
        bag = model.embedding(idx, _tensor(off[:-1], device), per_sample_weights=w)
        bag.requires_grad_(True)
        # summed over the batch: every example moves the weights as in fastText's per-example SGD
        loss = F.cross_entropy(model.linear(bag), _tensor(y[rows], device), reduction="sum")
        loss.backward()
        lr = cfg.lr * (1.0 - step / steps)  # fastText: linear decay to zero
        with torch.no_grad():
            for p in model.linear.parameters():
                p -= lr * p.grad
                p.grad = None
            # the rows of a bag's n-grams, each by its weight: only they change (a sparse step)
            doc = _tensor(np.repeat(np.arange(len(rows)), np.diff(off)), device)
            table.index_add_(0, idx, bag.grad[doc] * (w * -lr)[:, None])
        t_train += time.perf_counter() - t
        running.append(loss.item() / len(rows))
        seen += len(rows)
        if step + 1 in points:
            probs = predict_proba(model, ev, device)
            m = classification_metrics(e_y, probs, classes)
            curve.append(
                {
                    "examples_seen": seen,
                    "train_loss": _r(float(np.mean(running))),
                    "accuracy": m["accuracy"],
                    "log_loss": m["log_loss"],
                }
            )
            running = []
            if progress:
                progress(len(curve), len(points))
    t = time.perf_counter()
    probs = predict_proba(model, ev, device)
    t_eval = time.perf_counter() - t
    metrics = classification_metrics(e_y, probs, classes)
    metrics.update(
        task="classify",
        train_rows=len(train),
        heldout_rows=len(heldout),
        heldout_unknown_labels=int((e_y < 0).sum()),
        examples_seen=seen,
        epochs=_r(seen / len(train)),
        steps=steps,
        curve=curve,
        config=_config_record(cfg),
    )
    config = {
        "task": "classify",
        "dim": cfg.dim,
        "classes": classes,
        "features": cfg.features().as_dict(),
        "winnow_version": __version__,
    }
    timing = _timing(device, t_features, t_train, t_eval, seen, cfg.threads)
    scores = (probs.argmax(1) == e_y).astype(np.float64)
    return Result(model.cpu(), config, metrics, timing, scores)


def _tensor(a: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


def encode(
    texts: pl.Series, features: FeatureConfig, idf_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(buckets, weights, offsets) of each text's bag, weighted with a trained model's idf."""
    b, c, off = bags(*featurize(texts, features))
    return b, weights(b, c, off, idf_w), off


@torch.no_grad()
def predict_proba(
    model: torch.nn.Module, bag: tuple[np.ndarray, np.ndarray, np.ndarray], device: torch.device
) -> np.ndarray:
    b, w, off = bag
    out = []
    for lo in range(0, len(off) - 1, 4096):
        pos, b_off = gather(off, np.arange(lo, min(lo + 4096, len(off) - 1)))
        logits = model(
            _tensor(b[pos], device), _tensor(b_off[:-1], device), _tensor(w[pos], device)
        )
        out.append(torch.softmax(logits.double(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def classification_metrics(y: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro-F1 and log-loss at the top; per-class scores and the confusion matrix
    (rows: true class, columns: predicted) below. A held-out label the model never saw counts as
    an error (its probability is 0, clipped to 1e-15 for the log-loss)."""
    k = len(classes)
    pred = probs.argmax(1)
    known = y >= 0
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y[known], pred[known]), 1)
    p_true = np.where(known, probs[np.arange(len(y)), np.maximum(y, 0)], 0.0)
    per_class, f1s = {}, []
    for i, c in enumerate(classes):
        tp = int(confusion[i, i])
        support = int((y == i).sum())
        predicted = int((pred == i).sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_class[c] = {
            "precision": _r(precision),
            "recall": _r(recall),
            "f1": _r(f1),
            "support": support,
        }
    return {
        "accuracy": _r(float((pred == y).mean()) if len(y) else 0.0),
        "macro_f1": _r(float(np.mean(f1s)) if f1s else 0.0),
        "log_loss": _r(float(-np.log(np.clip(p_true, 1e-15, 1.0)).mean()) if len(y) else 0.0),
        "per_class": per_class,
        "confusion": {"labels": classes, "matrix": confusion.tolist()},
    }


def _r(x: float) -> float:
    return round(float(x), 6)


def _config_record(cfg: TrainConfig) -> dict:
    d = asdict(cfg)
    d["char_ngrams"] = list(cfg.char_ngrams) if cfg.char_ngrams else None
    return d


def _timing(device, t_features, t_train, t_eval, seen, threads) -> dict:
    return {
        "device": str(device),
        "threads": threads,
        "featurize_seconds": round(t_features, 4),
        "train_seconds": round(t_train, 4),
        "eval_seconds": round(t_eval, 4),
        "examples_per_second": round(seen / t_train, 1) if t_train else None,
    }


# --- 2. the byte-level language model --------------------------------------------------------
def _bytes(texts: pl.Series) -> np.ndarray:
    joined = "\n\n".join(t for t in texts.fill_null("").to_list() if t)
    return np.frombuffer(joined.encode("utf-8"), dtype=np.uint8)


def train_lm(
    train: pl.DataFrame,
    heldout: pl.DataFrame,
    cfg: TrainConfig,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Random windows of the training bytes, AdamW with warm-up and cosine decay; held-out loss
    over consecutive windows of the held-out bytes (the same windows for every model, so two
    models' per-window losses pair up)."""
    cfg = cfg.with_defaults().validate()
    device = _device(cfg.device)
    rng = _seed_everything(cfg, device)
    data, ev = _bytes(train[TEXT]), _bytes(heldout[TEXT])[: cfg.eval_bytes + 1]
    if len(data) <= cfg.context + 1 or len(ev) <= cfg.context + 1:
        raise InputError(f"--task lm needs more than {cfg.context + 1} bytes of text in each set")
    config = {
        "task": "lm",
        "dim": cfg.dim,
        "lm": {"layers": cfg.layers, "heads": cfg.heads, "context": cfg.context},
        "winnow_version": __version__,
    }
    model = models.build(config).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=0.1, betas=(0.9, 0.99)
    )
    steps = cfg.examples // cfg.batch_size if cfg.examples else cfg.steps
    warmup = min(100, steps // 10)
    data_t = torch.from_numpy(data.astype(np.int64))
    curve, running, seen, t_train, started = [], [], 0, 0.0, time.perf_counter()
    every = max(1, steps // CURVE_POINTS)
    for step in range(steps):
        t = time.perf_counter()
        lr = cfg.lr * min(1.0, (step + 1) / max(1, warmup))
        lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        starts = torch.from_numpy(rng.integers(0, len(data) - cfg.context - 1, cfg.batch_size))
        window = data_t[starts[:, None] + torch.arange(cfg.context + 1)].to(device)
        logits = model(window[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 256), window[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        t_train += time.perf_counter() - t
        running.append(loss.item())
        seen += cfg.batch_size
        if (step + 1) % every == 0 or step + 1 == steps:
            curve.append({"examples_seen": seen, "train_loss": _r(float(np.mean(running)))})
            running = []
            if progress:
                progress(min(len(curve), CURVE_POINTS), CURVE_POINTS)
        if cfg.max_seconds and time.perf_counter() - started > cfg.max_seconds:
            break
    t = time.perf_counter()
    metrics, scores = lm_metrics(model, ev, cfg.context, device)
    metrics.update(
        task="lm",
        train_bytes=len(data),
        train_rows=len(train),
        heldout_rows=len(heldout),
        examples_seen=seen,
        steps=step + 1,
        curve=curve,
        config=_config_record(cfg),
    )
    timing = _timing(device, 0.0, t_train, time.perf_counter() - t, seen, cfg.threads)
    return Result(model.cpu(), config, metrics, timing, scores)


@torch.no_grad()
def lm_metrics(
    model: torch.nn.Module, ev: np.ndarray, context: int, device: torch.device
) -> tuple[dict, np.ndarray]:
    """Held-out loss in nats per byte (`log_loss`), per character and bits per character, next-byte
    accuracy; per-window scores (minus nats per character) for paired comparisons."""
    model.eval()
    n = (len(ev) - 1) // context
    x = torch.from_numpy(ev[: n * context].astype(np.int64)).view(n, context)
    y = torch.from_numpy(ev[1 : n * context + 1].astype(np.int64)).view(n, context)
    nats, correct = [], 0
    for lo in range(0, n, 64):
        logits = model(x[lo : lo + 64].to(device)).double()
        target = y[lo : lo + 64].to(device)
        nll = F.cross_entropy(logits.reshape(-1, 256), target.reshape(-1), reduction="none")
        nats.append(nll.view(-1, context).sum(1).cpu().numpy())
        correct += int((logits.argmax(-1) == target).sum())
    model.train()
    window_nats = np.concatenate(nats)
    # characters: UTF-8 bytes that start one (continuation bytes are 10xxxxxx)
    chars = ((y.numpy() & 0xC0) != 0x80).sum(1)
    total_nats, total_chars = float(window_nats.sum()), int(chars.sum())
    metrics = {
        "accuracy": _r(correct / (n * context)),
        "log_loss": _r(total_nats / (n * context)),
        "nats_per_char": _r(total_nats / total_chars),
        "bits_per_char": _r(total_nats / total_chars / math.log(2)),
        "heldout_bytes": n * context,
        "heldout_chars": total_chars,
    }
    return metrics, -(window_nats / np.maximum(chars, 1))


def fit(
    train: pl.DataFrame, heldout: pl.DataFrame, cfg: TrainConfig, progress=None, cached=None
) -> Result:
    if cfg.task == "lm":
        return train_lm(train, heldout, cfg, progress)
    return train_classifier(train, heldout, cfg, progress, cached)


# --- 3. run folders and predictions ----------------------------------------------------------
def train_folder(
    train_df: pl.DataFrame,
    eval_df: pl.DataFrame,
    out: Path,
    cfg: TrainConfig,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """`winnow train` after `preflight`: trains, writes OUT/ (model.safetensors, config.json,
    metrics.json, timing.json) atomically. Returns metrics and timing."""
    from curate.atomic import fresh_tmp, replace_atomically

    result = fit(train_df, eval_df, cfg, progress)
    out = Path(out)
    tmp = fresh_tmp(out)
    try:
        models.save(result.model, result.config, tmp)
        _write_json(tmp / "metrics.json", result.metrics)
        _write_json(tmp / "timing.json", result.timing)
        replace_atomically(tmp, out)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"output": str(out), **result.metrics, "timing": result.timing}


def _write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def predict_folder(
    model_dir: Path,
    data: Path,
    out: Path | None,
    columns: Columns = Columns(),
    device: str = "auto",
    threads: int = 1,
) -> dict:
    """`winnow predict`: id, predicted label and its probability for every row of DATA, as one
    Parquet file at OUT; with labels in DATA, the same metrics `train` reports."""
    torch.set_num_threads(threads)
    dev = _device(device)
    model, config = models.load(Path(model_dir), str(dev))
    if config["task"] != "classify":
        raise InputError("predict scores classifiers; this model is a language model", model_dir)
    df = read_dataset(data, columns)
    bag = encode(df[TEXT], FeatureConfig.from_dict(config["features"]), model.idf.cpu().numpy())
    probs = predict_proba(model, bag, dev)
    classes = config["classes"]
    pred = probs.argmax(1)
    preds = pl.DataFrame(
        {
            ID: df[ID],
            "predicted": pl.Series([classes[i] for i in pred], dtype=pl.String),
            "probability": probs[np.arange(len(pred)), pred],
        }
    )
    summary: dict = {"rows": df.height, "model": str(model_dir)}
    if out is not None:
        out = Path(out)
        if out.exists() and out.is_dir():
            raise OutputError("is a folder; --out names the Parquet file to write", out)
        tmp = out.parent / f".{out.name}.tmp"
        preds.write_parquet(tmp)
        tmp.replace(out)
        summary["output"] = str(out)
    if LABEL in df.columns:
        labeled = df[LABEL].is_not_null() & (df[LABEL] != "")
        index = {c: i for i, c in enumerate(classes)}
        y = df.filter(labeled)[LABEL].replace_strict(index, default=-1, return_dtype=pl.Int64)
        m = classification_metrics(y.to_numpy(), probs[labeled.to_numpy()], classes)
        summary.update(accuracy=m["accuracy"], macro_f1=m["macro_f1"], log_loss=m["log_loss"])
        summary["labeled_rows"] = int(labeled.sum())
    summary["predictions"] = preds if out is None else None
    return summary
