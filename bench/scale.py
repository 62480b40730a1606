"""The whole sample recipe (clean -> dedup -> filter -> label) at scale: MB/s end to end, peak
memory of the process tree, and scaling from 1 to 2 workers and to Ray, on the same data.

    python bench/scale.py                         # make bench-scale: ~1 GB, w1 w2 ray
    python bench/scale.py --configs w2            # one configuration
    python bench/scale.py --rows 50000 --shards 16 --configs w1,w2,ray   # a 110 MB subset

The corpus: `winnow sample --source bbc --rows 450000 --shards 64` (BBC News articles with exact
and near copies; ~1.0 GB of text, ~460 MB of Parquet), cached in bench/.cache/bbc-1g and reused
when another benchmark already built it (its sample.json says it is complete).

The recipe is sample_data/recipe.toml's stages with parameters suited to news articles (dedup on
word 5-grams, filter preset web with English only, labeling functions for BBC's classes), label
issues flagged as in the sample recipe (label-error detection fits its cross-validated models on
at most `fit_rows` = 50,000 rows and scores the rest; `--issues off` leaves it out).

Each configuration is one `winnow run` process in a fresh run folder. Memory is sampled every
0.2 s over the whole process tree (winnow, its spawned workers, or Ray's raylet, object store
and workers): the peak of the summed RSS (an upper bound: shared pages count once per process)
and of the summed PSS (shared pages split between their users). MB/s = text bytes in / wall s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
WINNOW = Path(sys.executable).parent / "winnow"
CONFIGS = {
    "w1": ["--workers", "1"],
    "w2": ["--workers", "2"],
    "ray": ["--workers", "2", "--executor", "ray"],
}

RECIPE = """\
[input]
path = "{shards}"

[run]
seed = 0

[[stage]]
use = "clean"

[[stage]]
use = "dedup"
ngram = 5                # articles: word 5-grams (the sample's glosses use 1)
threshold = 0.8

[[stage]]
use = "filter"
preset = "web"
languages = ["en"]

