"""A trained quality classifier for `filter` (the GPT-3 / DCLM recipe): logistic regression on
hashed word n-grams, fitted to tell reference "good" text from a sample of the input.

The feature map is sklearn's stateless `HashingVectorizer`, so a model is just its parameters plus
one weight vector and an intercept; scoring is `sigmoid(X @ w + b)` and never needs the fitted
estimator. Models are saved as a plain `.npz` (numeric arrays + JSON metadata as uint8) that
`np.load(..., allow_pickle=False)` reads, written byte-for-byte deterministically.

The score is P(looks like the reference rather than the contrast sample). Rows that were in the
contrast sample were learned as "other", so when a dataset is scored by a model trained on a
sample of itself, its good rows score well below 0.5 while still ranking above its junk: pick
`min_quality` from the score distribution (keep the top X%, as DCLM does), not as a fixed 0.5.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.special import expit
from sklearn.feature_extraction.text import HashingVectorizer

from curate.dataset import TEXT, Columns, Dataset
from curate.errors import InputError

FORMAT = "winnow.quality_classifier"
FORMAT_VERSION = 1
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# Fixed by design and saved anyway, so a file made with other settings is refused, not misread.
FIXED_VECTORIZER = {"analyzer": "word", "alternate_sign": False, "norm": "l2", "binary": False}
ARRAYS = ("meta", "coef_index", "coef_value", "intercept")
# Texts are hashed in batches: bounds the sparse matrix of a large shard to a few MB.
BATCH = 4096


class ModelFileError(InputError, ValueError):
    """A missing, truncated or foreign model file: a ValueError, and exit 2 as input error."""


@dataclass(eq=False)
class QualityClassifier:
    n_features: int = 2**20
    ngram_range: tuple[int, int] = (1, 2)
    max_chars: int = 10_000
    lowercase: bool = True
    token_pattern: str = DEFAULT_TOKEN_PATTERN
    # Dense weights over the hashing space (float64: saved exactly, scores round-trip bit-exact).
    coef: np.ndarray | None = None
    intercept: float = 0.0
    # Provenance saved with the model (rows, C, seed...); deterministic, so no timings here.
    info: dict[str, Any] = field(default_factory=dict)
    _vec: HashingVectorizer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.ngram_range = (int(self.ngram_range[0]), int(self.ngram_range[1]))
        lo, hi = self.ngram_range
        if not (isinstance(self.n_features, int) and 1 <= self.n_features < 2**31):
            raise ValueError(f"n_features must be an int in [1, 2**31), got {self.n_features!r}")
        if not 1 <= lo <= hi:
            raise ValueError(f"ngram_range must be (lo, hi) with 1 <= lo <= hi, got {lo, hi}")
        if self.max_chars < 1:
            raise ValueError(f"max_chars must be >= 1, got {self.max_chars}")
        if self.coef is not None and self.coef.shape != (self.n_features,):
            raise ValueError(f"coef must have shape ({self.n_features},), got {self.coef.shape}")

    # ---- features -------------------------------------------------------------------------

    def vectorizer(self) -> HashingVectorizer:
        if self._vec is None:
            self._vec = HashingVectorizer(
                n_features=self.n_features,
                ngram_range=self.ngram_range,
                lowercase=self.lowercase,
                token_pattern=self.token_pattern,
                dtype=np.float64,
                **FIXED_VECTORIZER,
            )
        return self._vec

    def features(self, texts: pl.Series) -> tuple[sp.csr_matrix, np.ndarray]:
        """Hashed rows of the usable texts, and their positions in `texts`.

        Usable = non-null, and at least one word token within the first `max_chars` characters;
        truncating first keeps the cost of one row bounded whatever its length.
        """
        s = _as_strings(texts).str.slice(0, self.max_chars)
        nonblank = (s.str.strip_chars().str.len_chars() > 0).fill_null(False).to_numpy()
        rows = np.flatnonzero(nonblank)
        vec = self.vectorizer()
        parts = [
            vec.transform(s.gather(rows[i : i + BATCH]).to_list())
            for i in range(0, len(rows), BATCH)
        ]
        if not parts:
            return sp.csr_matrix((0, self.n_features)), rows
        X = sp.vstack(parts, format="csr")
        has_tokens = np.diff(X.indptr) > 0
        return X[has_tokens], rows[has_tokens]

    # ---- fit / score ------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        good: pl.Series,
        other: pl.Series,
        seed: int = 0,
        *,
        n_features: int = 2**20,
        ngram_range: tuple[int, int] = (1, 2),
        max_chars: int = 10_000,
        C: float = 16.0,
        max_iter: int = 1000,
    ) -> QualityClassifier:
        """Fits P(good) on good vs other; rows with no word token are skipped (no evidence).

        C defaults high because l2-normalised rows make every feature value small: at sklearn's
        C=1 the penalty lets plentiful unigram evidence drown the bigrams that tell fluent text
        from word salad (measured: shuffled BBC articles passed 0.5 at 79% with C=1, 2% at 16).
        """
        from sklearn.linear_model import LogisticRegression

        model = cls(n_features=n_features, ngram_range=ngram_range, max_chars=max_chars)
        Xg, rg = model.features(good)
        Xo, ro = model.features(other)
        if len(rg) == 0 or len(ro) == 0:
            raise ValueError(
                f"need texts with words on both sides to fit (good: {len(rg)}, other: {len(ro)})"
            )
        X = sp.vstack([Xg, Xo], format="csr")
        y = np.r_[np.ones(len(rg), np.int8), np.zeros(len(ro), np.int8)]
        # liblinear is single-threaded and, with a fixed random_state, deterministic; 'balanced'
        # keeps the decision threshold at 0.5 meaningful when the two samples differ in size.
        lr = LogisticRegression(
            C=C,
            solver="liblinear",
            dual=True,  # n_samples << n_features: the dual is ~10x faster here
            class_weight="balanced",
            random_state=seed,
            max_iter=max_iter,
        )
        lr.fit(X, y)
        model.coef = np.ascontiguousarray(lr.coef_[0], dtype=np.float64)
        model.intercept = float(lr.intercept_[0])
        model.info = {
            "good_rows": len(rg),
            "other_rows": len(ro),
            "skipped_rows": len(good) + len(other) - len(rg) - len(ro),
            "C": C,
            "solver": "liblinear",
            "seed": seed,
        }
        return model

    def score(self, texts: pl.Series) -> np.ndarray:
        """P(good) per row as float64 in [0, 1]; null, blank or wordless rows score 0.0."""
        if self.coef is None:
            raise ValueError("model is not fitted")
        out = np.zeros(len(texts), dtype=np.float64)
        X, rows = self.features(texts)
        if len(rows):
            out[rows] = expit(X @ self.coef + self.intercept)
        return out

    # ---- persistence ------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "n_features": self.n_features,
            "ngram_range": list(self.ngram_range),
            "max_chars": self.max_chars,
            "vectorizer": {
                "lowercase": self.lowercase,
                "token_pattern": self.token_pattern,
                **FIXED_VECTORIZER,
            },
            "info": self.info,
        }

    def save(self, path: str | Path) -> None:
        """Writes the model atomically: a temp file beside `path`, then os.replace."""
        if self.coef is None:
            raise ValueError("model is not fitted")
        path = Path(path)
        meta = json.dumps(self.metadata(), sort_keys=True, separators=(",", ":"))
        # Only the weights of features seen in training are nonzero: store them sparsely.
        index = np.flatnonzero(self.coef).astype(np.int64)
        arrays = {
            "meta": np.frombuffer(meta.encode(), dtype=np.uint8),
            "coef_index": index,
            "coef_value": self.coef[index],
            "intercept": np.array([self.intercept], dtype=np.float64),
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                # A file object, so numpy does not append ".npz" to the temp name; zip entries
                # carry zipfile's fixed 1980 timestamp, so equal arrays give equal bytes.
                np.savez_compressed(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path) -> QualityClassifier:
        path = Path(path)
        if not path.is_file():
            raise ModelFileError("quality model file not found", path)
        try:
            npz = np.load(path, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):  # a bare .npy array
                raise ModelFileError("not a winnow quality model (a single .npy array)", path)
            with npz:
                missing = [k for k in ARRAYS if k not in npz.files]
                if missing:
                    raise ModelFileError(
                        f"not a winnow quality model (no {', '.join(missing)} array)", path
                    )
                arrays = {k: npz[k] for k in ARRAYS}
        except ModelFileError:
            raise
        except Exception as e:  # BadZipFile, EOFError, pickle refusal, zlib errors, ...
            detail = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ModelFileError(f"unreadable quality model ({detail})", path) from None
        return cls._from_arrays(arrays, path)

    @classmethod
    def _from_arrays(cls, a: dict[str, np.ndarray], path: Path) -> QualityClassifier:
        def bad(problem: str) -> ModelFileError:
            return ModelFileError(f"invalid quality model: {problem}", path)

        if a["meta"].dtype != np.uint8 or a["meta"].ndim != 1:
            raise bad("metadata is not a uint8 vector")
        try:
            meta = json.loads(a["meta"].tobytes().decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise bad(f"metadata is not JSON ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise bad(
                f"format is {meta.get('format') if isinstance(meta, dict) else None!r}, "
                f"expected {FORMAT!r}"
            )
        if meta.get("format_version") != FORMAT_VERSION:
            raise bad(
                f"format_version {meta.get('format_version')!r} is not supported "
                f"(this winnow reads {FORMAT_VERSION})"
            )
        vec = meta.get("vectorizer")
        if not isinstance(vec, dict) or any(vec.get(k) != v for k, v in FIXED_VECTORIZER.items()):
            raise bad(f"unsupported vectorizer settings {vec!r}")
        try:
            model = cls(
                n_features=meta["n_features"],
                ngram_range=tuple(meta["ngram_range"]),
                max_chars=meta["max_chars"],
                lowercase=bool(vec["lowercase"]),
                token_pattern=str(vec["token_pattern"]),
                info=dict(meta.get("info") or {}),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise bad(f"bad parameters ({e})") from None
        index, value, intercept = a["coef_index"], a["coef_value"], a["intercept"]
        if index.dtype != np.int64 or value.dtype != np.float64 or intercept.dtype != np.float64:
            raise bad("weight arrays have the wrong dtype")
        if index.ndim != 1 or index.shape != value.shape or intercept.shape != (1,):
            raise bad("weight arrays have the wrong shape")
        if len(index) and (
            index[0] < 0 or index[-1] >= model.n_features or np.any(np.diff(index) <= 0)
        ):
            raise bad("weight indices are out of range or unsorted")
        if not (np.isfinite(value).all() and np.isfinite(intercept).all()):
            raise bad("weights are not finite")
        model.coef = np.zeros(model.n_features, dtype=np.float64)
        model.coef[index] = value
        model.intercept = float(intercept[0])
        return model


def train_quality_model(
    good_path: str | Path,
    other_path: str | Path,
    out_path: str | Path,
    seed: int = 0,
    sample: int = 100_000,
    text_column: str = TEXT,
    **params: Any,
) -> dict[str, Any]:
    """Fits a quality model on (a seeded sample of) two winnow datasets and saves it.

    The saved model is the one fitted on a seeded, stratified 80%; the metrics (AUC, accuracy at
    0.5) are on the other 20%, so they describe exactly the file written. `params` go to `fit`.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    if sample < 1:
        raise ValueError(f"sample must be >= 1, got {sample}")
    cols = Columns(text=text_column)
    # Separate streams: the two samples do not depend on each other's size.
    good = _sample_texts(Dataset.open(good_path, cols), sample, np.random.default_rng([seed, 1]))
    other = _sample_texts(Dataset.open(other_path, cols), sample, np.random.default_rng([seed, 2]))
    texts = pl.concat([good, other])
    y = np.r_[np.ones(len(good), np.int8), np.zeros(len(other), np.int8)]
    if min(len(good), len(other)) < 5:
        raise ValueError(f"too few rows to train (good: {len(good)}, other: {len(other)}); need 5+")
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed, stratify=y)
    train, test = np.sort(train), np.sort(test)  # keeps the fitted rows in dataset order
    t0 = time.perf_counter()
    model = QualityClassifier.fit(
        texts.gather(train.tolist()).filter(pl.Series(y[train] == 1)),
        texts.gather(train.tolist()).filter(pl.Series(y[train] == 0)),
        seed=seed,
        **params,
    )
    fit_s = time.perf_counter() - t0
    p = model.score(texts.gather(test.tolist()))
    auc = float(roc_auc_score(y[test], p))  # stratified with 5+ rows a side: both classes
    acc = float(np.mean((p >= 0.5) == (y[test] == 1)))
    model.info.update(sample=sample, test_rows=len(test), test_auc=auc, test_accuracy=acc)
    model.save(out_path)
    return {
        "model": str(out_path),
        "rows": {
            "good": len(good),
            "other": len(other),
            "train": len(train),
            "test": len(test),
            "skipped_in_fit": model.info["skipped_rows"],
        },
        "auc": auc,
        "accuracy": acc,
        "fit_s": round(fit_s, 3),
        "seed": seed,
    }


def _sample_texts(ds: Dataset, sample: int, rng: np.random.Generator) -> pl.Series:
    """Up to `sample` non-blank texts, picked by global row index; unpicked shards are not read."""
    n = min(sample, ds.rows)
    picks = np.sort(rng.choice(ds.rows, size=n, replace=False)) if n < ds.rows else np.arange(n)
    out, start = [], 0
    for shard in ds.shards:
        local = picks[(picks >= start) & (picks < start + shard.rows)] - start
        start += shard.rows
        if len(local):
            out.append(ds.read_shard(shard, [TEXT])[TEXT].gather(local.tolist()))
    texts = pl.concat(out) if out else pl.Series(TEXT, [], dtype=pl.String)
    # Null and blank rows carry no evidence; left in, they would also skew the held-out metrics.
    return texts.filter((texts.str.strip_chars().str.len_chars() > 0).fill_null(False))


def _as_strings(texts: pl.Series | list) -> pl.Series:
    s = texts if isinstance(texts, pl.Series) else pl.Series(list(texts), dtype=pl.String)
    return s.cast(pl.String)
