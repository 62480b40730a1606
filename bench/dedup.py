"""Dedup benchmark: winnow versus datasketch and rensa on the same BBC-derived corpus.

    python bench/dedup.py                 # 50,000 documents (make bench-dedup)
    python bench/dedup.py --docs 10000    # quicker

Every method runs in its own process (so peak RSS is its own) on the same documents with the
same parameters: 128 permutations, 5-word shingles on normalised text, threshold 0.8. Peers are
used as their documentation shows: datasketch `MinHash.update` per shingle + `MinHashLSH`, rensa
`RMinHash.update(shingles)` + `RMinHashLSH(num_bands=16)`; their LSH candidates are their answer.

Quality is pair precision and recall against exact Jaccard on shingle sets: the truth pairs are
every pair with Jaccard >= 0.8 inside a group of documents derived from one original (brute
force), plus every pair any method reported that has Jaccard >= 0.8. Precision: the fraction of a
method's reported pairs at Jaccard >= 0.8. Recall: the fraction of truth pairs whose two documents
the method put in one cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import peak_rss_mb  # noqa: E402

from curate.dedup.shingles import shingle_hashes  # noqa: E402
from curate.dedup.tokens import token_hashes  # noqa: E402

NUM_PERM, NGRAM, THRESHOLD = 128, 5, 0.8
METHODS = ("winnow-1", "winnow-2", "winnow-minhash-1", "rensa", "datasketch")


def corpus(docs: int, cache: Path) -> Path:
    from curate.sample import build_sample_folder

    folder = cache / f"bbc-{docs}"
    if not (folder / "sample.json").is_file():
        print(f"building the BBC corpus ({docs:,} docs) in {folder}", file=sys.stderr)
        build_sample_folder(folder, source="bbc", rows=docs, shards=16, seed=0, force=True)
    return folder


def load(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "shards" / "*.parquet", columns=["id", "text"])


# -- one method, in its own process ----------------------------------------------------------


def run_winnow(folder: Path, workers: int, scheme: str) -> tuple[float, np.ndarray, np.ndarray]:
    from curate.dedup import DedupConfig, DedupStage
    from curate.stage import RunOptions, run_stage

    stage = DedupStage(DedupConfig(signature=scheme))
    stage.keep_pairs = True  # the edges, for pair precision
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        run_stage(stage, folder / "shards", Path(tmp) / "out", RunOptions(workers=workers))
        elapsed = time.perf_counter() - t
        out = pl.concat(
            [
                pl.read_parquet(
                    Path(tmp) / "out" / p / "*.parquet", columns=["id", "dedup.cluster"]
                )
                for p in ("data", "rejected")
            ]
        )
    # ids only: the texts would count in winnow's peak RSS, and winnow never held them
    ids = pl.read_parquet(folder / "shards" / "*.parquet", columns=["id"])["id"]
    index = pl.DataFrame({"id": ids, "i": np.arange(len(ids))})
    cluster = (
        index.join(out, on="id", maintain_order="left")
        .join(
            index.rename({"id": "dedup.cluster", "i": "c"}),
            on="dedup.cluster",
            maintain_order="left",
        )["c"]
        .to_numpy()
    )
    return elapsed, stage.pairs, cluster


WORD = re.compile(r"[^\W_]+")  # letters and digits: the words winnow's tokenizer finds


def shingle_strings(texts: pl.Series) -> list[list[str]]:
    """5-word shingles as strings, the way the peers' documentation builds them."""
    out = []
    for t in texts.to_list():
        w = WORD.findall(t.lower())
        out.append([" ".join(w[i : i + NGRAM]) for i in range(max(1, len(w) - NGRAM + 1))])
    return out


def run_datasketch(texts: pl.Series) -> tuple[float, np.ndarray]:
    from datasketch import MinHash, MinHashLSH

    t = time.perf_counter()  # from raw text, like every method: shingling is part of the job
    shingles = shingle_strings(texts)
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    sigs = []
    for i, sh in enumerate(shingles):
        m = MinHash(num_perm=NUM_PERM)
        for s in sh:
            m.update(s.encode("utf8"))
        lsh.insert(i, m)
        sigs.append(m)
    pairs = [(i, j) for i, m in enumerate(sigs) for j in lsh.query(m) if j > i]
    return time.perf_counter() - t, np.array(pairs, dtype=np.int64).reshape(-1, 2)


