"""The [report] and [gate] tables of a recipe: after its stages, `winnow run` writes the report
into the run folder and evaluates the gate (exit 1 when it fails).

```toml
[report]                   # optional; implied by [gate]
samples = 5                # rejected rows shown per reason
[gate]
checks = "checks.toml"     # relative to the recipe file
reference = ""             # optional earlier report.json for max_increase / max_decrease
fail_on = "fail"           # or "warn": warnings fail the run too
```
Outputs: RUN/report.json, report.md, report.html; RUN/gate.json, gate.md, gate.junit.xml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from curate.config import build

SECTIONS = ("report", "gate")
GATE_FILES = {"json": "gate.json", "markdown": "gate.md", "junit": "gate.junit.xml"}


@dataclass(frozen=True)
class ReportSection:
    samples: int = 5
    """Rejected rows shown per reason in the report."""

    def validate(self) -> None:
        if self.samples < 0:
            raise ValueError("samples must be >= 0")


@dataclass(frozen=True)
class GateSection:
    checks: str = ""
    """Checks file (TOML, [[check]] tables), relative to the recipe file. Required."""
    reference: str = ""
    """Optional earlier report.json (relative to the recipe) for max_increase / max_decrease."""
    fail_on: Literal["fail", "warn"] = "fail"

    def validate(self) -> None:
        if not self.checks:
            raise ValueError("'checks' (the checks file) is required")


@dataclass(frozen=True)
class AfterRun:
    """What a recipe asks for once its stages are done."""

    report: ReportSection
    gate: GateSection | None
    base: Path  # the recipe's folder: relative paths start here

    @property
    def checks(self) -> Path | None:
        return self.base / self.gate.checks if self.gate else None


def parse_after_run(raw: dict, path: Path) -> AfterRun | None:
    """[report] / [gate] of a recipe (None when it has neither); checked when the recipe loads."""
    from curate.errors import ConfigError

    if not any(k in raw for k in SECTIONS):
        return None
    report = build(ReportSection, raw.get("report", {}), "report", path)
    gate = build(GateSection, raw["gate"], "gate", path) if "gate" in raw else None
    after = AfterRun(report, gate, path.parent)
    if gate is not None:
        for what, rel in (("checks", gate.checks), ("reference", gate.reference)):
            if rel and not (path.parent / rel).is_file():
                raise ConfigError(f"gate.{what}: {path.parent / rel} does not exist", path)
    return after


def report_and_gate(after: AfterRun, run: Path, progress=None) -> dict:
    """Writes the run's report, then evaluates the gate on it; returns what happened."""
    from curate import gate as g
    from curate.report.build import build_report
    from curate.report.files import load_metrics_doc, write_report, write_text_atomically

    doc = build_report(run, samples=after.report.samples, progress=progress)
    paths = write_report(doc, run)
    done: dict = {"report": str(paths["report.html"]), "gate": None}
    if after.gate is None:
        return done
    reference = after.base / after.gate.reference if after.gate.reference else None
    result = g.run_gate(
        doc,
        after.checks,
        load_metrics_doc(reference) if reference else None,
        after.gate.fail_on,
        source=str(run / "report.json"),
        reference_source=str(reference) if reference else None,
    )
    write_text_atomically(run / GATE_FILES["json"], g.to_json(result))
    write_text_atomically(run / GATE_FILES["markdown"], g.to_markdown(result))
    write_text_atomically(run / GATE_FILES["junit"], g.to_junit(result))
    done["gate"] = result
    return done
