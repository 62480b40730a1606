"""CI gates: checks on report (or diff) metrics, evaluated once, written as JSON, Markdown, JUnit.

Checks file (DESIGN.md section 5), one `[[check]]` table per check:
```toml
[[check]]
metric = "dedup.near_fraction"
must_be_less_than = 0.05
level = "warn"                 # fail (default) or warn
[[check]]
metric = "rows.kept"
max_decrease = 100             # ratchet against --reference OLD_REPORT
```
Exit codes: 0 passed (warnings allowed), 1 failed, 2 the checks file or an option is wrong
(unknown metric, unknown key, bad comparator), 3 a check could not be evaluated (e.g. the metric
is null) -- 3 wins over 1, since an unevaluated check may hide a failure.
"""

from __future__ import annotations

import difflib
import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.config import load_toml
from curate.errors import EXIT_GATE_FAILED, EXIT_OK, EXIT_RUNTIME, ConfigError

COMPARATORS = {
    "must_be": "==",
    "must_be_less_than": "<",
    "must_be_greater_than": ">",
    "must_be_at_most": "<=",
    "must_be_at_least": ">=",
    "must_be_between": "between",
}
RATCHETS = ("max_increase", "max_decrease")
KEYS = ("metric", "name", "level", "description", *COMPARATORS, *RATCHETS)
LEVELS = ("fail", "warn")
GATE_SCHEMA_VERSION = 1


@dataclass
class Check:
    index: int
    metric: str
    name: str
    level: str = "fail"
    comparator: str | None = None
    expected: Any = None
    ratchets: dict[str, float] = field(default_factory=dict)
    description: str = ""

    def expectation(self) -> str:
        parts = []
        if self.comparator == "must_be_between":
            parts.append(f"between {_num(self.expected[0])} and {_num(self.expected[1])}")
        elif self.comparator is not None:
            parts.append(f"{COMPARATORS[self.comparator]} {_num(self.expected)}")
        if "max_increase" in self.ratchets:
            parts.append(f"rise <= {_num(self.ratchets['max_increase'])} vs reference")
        if "max_decrease" in self.ratchets:
            parts.append(f"fall <= {_num(self.ratchets['max_decrease'])} vs reference")
        return "; ".join(parts)


def _num(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def load_checks(
    path: Path, metrics: dict, reference: dict | None, source: str = "the report"
) -> list[Check]:
    """Parses and validates the checks file against the report's metric ids (ConfigError: 2)."""
    raw = load_toml(path)
    for key in raw:
        if key != "check":
            raise ConfigError(f"unknown key '{key}'; allowed: check (as [[check]] tables)", path)
    entries = raw.get("check")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("no checks: add [[check]] tables with a metric and a comparator", path)
    checks = []
    for i, entry in enumerate(entries, start=1):
        where = f"check {i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a [[check]] table", path)
        for key in entry:
            if key not in KEYS:
                close = difflib.get_close_matches(key, KEYS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(
                    f"{where}: unknown key '{key}'{hint}; allowed: {', '.join(KEYS)}", path
                )
        metric = entry.get("metric")
        if not isinstance(metric, str) or not metric:
            raise ConfigError(
                f"{where}: 'metric' (a metric id such as rows.kept) is required", path
            )
        where = f"check {i} ({metric})"
        if metric not in metrics:
            close = difflib.get_close_matches(metric, list(metrics), n=3)
            hint = f"; similar: {', '.join(close)}" if close else ""
            raise ConfigError(f"{where}: unknown metric '{metric}' (not in {source}){hint}", path)
        level = entry.get("level", "fail")
        if level not in LEVELS:
            raise ConfigError(f"{where}: level must be fail or warn, got {level!r}", path)
        comps = [k for k in entry if k in COMPARATORS]
        ratchets = {k: entry[k] for k in RATCHETS if k in entry}
        if len(comps) > 1:
            raise ConfigError(f"{where}: one comparator per check, got {', '.join(comps)}", path)
        if not comps and not ratchets:
            raise ConfigError(
                f"{where}: no comparator; use one of {', '.join(COMPARATORS)}, "
                "or max_increase / max_decrease",
                path,
            )
        comparator = comps[0] if comps else None
        expected = entry.get(comparator) if comparator else None
        if comparator == "must_be_between":
            if (
                not isinstance(expected, list)
                or len(expected) != 2
                or not all(_is_number(x) for x in expected)
                or expected[0] > expected[1]
            ):
                raise ConfigError(
                    f"{where}: must_be_between takes [low, high], got {expected!r}", path
                )
        elif comparator == "must_be":
            if not (_is_number(expected) or isinstance(expected, bool)):
                raise ConfigError(
                    f"{where}: must_be takes a number or a boolean, got {expected!r}", path
                )
        elif comparator is not None and not _is_number(expected):
            raise ConfigError(f"{where}: {comparator} takes a number, got {expected!r}", path)
        for key, value in ratchets.items():
            if not _is_number(value) or value < 0:
                raise ConfigError(f"{where}: {key} takes a number >= 0, got {value!r}", path)
        if ratchets and reference is None:
            raise ConfigError(
                f"{where}: {' and '.join(ratchets)} compares with a reference report; "
                "pass --reference OLD_REPORT",
                path,
            )
        description = entry.get("description", "")
        name = entry.get("name")
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"{where}: name must be a string", path)
        check = Check(i, metric, "", level, comparator, expected, ratchets, str(description))
        check.name = name or f"{metric} {check.expectation()}"
        checks.append(check)
    return checks