def run_rensa(texts: pl.Series) -> tuple[float, np.ndarray]:
    from rensa import RMinHash, RMinHashLSH

    t = time.perf_counter()
    shingles = shingle_strings(texts)
    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=16)
    sigs = []
    for i, sh in enumerate(shingles):
        m = RMinHash(num_perm=NUM_PERM, seed=42)
        m.update(sh)
        lsh.insert(i, m)
        sigs.append(m)
    pairs = [(i, j) for i, m in enumerate(sigs) for j in lsh.query(m) if j > i]
    return time.perf_counter() - t, np.array(pairs, dtype=np.int64).reshape(-1, 2)


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(g, directed=False)[1]


def child(method: str, folder: Path, result: Path) -> None:
    if method.startswith("winnow"):  # reads its shards itself: no texts held beside it
        workers = int(method.rsplit("-", 1)[1])
        scheme = "minhash" if "minhash" in method else "oph"
        elapsed, pairs, cluster = run_winnow(folder, workers, scheme)
    else:  # the peers take a list of texts: loaded before their clock starts
        texts = load(folder)["text"]
        elapsed, pairs = (run_rensa if method == "rensa" else run_datasketch)(texts)
        cluster = components(len(texts), pairs)
    np.save(result.with_suffix(".pairs.npy"), pairs)
    np.save(result.with_suffix(".cluster.npy"), cluster)
    result.write_text(json.dumps({"seconds": elapsed, "peak_rss_mb": peak_rss_mb()}))


# -- truth and scoring -------------------------------------------------------------------------


class Jaccard:
    """Exact Jaccard of 5-word shingle sets, from the same normalisation every method used."""

    def __init__(self, texts: pl.Series):
        words, offsets = token_hashes(texts.str.to_lowercase())
        self.sh, self.off = shingle_hashes(words, offsets, NGRAM)
        self.cache: dict[int, np.ndarray] = {}

    def set_of(self, d: int) -> np.ndarray:
        if d not in self.cache:
            self.cache[d] = np.unique(self.sh[self.off[d] : self.off[d + 1]])
        return self.cache[d]

    def __call__(self, pairs: np.ndarray) -> np.ndarray:
        out = np.empty(len(pairs))
        for k, (a, b) in enumerate(pairs.tolist()):
            x, y = self.set_of(a), self.set_of(b)
            inter = len(np.intersect1d(x, y, assume_unique=True))
            out[k] = inter / (len(x) + len(y) - inter)
        return out


