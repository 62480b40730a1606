"""Reading and writing reports: outputs appear whole (temporary file or folder, then rename)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from curate.atomic import fresh_tmp, replace_atomically
from curate.errors import InputError, OutputError

REPORT_FILES = ("report.json", "report.md", "report.html")


def default_out(source: Path) -> Path:
    """Reports go into the folder they describe (a single .parquet file: its folder)."""
    return source.parent if source.is_file() else source


def write_report(report: dict, out: Path) -> dict[str, Path]:
    """Writes report.json, report.md and report.html into OUT; each file appears whole."""
    from curate.report.render import to_html, to_markdown

    texts = {
        "report.json": json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
        "report.md": to_markdown(report),
        "report.html": to_html(report),
    }
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder", out)
    if not out.exists():  # a new folder: build it beside, rename it into place
        if not out.parent.is_dir():
            raise OutputError("parent folder does not exist", out)
        tmp = fresh_tmp(out)
        for name, text in texts.items():
            (tmp / name).write_text(text, encoding="utf-8")
        replace_atomically(tmp, out)
    else:
        for name, text in texts.items():
            write_text_atomically(out / name, text)
    return {name: out / name for name in texts}


def write_text_atomically(path: Path, text: str) -> None:
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write ({e.strerror})", path) from e


def load_metrics_doc(path: str | Path) -> dict:
    """A report or diff JSON (a file, or a folder holding report.json); any other folder or
    dataset is reported on the fly (nothing written)."""
    p = Path(path)
    if not p.exists():
        raise InputError("does not exist", p)
    if p.is_dir() and (p / "report.json").is_file():
        p = p / "report.json"
    if p.is_file() and p.suffix == ".json":
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise InputError(f"not readable JSON ({e})", p) from e
        if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
            raise InputError("not a winnow report or diff (no 'metrics' object)", p)
        return doc
    from curate.report.build import build_report

    return build_report(p)
