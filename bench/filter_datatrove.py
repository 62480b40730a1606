"""datatrove's Gopher, C4 and FineWeb filters on a JSONL of documents; run by bench/filter.py.

Runs inside the benchmark's own environment, never winnow's (set-up, once):

    python3 -m venv bench/.venv-datatrove
    bench/.venv-datatrove/bin/pip install "datatrove[processing]" "spacy>=3.8"

datatrove >= 0.10 tokenises English with a blank spaCy pipeline (rule-based, no model to
download), which `[processing]` does not install; nothing is downloaded at run time.

The filters run as FineWeb's pipeline runs them: GopherRepetition, GopherQuality, C4Quality
(filter_no_terminal_punct=False), FineWebQuality, in that order, C4 rewriting the text it keeps
(lines it drops) before FineWeb sees it. Every filter sees every document, so each one's verdict is
known; the whole-rule-set time counts only the calls a pipeline makes (up to the first rejection),
each timed as it ran. Each filter is also timed alone, cold, on the first --alone documents.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib.metadata import version

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.utils.text import split_into_parts

NAMES = ("gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality")


def filters() -> list:
    return [
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),  # as FineWeb runs it
        FineWebQualityFilter(),
    ]


def verdict(f, doc: Document) -> str | None:
    """None: kept; else the filter's reason (an exception is a reason too, not a crash)."""
    try:
        out = f.filter(doc)
    except Exception as e:  # a pipeline would die here; record it instead
        return f"error:{type(e).__name__}"
    if out is True:
        return None
    return out[1] if isinstance(out, tuple) else "rejected"


def vm_hwm_mb() -> float:
    """Peak RSS of this process (ru_maxrss would include the parent's RSS at fork)."""
    with open("/proc/self/status") as fh:
        return next(int(x.split()[1]) for x in fh if x.startswith("VmHWM:")) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True, help="JSONL of {id, text}")
    ap.add_argument("--output", required=True)
    ap.add_argument("--alone", type=int, default=300)
    args = ap.parse_args()
    with open(args.input, encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]

    fs = filters()
    warm = Document(text="Warm up the tokenizer. " * 20, id="warm")
    for f in fs:  # spaCy loads on first use: not per-document cost
        verdict(f, Document(text=warm.text, id="warm"))

    verdicts, pipeline_s = [], 0.0
    in_pipeline_s, in_pipeline_n = [0.0] * len(fs), [0] * len(fs)
    for d in docs:
        doc = Document(text=d["text"], id=d["id"])
        row, stopped = [], False
        for k, f in enumerate(fs):
            t = time.perf_counter()
            v = verdict(f, doc)
            dt = time.perf_counter() - t
            if not stopped:  # a pipeline makes this call
                pipeline_s += dt
                in_pipeline_s[k] += dt
                in_pipeline_n[k] += 1
                stopped = v is not None
            row.append(v)
        verdicts.append(row)

    alone = docs[: args.alone]
    alone_s = []
    for f in filters():
        verdict(f, Document(text=warm.text, id="warm"))
        total = 0.0
        for d in alone:
            split_into_parts.cache_clear()  # cold: no tokens left by another filter
            doc = Document(text=d["text"], id=d["id"])
            t = time.perf_counter()
            verdict(f, doc)
            total += time.perf_counter() - t
        alone_s.append(total)

    out = {
        "filters": NAMES,
        "ids": [d["id"] for d in docs],
        "verdicts": verdicts,
        "pipeline_seconds": pipeline_s,
        "in_pipeline_seconds": in_pipeline_s,
        "in_pipeline_docs": in_pipeline_n,
        "alone_docs": len(alone),
        "alone_bytes": sum(len(d["text"].encode()) for d in alone),
        "alone_seconds": alone_s,
        "peak_rss_mb": vm_hwm_mb(),
        "versions": {p: version(p) for p in ("datatrove", "spacy", "nltk")},
    }
    with open(args.output, "w", encoding="utf-8") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