def truth_pairs(folder: Path, ids: list[str], jac: Jaccard) -> set[tuple[int, int]]:
    truth = pl.read_csv(folder / "truth.csv", infer_schema=False)
    index = {v: i for i, v in enumerate(ids)}
    root = {r["id"]: (r["source_id"] or r["id"]) for r in truth.iter_rows(named=True)}
    groups: dict[str, list[int]] = {}
    for doc_id, r in root.items():
        groups.setdefault(r, []).append(index[doc_id])
    pairs = [
        (a, b) for g in groups.values() for i, a in enumerate(sorted(g)) for b in sorted(g)[i + 1 :]
    ]
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return {tuple(p) for p in arr[jac(arr) >= THRESHOLD].tolist()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / ".cache")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per method (median reported); methods slower than 60 s run once",
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.folder, args.result)
        return

    args.cache.mkdir(parents=True, exist_ok=True)
    folder = corpus(args.docs, args.cache)
    data = load(folder)
    mb = data["text"].str.len_bytes().sum() / 1e6
    runs: dict[str, dict] = {}
    times: dict[str, list[float]] = {}
    methods = args.methods.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        # rounds interleave the methods, so a slow spell of this (noisy) machine hits them all
        for rnd in range(args.repeat):
            for method in methods:
                if rnd and min(times[method]) > 60:
                    continue  # slow peers run once
                print(f"running {method} (round {rnd + 1}) ...", file=sys.stderr, flush=True)
                result = Path(tmp) / f"{method}.json"
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        method,
                        "--folder",
                        str(folder),
                        "--result",
                        str(result),
                    ],
                    check=True,
                    env={**os.environ, "PYTHONHASHSEED": "0"},
                )
                out = json.loads(result.read_text())
                times.setdefault(method, []).append(out["seconds"])
                if method not in runs:  # outputs are deterministic: the first run's are scored
                    runs[method] = {
                        **out,
                        "pairs": np.load(result.with_suffix(".pairs.npy")),
                        "cluster": np.load(result.with_suffix(".cluster.npy")),
                    }
                runs[method]["peak_rss_mb"] = max(runs[method]["peak_rss_mb"], out["peak_rss_mb"])
    for method, r in runs.items():
        r["seconds"] = float(np.median(times[method]))
        r["runs"] = len(times[method])
        r["all_seconds"] = [round(t, 2) for t in times[method]]
    print("scoring against exact Jaccard ...", file=sys.stderr, flush=True)
    jac = Jaccard(data["text"])
    truth = truth_pairs(folder, data["id"].to_list(), jac)
    for r in runs.values():
        if len(r["pairs"]):
            r["sim"] = jac(r["pairs"])
            truth |= {tuple(p) for p in r["pairs"][r["sim"] >= THRESHOLD].tolist()}
    t = np.array(sorted(truth), dtype=np.int64).reshape(-1, 2)
    rows = []
    for name, r in runs.items():
        c = r["cluster"]
        precision = float(np.mean(r["sim"] >= THRESHOLD)) if len(r["pairs"]) else 1.0
        recall = float(np.mean(c[t[:, 0]] == c[t[:, 1]])) if len(t) else 1.0
        rows.append(
            {
                "method": name,
                "seconds": round(r["seconds"], 2),
                "docs_per_s": round(len(data) / r["seconds"]),
                "mb_per_s": round(mb / r["seconds"], 2),
                "peak_rss_mb": round(r["peak_rss_mb"]),
                "pairs": len(r["pairs"]),
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "runs": r["runs"],
                "all_seconds": r["all_seconds"],
            }
        )
    report(rows, len(data), mb, len(t), args.json)


def report(rows: list[dict], docs: int, mb: float, truth: int, path: Path | None) -> None:
    by = {r["method"]: r for r in rows}
    print(
        f"\ndedup benchmark: {docs:,} BBC-derived docs, {mb:.1f} MB, 128 perms, 5-word "
        f"shingles, threshold 0.8; {truth:,} truth pairs; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    print(
        "| method | seconds (median) | runs | docs/s | MB/s | peak RSS MB | reported pairs "
        "| precision | recall |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['method']} | {r['seconds']} | {r['runs']} | {r['docs_per_s']:,} | "
            f"{r['mb_per_s']} | {r['peak_rss_mb']:,} | {r['pairs']:,} | {r['precision']} | "
            f"{r['recall']} |"
        )
    ratios = {}
    for a, b in [
        ("winnow-1", "datasketch"),
        ("winnow-1", "rensa"),
        ("winnow-2", "winnow-1"),
        ("winnow-minhash-1", "rensa"),
    ]:
        if a in by and b in by:
            ratios[f"{a} / {b}"] = round(by[a]["docs_per_s"] / by[b]["docs_per_s"], 2)
    print("\nthroughput ratios: " + ", ".join(f"{k} = {v}x" for k, v in ratios.items()))
    if "winnow-1" in by and "winnow-2" in by:  # per round: both ran in the same minute
        paired = [
            a / b
            for a, b in zip(
                by["winnow-1"]["all_seconds"], by["winnow-2"]["all_seconds"], strict=True
            )
        ]
        ratios["winnow-2 / winnow-1 per round"] = [round(x, 2) for x in paired]
        print(
            f"winnow-2 / winnow-1 per round: median {np.median(paired):.2f}x "
            f"(range {min(paired):.2f}-{max(paired):.2f}x over {len(paired)} rounds)"
        )
    if path:
        path.write_text(
            json.dumps(
                {"docs": docs, "mb": mb, "truth_pairs": truth, "rows": rows, "ratios": ratios},
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