def _value_problem(value: Any, what: str) -> str | None:
    if value is None:
        return f"{what} is null (it could not be computed for this data)"
    if isinstance(value, bool):
        return None
    if not _is_number(value):
        return f"{what} is not a number ({value!r})"
    if not math.isfinite(value):
        return f"{what} is {value}"
    return None


def evaluate_check(check: Check, metrics: dict, reference: dict | None) -> dict:
    value = metrics.get(check.metric)
    result: dict[str, Any] = {
        "name": check.name,
        "metric": check.metric,
        "level": check.level,
        "expected": check.expectation(),
        "value": value if _value_problem(value, "") is None else None,
    }
    if check.description:
        result["description"] = check.description
    problem = _value_problem(value, f"metric '{check.metric}'")
    ref_value = None
    if problem is None and check.ratchets:
        ref_value = (reference or {}).get(check.metric)
        problem = _value_problem(ref_value, f"reference value of '{check.metric}'")
        if problem is None:
            result["reference"] = ref_value
            result["delta"] = float(value) - float(ref_value)
    if problem is not None:
        return {**result, "status": "error", "message": problem}
    failures = []
    c, e = check.comparator, check.expected
    ok = True
    if c == "must_be":
        ok = (
            value == e
            if isinstance(e, bool) or isinstance(value, bool)
            else math.isclose(value, e, rel_tol=1e-9, abs_tol=1e-12)
        )
    elif c == "must_be_less_than":
        ok = value < e
    elif c == "must_be_greater_than":
        ok = value > e
    elif c == "must_be_at_most":
        ok = value <= e
    elif c == "must_be_at_least":
        ok = value >= e
    elif c == "must_be_between":
        ok = e[0] <= value <= e[1]
    if not ok:
        failures.append(f"{_num(value)} is not {check.expectation().split('; ')[0]}")
    delta = result.get("delta")
    if "max_increase" in check.ratchets and delta > check.ratchets["max_increase"] + 1e-12:
        failures.append(
            f"rose by {_num(delta)} from {_num(ref_value)} (at most "
            f"{_num(check.ratchets['max_increase'])} allowed)"
        )
    if "max_decrease" in check.ratchets and -delta > check.ratchets["max_decrease"] + 1e-12:
        failures.append(
            f"fell by {_num(-delta)} from {_num(ref_value)} (at most "
            f"{_num(check.ratchets['max_decrease'])} allowed)"
        )
    if not failures:
        return {**result, "status": "passed", "message": f"{_num(value)} ok"}
    status = "failed" if check.level == "fail" else "warned"
    return {**result, "status": status, "message": "; ".join(failures)}


