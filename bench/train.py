"""Trainer benchmark (`make bench-train`): one command, three measurements, peers side by side.

1. BBC News (2,225 articles; exact duplicates removed, then an 80/20 split stratified by label):
   winnow's classifier vs scikit-learn TfidfVectorizer(ngram_range=(1, 2)) + LogisticRegression,
   and fastText (its wheel lives in bench/.venv-fasttext; skipped with a note when absent). Train
   time is vectorise + fit, the median of --repeats runs, all on one thread in this process
   (fastText in its own, thread=1).
2. The noisy ablation: BBC articles with exact and near duplicates, junk, other-language rows and
   20% flipped labels (curate.sample.build_bbc_noisy); the raw arm is that set, the curated arm
   the output of the recipe below over it; `winnow ablate` with its defaults, --workers 2,
   held-out = the clean 20% split. The plot is copied to docs/ablation-bbc-noisy.png (no BBC text).
3. `--task lm` on ~1 MB of BBC text for ~3 minutes with nanoGPT's CPU settings (context 64,
   batch 12, 4 layers, 4 heads, width 128): held-out nats per character, against nanoGPT's 1.88
   on Shakespeare.

BBC text is copyright: everything derived from it goes to bench/.cache/ (git-ignored).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache" / "train"
FASTTEXT_PY = ROOT / "bench" / ".venv-fasttext" / "bin" / "python"
WINNOW = Path(sys.executable).parent / "winnow"
NANOGPT_CPU_NATS = 1.88  # nanoGPT README: shakespeare_char on a CPU, ~3 minutes

CURATE_RECIPE = """\
# the curated arm of the noisy ablation: written by bench/train.py beside the data
[input]
path = "raw/shards"
truth = "raw/truth.csv"
[run]
seed = 0
workers = 2
[[stage]]
use = "clean"
[[stage]]
use = "dedup"
[[stage]]
use = "filter"
preset = "web"
languages = ["en"]
[[stage]]
use = "label"
issues = "drop"
"""


def fasttext_worker(folder: str) -> None:
    """Runs inside bench/.venv-fasttext: trains on folder/train.txt, scores folder/test.txt."""
    import fasttext

    with open(f"{folder}/test.txt") as f:
        tests = [line.rstrip("\n").split(" ", 1) for line in f]
    times, acc = [], 0.0
    for _ in range(int(sys.argv[3])):
        t = time.perf_counter()
        model = fasttext.train_supervised(
            f"{folder}/train.txt", epoch=25, lr=1.0, wordNgrams=2, dim=64, thread=1, verbose=0
        )
        times.append(time.perf_counter() - t)
        pred = [model.predict(text)[0][0] for _, text in tests]
        acc = sum(p == y for p, (y, _) in zip(pred, tests, strict=True)) / len(tests)
    print(json.dumps({"seconds": times, "accuracy": acc, "pred": pred}))


def bbc_split():
    import numpy as np
    import polars as pl
    from sklearn.model_selection import train_test_split

    from curate.sample import read_bbc

    docs = read_bbc()
    df = pl.DataFrame(
        {"id": [d[0] for d in docs], "label": [d[1] for d in docs], "text": [d[2] for d in docs]}
    )
    df = df.with_columns(key=pl.col("text").str.replace_all(r"\s+", " ").str.strip_chars()).unique(
        "key", keep="first", maintain_order=True
    )
    tr, te = train_test_split(
        np.arange(df.height), test_size=0.2, stratify=df["label"].to_numpy(), random_state=0
    )
    return df[np.sort(tr)].drop("key"), df[np.sort(te)].drop("key")


def macro_f1(y, pred) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, average="macro"))


def bench_classifiers(repeats: int) -> list[dict]:
    import numpy as np
    import torch
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from train.config import TrainConfig
    from train.trainer import train_classifier

    torch.set_num_threads(1)
    train, test = bbc_split()
    y_test = test["label"].to_numpy()
    print(f"BBC News: {train.height} training, {test.height} held-out articles", file=sys.stderr)
    rows = []

    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = train_classifier(train, test, TrainConfig())
        times.append(time.perf_counter() - t)
    classes = r.config["classes"]
    from train.features import FeatureConfig
    from train.trainer import encode, predict_proba

    bag = encode(test["text"], FeatureConfig.from_dict(r.config["features"]), r.model.idf.numpy())
    pred = np.array(classes)[predict_proba(r.model, bag, torch.device("cpu")).argmax(1)]
    rows.append(_row("winnow train (dim 64, 5 epochs, 1 thread)", y_test, pred, times))

    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        vec = TfidfVectorizer(ngram_range=(1, 2))
        x = vec.fit_transform(train["text"].to_list())
        clf = LogisticRegression(max_iter=1000).fit(x, train["label"].to_numpy())
        times.append(time.perf_counter() - t)
    pred = clf.predict(vec.transform(test["text"].to_list()))
    rows.append(_row("TF-IDF 1-2 grams + LogisticRegression", y_test, pred, times))

    ft = _fasttext(train, test, repeats)
    if ft is not None:
        rows.append(_row("fastText (25 epochs, 1-2 grams, dim 64, 1 thread)", y_test, *ft))
    base = rows[1]
    for r in rows:
        r["seconds_vs_tfidf"] = round(r["seconds"] / base["seconds"], 3)
        r["accuracy_minus_tfidf_points"] = round(100 * (r["accuracy"] - base["accuracy"]), 2)
    return rows


def _row(name, y, pred, times) -> dict:
    import numpy as np

    return {
        "method": name,
        "accuracy": round(float(np.mean(np.asarray(pred) == y)), 4),
        "macro_f1": round(macro_f1(y, pred), 4),
        "seconds": round(statistics.median(times), 3),
        "seconds_all": [round(t, 3) for t in times],
    }


def _fasttext(train, test, repeats):
    import numpy as np

    probe = [str(FASTTEXT_PY), "-c", "import fasttext"]
    if not FASTTEXT_PY.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
        print(
            "fastText: skipped (no wheel in bench/.venv-fasttext; `make bench-train` tries "
            "to install fasttext-wheel there)",
            file=sys.stderr,
        )
        return None
    folder = CACHE / "fasttext"
    folder.mkdir(parents=True, exist_ok=True)

    def line(label, text):  # fastText's usual preparation: one line, lower case, punctuation apart
        text = re.sub(r"([.,!?;:()\"'])", r" \1 ", text.lower())
        return f"__label__{label} {' '.join(text.split())}\n"

    for name, df in (("train", train), ("test", test)):
        lines = [line(lab, t) for lab, t in zip(df["label"], df["text"], strict=True)]
        if name == "train":  # fastText reads in file order: sorted by class, it learns nothing
            random.Random(0).shuffle(lines)
        with open(folder / f"{name}.txt", "w") as f:
            f.writelines(lines)
    out = subprocess.run(
        [str(FASTTEXT_PY), __file__, "--fasttext-worker", str(folder), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    res = json.loads(out.stdout)
    pred = np.array([p.removeprefix("__label__") for p in res["pred"]])
    return pred, res["seconds"]


def bench_features(repeats: int) -> dict:
    """winnow's featuriser (numpy over the Arrow buffer) vs the same features built by a Python
    loop per token (lower, split on non-word characters, hash each unigram and bigram)."""
    import polars as pl
    import xxhash

    from curate.sample import read_bbc
    from train.features import FeatureConfig, featurize

    texts = [d[2] for d in read_bbc()]
    series = pl.Series(texts)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    word = re.compile(r"\w+")

    def loop(texts, buckets=1 << 20):
        out = []
        for t in texts:
            words = word.findall(t.lower())
            grams = words + [a + " " + b for a, b in itertools.pairwise(words)]
            out.append([xxhash.xxh3_64_intdigest(g.encode()) % buckets for g in grams])
        return out

    times = {"winnow": [], "loop": []}
    for _ in range(repeats):
        t = time.perf_counter()
        idx, _off = featurize(series, FeatureConfig())
        times["winnow"].append(time.perf_counter() - t)
        t = time.perf_counter()
        n_loop = sum(map(len, loop(texts)))
        times["loop"].append(time.perf_counter() - t)
    w, lp = statistics.median(times["winnow"]), statistics.median(times["loop"])
    return {"docs": len(texts), "mb": round(mb, 2), "features": len(idx),
            "features_loop": n_loop, "winnow_seconds": round(w, 3), "loop_seconds": round(lp, 3),
            "winnow_mb_per_s": round(mb / w, 1), "speedup": round(lp / w, 2)}  # fmt: skip


def bench_ablation(workers: int) -> dict:
    from curate.sample import build_bbc_noisy

    folder = CACHE / "noisy"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t = time.perf_counter()
    built = build_bbc_noisy(folder)
    t_build = time.perf_counter() - t
    (folder / "recipe.toml").write_text(CURATE_RECIPE)
    t = time.perf_counter()
    subprocess.run(
        [str(WINNOW), "run", str(folder / "recipe.toml"), "--out", str(folder / "curated"), "-q"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    t_curate = time.perf_counter() - t
    t = time.perf_counter()
    cmd = [
        str(WINNOW), "ablate", "--arm", f"raw={folder / 'raw' / 'shards'}",
        "--arm", f"curated={folder / 'curated' / '04-label'}", "--eval", str(folder / "heldout"),
        "--workers", str(workers), "--out", str(folder / "ablate"), "--json", "--quiet",
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    t_ablate = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the ablation and its workers
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = json.loads(out.stdout)
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    shutil.copyfile(folder / "ablate" / "learning_curve.png", docs / "ablation-bbc-noisy.png")
    summary_md = (folder / "ablate" / "summary.md").read_text()
    (docs / "ablation-bbc-noisy.md").write_text(summary_md.replace(str(ROOT) + "/", ""))
    return {
        "built": built,
        "seconds": {
            "build": round(t_build, 1),
            "curate": round(t_curate, 1),
            "ablate": round(t_ablate, 1),
            "ablate_cpu": round(cpu, 1),
        },
        "verdict": summary["verdict"],
        "comparisons": summary["comparisons"],
        "table": summary["table"],
        "overlap": summary["overlap"],
        "runs": summary["runs"],
    }


def bench_lm(seconds: float, train_bytes: int) -> dict:
    import polars as pl

    from train.config import TrainConfig
    from train.trainer import train_lm

    train, test = bbc_split()
    texts = train["text"].to_list()
    size, k = 0, 0
    while k < len(texts) and size < train_bytes:
        size += len(texts[k].encode()) + 2
        k += 1
    cfg = TrainConfig(
        task="lm", context=64, batch_size=12, dim=128, layers=4, heads=4, lr=1e-3,
        steps=2000, eval_bytes=100_000, max_seconds=seconds, threads=1,
    )  # fmt: skip
    t = time.perf_counter()
    r = train_lm(pl.DataFrame({"text": texts[:k]}), test.select("text"), cfg)
    return {
        "train_bytes": r.metrics["train_bytes"],
        "heldout_bytes": r.metrics["heldout_bytes"],
        "steps": r.metrics["steps"],
        "seconds": round(time.perf_counter() - t, 1),
        "nats_per_char": r.metrics["nats_per_char"],
        "bits_per_char": r.metrics["bits_per_char"],
        "nanogpt_cpu_nats_per_char": NANOGPT_CPU_NATS,
        "curve": r.metrics["curve"],
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--fasttext-worker":
        fasttext_worker(sys.argv[2])
        return
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lm-seconds", type=float, default=180.0)
    ap.add_argument("--lm-bytes", type=int, default=1_000_000)
    ap.add_argument("--skip", default="", help="comma-separated: classify, features, ablation, lm")
    ap.add_argument("--json", type=Path, help="write all figures here")
    args = ap.parse_args()
    skip = set(args.skip.split(","))
    results: dict = {"date": time.strftime("%Y-%m-%d"), "cpus": _cpus()}
    if "classify" not in skip:
        rows = bench_classifiers(args.repeats)
        results["classify"] = rows
        print("\n| method | accuracy | macro-F1 | train s (median) | time / TF-IDF ", end="")
        print("| accuracy - TF-IDF |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            print(
                f"| {r['method']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['seconds']:.2f} "
                f"| {r['seconds_vs_tfidf']:.2f}x | {r['accuracy_minus_tfidf_points']:+.2f} points |"
            )
        w, tf = rows[0], rows[1]
        acc_ok = w["accuracy"] >= tf["accuracy"] - 0.005
        print(
            f"\ntargets: accuracy >= TF-IDF - 0.5 points: {'met' if acc_ok else 'NOT met'}; "
            f"train time <= TF-IDF: {'met' if w['seconds'] <= tf['seconds'] else 'NOT met'}"
        )
    if "features" not in skip:
        f = bench_features(args.repeats)
        results["features"] = f
        print(
            f"\nfeaturise {f['docs']:,} articles ({f['mb']} MB, {f['features']:,} word 1-2-grams): "
            f"winnow {f['winnow_seconds']} s ({f['winnow_mb_per_s']} MB/s), Python loop per token "
            f"{f['loop_seconds']} s: {f['speedup']}x"
        )
    if "ablation" not in skip:
        a = bench_ablation(args.workers)
        results["ablation"] = a
        s = a["seconds"]
        print(f"\nnoisy ablation ({a['runs']} runs): {a['verdict']}")
        print(
            f"seconds: build {s['build']}, curate {s['curate']}, ablate {s['ablate']} wall, "
            f"{s['ablate_cpu']} CPU (user + sys, all processes: {s['ablate_cpu'] / 2:.0f} s on two "
            f"idle cores at best); target: ablate < 180 s on 2 cores; "
            "plot: docs/ablation-bbc-noisy.png"
        )
    if "lm" not in skip:
        lm = bench_lm(args.lm_seconds, args.lm_bytes)
        results["lm"] = lm
        print(
            f"\n--task lm: {lm['train_bytes']:,} training bytes, {lm['steps']} steps in "
            f"{lm['seconds']} s: held-out {lm['nats_per_char']:.3f} nats/char "
            f"({lm['bits_per_char']:.3f} bits/char); nanoGPT's CPU char model: {NANOGPT_CPU_NATS}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