[[stage]]
use = "label"
issues = "{issues}"
[[stage.functions]]
name = "sport_words"
label = "sport"
kind = "keywords"
keywords = ["match", "coach", "championship", "tournament", "goal"]
[[stage.functions]]
name = "tech_words"
label = "tech"
kind = "keywords"
keywords = ["software", "broadband", "mobile phone", "internet", "gadget"]
[[stage.functions]]
name = "politics_words"
label = "politics"
kind = "regex"
pattern = "(?i)\\\\b(?:labour|tories|election|minister|parliament)\\\\b"
"""


def corpus(rows: int, shards: int) -> Path:
    folder = CACHE / ("bbc-1g" if (rows, shards) == (450_000, 64) else f"bbc-{rows}")
    made = folder / "sample.json"
    if not made.is_file() or json.loads(made.read_text()).get("shards") != shards:
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"building {folder} (once) ...", file=sys.stderr)
        cmd = [WINNOW, "sample", folder, "--source", "bbc", "--rows", str(rows)]
        cmd += ["--shards", str(shards), "--force", "-q"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return folder / "shards"


def text_bytes(shards: Path) -> int:
    import polars as pl

    return int(
        pl.scan_parquet(shards / "*.parquet")
        .select(pl.col("text").str.len_bytes().sum())
        .collect()
        .item()
    )


# --- memory of a process tree, from /proc ------------------------------------------------------


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def _kb(path: str, key: str) -> int:
    try:
        with open(path) as fh:
            return next((int(x.split()[1]) for x in fh if x.startswith(key)), 0)
    except OSError:
        return 0


def _stage_running(run: Path) -> str:
    try:
        names = sorted(p.name for p in run.iterdir() if p.name.endswith(".partial"))
    except OSError:
        return "start"
    return names[-1].strip(".").removesuffix(".partial") if names else "between"


def run_tree(cmd: list, env: dict, run: Path) -> dict:
    """Runs cmd; wall seconds and peak summed RSS / PSS (MB) of its process tree, overall and
    per stage (the stage whose work folder exists at the time)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak_rss = peak_pss = 0
    procs = 0
    by_stage: dict[str, list[float]] = {}
    while proc.poll() is None:
        pids = _tree(proc.pid)
        procs = max(procs, len(pids))
        rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids)
        pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        at = by_stage.setdefault(_stage_running(run), [0, 0])
        at[0], at[1] = max(at[0], rss / 1024), max(at[1], pss / 1024)
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    return {
        "seconds": time.perf_counter() - t0,
        "peak_tree_rss_mb": peak_rss / 1024,
        "peak_tree_pss_mb": peak_pss / 1024,
        "processes": procs,
        "peak_rss_pss_mb_by_stage": {k: [round(a), round(b)] for k, (a, b) in by_stage.items()},
        "stdout": out.decode(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=450_000)
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument("--configs", default="w1,w2,ray", help="comma-separated: w1, w2, ray")
    ap.add_argument("--issues", default="flag", help="the label stage's issues setting")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    shards = corpus(args.rows, args.shards)
    mb = text_bytes(shards) / 1e6
    parquet_mb = sum(p.stat().st_size for p in shards.glob("*.parquet")) / 1e6
    work = CACHE / "scale"
    work.mkdir(parents=True, exist_ok=True)
    recipe = work / "recipe.toml"
    recipe.write_text(RECIPE.format(shards=shards, issues=args.issues))
    env = {**os.environ, "RAY_DEDUP_LOGS": "0"}
    rows = []
    for name in args.configs.split(","):
        out = work / f"run-{name}"
        shutil.rmtree(out, ignore_errors=True)
        print(f"{name}: winnow run ({mb:,.0f} MB of text) ...", file=sys.stderr)
        cmd = [WINNOW, "run", recipe, "--out", out, "--json", "-q", *CONFIGS[name]]
        r = run_tree(cmd, env, out)
        stages = json.loads(r.pop("stdout"))["stages"]
        r.update(
            config=name,
            mb_per_s=mb / r["seconds"],
            stage_seconds={s["stage"]: s["seconds"] for s in stages},
            rows={s["stage"]: [s["input"], s["kept"]] for s in stages},
        )
        rows.append(r)
        print(json.dumps({k: v for k, v in r.items() if k != "rows"}), file=sys.stderr)
    base = next((r for r in rows if r["config"] == "w1"), None)
    print(f"\n{mb:,.0f} MB of text ({parquet_mb:,.0f} MB Parquet, {args.shards} shards), ", end="")
    print(f"{os.cpu_count()} CPUs, label issues = {args.issues}\n")
    print(
        "| config | seconds | MB/s | speed-up vs w1 | peak tree RSS MB | peak tree PSS MB | "
        "clean s | dedup s | filter s | label s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        s = list(r["stage_seconds"].values())
        up = f"{base['seconds'] / r['seconds']:.2f}x" if base else "-"
        print(
            f"| {r['config']} | {r['seconds']:.0f} | {r['mb_per_s']:.2f} | {up} | "
            f"{r['peak_tree_rss_mb']:,.0f} | {r['peak_tree_pss_mb']:,.0f} | "
            + " | ".join(f"{x:.0f}" for x in s)
            + " |"
        )
    print("\npeak tree RSS / PSS MB while each stage ran:")
    for r in rows:
        by = r["peak_rss_pss_mb_by_stage"]
        print(f"- {r['config']}: " + ", ".join(f"{k} {a:,}/{b:,}" for k, (a, b) in by.items()))
    if args.json:
        doc = {
            "text_mb": mb,
            "parquet_mb": parquet_mb,
            "shards": args.shards,
            "rows": args.rows,
            "cpus": os.cpu_count(),
            "machine": platform.platform(),
            "label_issues": args.issues,
            "results": rows,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