def run_gate(
    doc: dict,
    checks_path: Path,
    reference: dict | None = None,
    fail_on: str = "fail",
    source: str = "the report",
    reference_source: str | None = None,
) -> dict:
    """One evaluation of every check; the result dict feeds every output format."""
    if fail_on not in LEVELS:
        raise ConfigError(f"--fail-on must be fail or warn, got '{fail_on}'")
    metrics = doc["metrics"]
    ref_metrics = reference["metrics"] if reference is not None else None
    checks = load_checks(checks_path, metrics, ref_metrics, source)
    results = [evaluate_check(c, metrics, ref_metrics) for c in checks]
    counts = {
        s: sum(r["status"] == s for r in results) for s in ("passed", "warned", "failed", "error")
    }
    if counts["error"]:
        status, code = "error", EXIT_RUNTIME
    elif counts["failed"] or (fail_on == "warn" and counts["warned"]):
        status, code = "failed", EXIT_GATE_FAILED
    else:
        status, code = "passed", EXIT_OK
    return {
        "schema_version": GATE_SCHEMA_VERSION,
        "kind": "gate",
        "status": status,
        "exit_code": code,
        "fail_on": fail_on,
        "source": source,
        "checks_file": str(checks_path),
        "reference": reference_source,
        "counts": counts,
        "checks": results,
    }


ICONS = {"passed": "✅ pass", "warned": "⚠️ warn", "failed": "❌ fail", "error": "💥 error"}


def to_markdown(result: dict) -> str:
    c = result["counts"]
    head = {"passed": "✅ passed", "failed": "❌ failed", "error": "💥 could not evaluate"}
    lines = [
        f"### winnow gate: {head[result['status']]}",
        "",
        f"{c['passed']} passed, {c['warned']} warnings, {c['failed']} failed, "
        f"{c['error']} errors; checks `{result['checks_file']}` on `{result['source']}`"
        + (f" (reference `{result['reference']}`)" if result["reference"] else ""),
        "",
        "| | check | value | expected | result |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for r in result["checks"]:
        value = "-" if r["value"] is None else _num(r["value"])
        lines.append(
            f"| {ICONS[r['status']]} | {_cell(r['name'])} | {value} | {_cell(r['expected'])} | "
            f"{_cell(r['message'])} |"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_junit(result: dict) -> str:
    """JUnit XML: one testcase per check; failed = <failure>, could not evaluate = <error>;
    a warning passes (or fails with --fail-on warn) and says so in <system-out>."""
    c = result["counts"]
    warn_fails = result["fail_on"] == "warn"
    failures = c["failed"] + (c["warned"] if warn_fails else 0)
    attrs = {
        "name": "winnow gate",
        "tests": str(len(result["checks"])),
        "failures": str(failures),
        "errors": str(c["error"]),
        "skipped": "0",
    }
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(
        root, "testsuite", {**attrs, "name": f"winnow gate: {result['checks_file']}"}
    )
    for r in result["checks"]:
        case = ET.SubElement(suite, "testcase", {"classname": "winnow.gate", "name": r["name"]})
        detail = f"metric {r['metric']} = {r['value']}; expected {r['expected']}"
        if r["status"] == "failed" or (r["status"] == "warned" and warn_fails):
            el = ET.SubElement(case, "failure", {"message": r["message"], "type": r["level"]})
            el.text = detail
        elif r["status"] == "error":
            el = ET.SubElement(case, "error", {"message": r["message"], "type": "evaluation"})
            el.text = detail
        out = ET.SubElement(case, "system-out")
        out.text = ("warning: " if r["status"] == "warned" else "") + f"{r['message']} ({detail})"
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False) + "\n"
