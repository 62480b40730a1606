"""Peak memory and throughput of `winnow report` on ~1 GB of text.

    python bench/report_memory.py            # make bench-report
    python bench/report_memory.py --json bench/results-report.json

The corpus: `winnow sample --source bbc --rows 450000 --shards 64` (BBC News articles, exact
and near copies; ~1.0 GB of text, ~460 MB of Parquet), cached in bench/.cache/bbc-1g and reused
when another benchmark already built it (its sample.json says it is complete). A second input is
that corpus after `winnow clean` (a stage output: data/ with signal columns, rejected/, manifest),
cached beside it.

Each report runs as its own `winnow report` process; its peak RSS is the kernel's ru_maxrss of
that child from wait4 (this parent imports only the standard library, so the fork-time floor the
kernel applies is ~15 MB), cross-checked by polling the child's VmHWM. The target: < 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
WINNOW = Path(sys.executable).parent / "winnow"
ROWS, SHARDS = 450_000, 64
LIMIT_MB = 1024


def corpus() -> Path:
    folder = CACHE / "bbc-1g"
    if not (folder / "sample.json").is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"building {folder} (once) ...", file=sys.stderr)
        subprocess.run(
            [
                WINNOW,
                "sample",
                folder,
                "--source",
                "bbc",
                "--rows",
                str(ROWS),
                "--shards",
                str(SHARDS),
                "--force",
                "-q",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return folder / "shards"


def cleaned(shards: Path) -> Path:
    out = CACHE / "bbc-1g-clean"
    if not (out / "manifest.json").is_file():
        print(f"building {out} (once: winnow clean) ...", file=sys.stderr)
        subprocess.run(
            [WINNOW, "clean", shards, out, "--workers", "2", "--force", "-q"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return out


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(x.split()[1]) for x in fh if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0


def measure(source: Path, out: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [WINNOW, "report", source, "--out", out, "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    polled = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        polled = max(polled, _hwm_kb(proc.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"winnow report failed: {proc.stderr.read().decode()}")
    metrics = json.loads((out / "report.json").read_text())["metrics"]
    chars = metrics["chars.input"]
    data = source / "data" if (source / "data").is_dir() else source
    disk = sum(p.stat().st_size for p in data.parent.rglob("*.parquet") if p.is_file())
    return {
        "input": str(source.relative_to(ROOT)),
        "rows": metrics["rows.input"],
        "text_mb": round(chars / 1e6, 1),  # characters (the text is nearly all ASCII)
        "parquet_mb": round(disk / 1e6, 1),
        "metrics": len(metrics),
        "seconds": round(seconds, 2),
        "mb_per_s": round(chars / 1e6 / seconds, 1),
        "peak_rss_mb": round(max(usage.ru_maxrss, polled) / 1024, 1),
        "peak_rss_mb_polled": round(polled / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--no-clean", action="store_true", help="skip the stage-output input")
    args = ap.parse_args()
    shards = corpus()
    inputs = [shards] + ([] if args.no_clean else [cleaned(shards)])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, src in enumerate(inputs):
            results.append(measure(src, Path(tmp) / f"report-{i}"))
    print("| input | rows | text MB | Parquet MB | seconds | MB/s | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['input']} | {r['rows']:,} | {r['text_mb']:,} | {r['parquet_mb']:,} | "
            f"{r['seconds']} | {r['mb_per_s']} | {r['peak_rss_mb']} |"
        )
    worst = max(r["peak_rss_mb"] for r in results)
    verdict = "below" if worst < LIMIT_MB else "ABOVE"
    print(f"peak RSS {worst} MB: {verdict} the {LIMIT_MB} MB target")
    if args.json:
        doc = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"),
            "limit_mb": LIMIT_MB,
            "results": results,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    if worst >= LIMIT_MB:
        sys.exit(1)


if __name__ == "__main__":
    main()
