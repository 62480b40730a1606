"""Recipes: a TOML file naming the input and the stages in order (DESIGN.md section 4).

```toml
[input]
path = "shards"            # relative to the recipe file
[run]
out = "runs/sample"        # default: runs/<recipe name>, relative to the working directory
[[stage]]
use = "clean"              # a stage from curate.stages.STAGES; other keys are its parameters
```
Each stage writes `RUN/NN-<name>/`; a stage whose input and config are unchanged is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from curate import __version__
from curate.config import build, load_toml
from curate.dataset import Columns, Dataset
from curate.errors import ConfigError, OutputError
from curate.lock import FolderLock
from curate.report.recipe_sections import AfterRun, parse_after_run, report_and_gate
from curate.stage import Progress, RunOptions, Stage, StageResult, is_winnow_output, run_stage
from curate.stages import STAGES
from curate.truth import load_truth, score

TOP_LEVEL = ("input", "run", "stage", "report", "gate")
RUN_FILE = "run.json"


@dataclass(frozen=True)
class InputSection:
    path: str = ""
    """The dataset: a folder of Parquet shards, relative to the recipe file."""
    text_column: str = "text"
    id_column: str = "id"
    label_column: str = "label"
    truth: str = ""
    """Optional truth file (id, noise, source_id): the run then scores what each stage caught."""

    def validate(self) -> None:
        if not self.path:
            raise ValueError("'path' is required")


@dataclass(frozen=True)
class RunSection:
    out: str = ""
    """Run folder (relative to the recipe file); empty means runs/<recipe name> in the cwd."""
    seed: int = 0
    workers: int = 1
    executor: Literal["local", "ray"] = "local"
    """local: this machine (`workers` processes); ray: a Ray cluster (see ray_address)."""
    ray_address: str = ""
    """executor = "ray": the cluster's address ("auto", "ray://head:10001"); empty starts a
    local Ray cluster of `workers` CPUs for the run."""
    fingerprint: Literal["sha256", "stat"] = "sha256"


@dataclass
class Recipe:
    path: Path
    input: Path
    columns: Columns
    run: RunSection
    stages: list[tuple[str, Stage]]
    truth: Path | None = None
    after_run: AfterRun | None = None
    """[report] / [gate]: the report and the gate evaluated once the stages are done."""

    def default_out(self) -> Path:
        if self.run.out:
            return self.path.parent / self.run.out
        return Path("runs") / self.path.stem


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    raw = load_toml(path)
    for key in raw:
        if key not in TOP_LEVEL:
            raise ConfigError(f"unknown key '{key}'; allowed: {', '.join(TOP_LEVEL)}", path)
    if "input" not in raw:
        raise ConfigError("missing [input] table (path of the dataset)", path)
    inp = build(InputSection, raw["input"], "input", path)
    run = build(RunSection, raw.get("run", {}), "run", path)
    entries = raw.get("stage", [])
    if not isinstance(entries, list) or not entries:
        raise ConfigError('no stages: add at least one [[stage]] table with use = "..."', path)
    stages, seen = [], set()
    for i, entry in enumerate(entries, start=1):
        params = dict(entry)
        use = params.pop("use", None)
        if use not in STAGES:
            raise ConfigError(
                f"stage {i}: unknown stage {use!r}; available: {', '.join(STAGES)}", path
            )
        name = params.pop("name", use)
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ConfigError(f"stage {i}: name must be letters, digits, '_', '.', '-'", path)
        folder = f"{i:02d}-{name}"
        if folder in seen:
            raise ConfigError(f"stage {i}: duplicate stage name '{name}'", path)
        seen.add(folder)
        cls = STAGES[use]
        stages.append((folder, cls(build(cls.config_class, params, f"stage.{name}", path))))
    columns = Columns(text=inp.text_column, id=inp.id_column, label=inp.label_column)
    truth = path.parent / inp.truth if inp.truth else None
    after_run = parse_after_run(raw, path)
    return Recipe(path, path.parent / inp.path, columns, run, stages, truth, after_run)


@dataclass
class RunResult:
    out: Path
    stages: list[tuple[str, StageResult]]
    truth_score: list[dict] | None = None
    after_run: dict | None = None
    """What [report] / [gate] produced: the report path and the gate result."""

    def summary(self) -> list[dict]:
        return [r.summary_row(folder) for folder, r in self.stages]


def run_recipe(
    recipe: Recipe,
    out: Path | None = None,
    options: RunOptions | None = None,
    progress: Progress | None = None,
) -> RunResult:
    out = Path(out) if out is not None else recipe.default_out()
    r = recipe.run
    options = options or RunOptions(
        seed=r.seed,
        workers=r.workers,
        executor=r.executor,
        fingerprint=r.fingerprint,
        ray_address=r.ray_address,
    )
    # bad input fails before the run folder exists
    truth = load_truth(recipe.truth) if recipe.truth is not None else None
    Dataset.open(recipe.input, recipe.columns)
    _claim_run_folder(out, recipe)
    # one run per folder at a time: a second one exits 2 and touches nothing
    with FolderLock(out, "run folder"):
        return _run_stages(recipe, out, options, progress, truth)


def _run_stages(
    recipe: Recipe,
    out: Path,
    options: RunOptions,
    progress: Progress | None,
    truth: Any,
) -> RunResult:
    """The stages in order; each one skips itself when up to date and resumes the work of an
    interrupted run (curate/resume.py), so a killed run started again redoes only what was
    unfinished."""
    _drop_stale_stages(out, {folder for folder, _ in recipe.stages})
    _write_run_file(out, recipe, "running", [])
    results: list[tuple[str, StageResult]] = []
    source = recipe.input
    for i, (folder, stage) in enumerate(recipe.stages):
        # the first stage maps the user's columns; later ones read canonical stage outputs
        opts = replace(options, columns=recipe.columns if i == 0 else Columns(), force=True)
        result = run_stage(stage, source, out / folder, opts, progress)
        results.append((folder, result))
        source = out / folder
    run = RunResult(out=out, stages=results)
    if truth is not None:
        run.truth_score = score([out / folder for folder, _ in recipe.stages], truth)
    _write_run_file(out, recipe, "complete", run.summary(), run.truth_score)
    if recipe.after_run is not None:
        run.after_run = report_and_gate(recipe.after_run, out, progress)
    return run


def _claim_run_folder(out: Path, recipe: Recipe) -> None:
    if out.exists():
        if not out.is_dir() or (any(out.iterdir()) and not (out / RUN_FILE).is_file()):
            raise OutputError(
                "run folder exists and is not a winnow run; refusing to write into it", out
            )
    elif not out.parent.exists():
        out.parent.mkdir(parents=True)
    src = recipe.input.resolve()
    if out.resolve() == src or src in out.resolve().parents or out.resolve() in src.parents:
        raise OutputError("run folder overlaps the input dataset", out)
    out.mkdir(exist_ok=True)


def _drop_stale_stages(out: Path, keep: set[str]) -> None:
    for d in out.iterdir():  # interrupted work of stages no longer in the recipe
        m = re.fullmatch(r"\.(\d\d-.+)\.partial", d.name)
        if d.is_dir() and m and m.group(1) not in keep:
            shutil.rmtree(d)
    for d in out.iterdir():
        if (
            d.is_dir()
            and re.fullmatch(r"\d\d-.+", d.name)
            and d.name not in keep
            and is_winnow_output(d)
        ):
            shutil.rmtree(d)


def _write_run_file(
    out: Path,
    recipe: Recipe,
    status: str,
    summary: list[dict],
    truth_score: list[dict] | None = None,
) -> None:
    doc = {
        "schema_version": 1,
        "winnow_version": __version__,
        "recipe": str(recipe.path),
        "input": str(recipe.input),
        "status": status,
        "stages": [folder for folder, _ in recipe.stages],
        "summary": summary,
    }
    if truth_score is not None:
        doc["truth"] = {"file": str(recipe.truth), "by_noise": truth_score}
    tmp = out / f".{RUN_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out / RUN_FILE)
