"""Shared by the report, gate, diff and HTML tests: one real run of the sample recipe per session
(the slow part, ~10 s), reports of it made by the CLI, and the report JSON Schema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from tests.conftest import ROOT, SAMPLE, winnow

SCHEMA = ROOT / "curate" / "report" / "report.schema.json"
_made: dict[str, Path] = {}


def sample_run(factory) -> Path:
    """RUN folder of `winnow run sample_data/recipe.toml` (made once per session)."""
    if "run" not in _made:
        run = factory.mktemp("sample-run") / "run"
        res = winnow("run", SAMPLE / "recipe.toml", "--out", run, "-q")
        assert res.code == 0, res.stderr
        _made["run"] = run
    return _made["run"]


def report_of(factory, source: Path, key: str) -> Path:
    """Folder holding report.json/.md/.html of SOURCE, made by `winnow report --out`."""
    name, key = key, f"report:{key}"
    if key not in _made:
        out = factory.mktemp(f"report-{name}") / "report"
        res = winnow("report", source, "--out", out, "-q")
        assert res.code == 0, res.stderr
        _made[key] = out
    return _made[key]


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())


@cache
def validator():
    import jsonschema

    schema = load(SCHEMA)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)
