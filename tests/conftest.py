"""Shared helpers: run the real `winnow` console script, build small datasets, read outputs."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
WINNOW = Path(sys.executable).parent / "winnow"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def winnow(*args: object, env: dict | None = None, cwd: Path | None = None) -> Result:
    """Runs the installed CLI exactly as a shell script would."""
    proc = subprocess.run(
        [str(WINNOW), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def write_shards(folder: Path, frames: list[pl.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, df in enumerate(frames):
        df.write_parquet(folder / f"part-{i:05d}.parquet")
    return folder


def read_dir(folder: Path) -> pl.DataFrame:
    files = sorted(folder.glob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every Parquet file under data/ and rejected/, by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for sub in ("data", "rejected")
        for p in sorted((folder / sub).glob("*.parquet"))
    }


def leftovers(parent: Path, name: str) -> list[Path]:
    """Anything a failed run left beside or at OUT (temporary folders included)."""
    return [p for p in parent.iterdir() if p.name == name or p.name.startswith(f".{name}.")]


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """Two shards with ids, labels and text that needs cleaning."""
    return write_shards(
        tmp_path / "small",
        [
            pl.DataFrame(
                {
                    "id": ["a", "b", "c"],
                    "text": ["Hello  world\u200b", None, " \t "],
                    "label": ["x", "y", "x"],
                }
            ),
            pl.DataFrame({"id": ["d"], "text": ["Cafe\u0301\r\nok"], "label": ["y"]}),
        ],
    )
