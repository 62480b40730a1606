"""`winnow gate` on real reports of the sample data: every exit code, warn vs fail, --fail-on
warn, the ratchet against a reference report, and the JUnit XML, JSON and Markdown it writes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import SAMPLE, winnow
from tests.report_helpers import load, report_of, sample_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return sample_run(tmp_path_factory)


@pytest.fixture(scope="module")
def report(tmp_path_factory, run):
    return report_of(tmp_path_factory, run, "run") / "report.json"


@pytest.fixture(scope="module")
def older(tmp_path_factory, run):
    """A reference: the report of the run as it was after dedup (more rows kept)."""
    return report_of(tmp_path_factory, run / "02-dedup", "dedup") / "report.json"


def checks(tmp_path, text: str, name: str = "checks.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def gate(report, checks_file, tmp_path, *extra):
    out = tmp_path / "out"
    res = winnow(
        "gate",
        report,
        "--checks",
        checks_file,
        "--json",
        out / "gate.json",
        "--markdown",
        out / "gate.md",
        "--junit",
        out / "junit.xml",
        *extra,
    )
    return res, out


def junit_cases(path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return {case.get("name"): case for case in root.iter("testcase")}


def test_sample_checks_pass_and_every_output_comes_from_one_evaluation(report, tmp_path):
    res, out = gate(report, SAMPLE / "checks.toml", tmp_path)
    assert res.code == 0, res.stdout + res.stderr
    assert "gate passed" in res.stdout
    result = load(out / "gate.json")
    n = len(result["checks"])
    assert result["status"] == "passed" and result["exit_code"] == 0 and n >= 8
    assert all(c["status"] == "passed" for c in result["checks"])
    cases = junit_cases(out / "junit.xml")
    assert list(cases) == [c["name"] for c in result["checks"]]
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite.get("tests") == str(n) and suite.get("failures") == "0"
    assert not any(c.find("failure") is not None for c in cases.values())
    md = (out / "gate.md").read_text()
    assert "passed" in md.splitlines()[0] and md.count("| ✅ pass |") == n
    # the run folder works too (its report.json, or one made on the fly)
    res = winnow("gate", report.parent, "--checks", SAMPLE / "checks.toml", "--json", "-")
    assert res.code == 0 and json.loads(res.stdout)["counts"]["passed"] == n


def test_fail_and_warn_levels(report, tmp_path):
    text = """
[[check]]
metric = "rows.kept"
must_be_greater_than = 1000000
name = "enough rows"

[[check]]
metric = "dedup.near_fraction"
must_be_less_than = 0.01
level = "warn"

[[check]]
metric = "label.classes"
must_be = 5
"""
    res, out = gate(report, checks(tmp_path, text), tmp_path)
    assert res.code == 1, res.stdout + res.stderr
    result = load(out / "gate.json")
    assert [c["status"] for c in result["checks"]] == ["failed", "warned", "passed"]
    assert result["counts"] == {"passed": 1, "warned": 1, "failed": 1, "error": 0}
    cases = junit_cases(out / "junit.xml")
    failure = cases["enough rows"].find("failure")
    assert failure is not None and "is not > 1000000" in failure.get("message")
    warned = cases["dedup.near_fraction < 0.01"]
    assert warned.find("failure") is None and "warning" in warned.find("system-out").text
    assert "❌ fail" in (out / "gate.md").read_text()

    # a warning alone passes ...
    only_warn = checks(
        tmp_path, text.split("[[check]]", 2)[0] + "[[check]]" + text.split("[[check]]")[2]
    )
    res, out = gate(report, only_warn, tmp_path)
    assert res.code == 0 and load(out / "gate.json")["counts"]["warned"] == 1
    # ... unless warnings fail the gate
    res, out = gate(report, only_warn, tmp_path, "--fail-on", "warn")
    assert res.code == 1 and load(out / "gate.json")["status"] == "failed"
    case = junit_cases(out / "junit.xml")["dedup.near_fraction < 0.01"]
    assert case.find("failure") is not None


def test_ratchet_against_a_reference_report(report, older, tmp_path):
    kept_now, kept_before = (
        load(report)["metrics"]["rows.kept"],
        load(older)["metrics"]["rows.kept"],
    )
    assert kept_before - kept_now == 179  # the filter stage removed 179 rows
    text = """
[[check]]
metric = "rows.kept"
max_decrease = {dec}

[[check]]
metric = "dedup.exact_fraction"
max_increase = 0.0
"""
    res, out = gate(report, checks(tmp_path, text.format(dec=200)), tmp_path, "--reference", older)
    assert res.code == 0, res.stdout + res.stderr
    first = load(out / "gate.json")["checks"][0]
    assert first["reference"] == kept_before and first["delta"] == -179
    res, out = gate(report, checks(tmp_path, text.format(dec=100)), tmp_path, "--reference", older)
    assert res.code == 1
    result = load(out / "gate.json")
    assert result["reference"] == str(older)
    assert "fell by 179" in result["checks"][0]["message"]
    assert result["checks"][1]["status"] == "passed"  # exact fraction unchanged since dedup
    # a ratchet needs a reference: usage error
    res = winnow("gate", report, "--checks", checks(tmp_path, text.format(dec=1)))
    assert res.code == 2 and "--reference" in res.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[check]]\nmetric = "rows.kep"\nmust_be = 1\n', "unknown metric 'rows.kep'"),
        ('[[check]]\nmetric = "rows.kept"\nmust_be_smaller = 1\n', "unknown key 'must_be_smaller'"),
        ('[[check]]\nmetric = "rows.kept"\nmust_be_between = [5, 1]\n', "must_be_between"),
        ('[[check]]\nmetric = "rows.kept"\nmust_be_less_than = "a lot"\n', "takes a number"),
        ('[[check]]\nmetric = "rows.kept"\nlevel = "info"\nmust_be = 1\n', "level"),
        ('[[check]]\nmetric = "rows.kept"\n', "no comparator"),
        ('[[check]]\nmetric = "rows.kept"\nmust_be = 1\nmust_be_less_than = 2\n', "one comparator"),
        ('[[checks]]\nmetric = "rows.kept"\n', "unknown key 'checks'"),
        ("[[check]\n", "invalid TOML"),
    ],
)
def test_bad_checks_file_is_a_usage_error_naming_the_file(report, tmp_path, text, problem):
    path = checks(tmp_path, text, "my-checks.toml")
    res, out = gate(report, path, tmp_path)
    assert res.code == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"winnow: error: {path}: ")
    assert problem in lines[0]
    assert not out.exists()  # nothing evaluated, nothing written


def test_usage_errors(report, tmp_path):
    ok = checks(tmp_path, '[[check]]\nmetric = "rows.kept"\nmust_be_at_least = 1\n')
    res = winnow("gate", report, "--checks", tmp_path / "nope.toml")
    assert res.code == 2 and "nope.toml" in res.stderr
    res = winnow("gate", tmp_path / "nope.json", "--checks", ok)
    assert res.code == 2 and "nope.json: does not exist" in res.stderr
    res = winnow("gate", report, "--checks", ok, "--fail-on", "sometimes")
    assert res.code == 2 and "--fail-on" in res.stderr
    (tmp_path / "x.json").write_text('{"hello": 1}')
    res = winnow("gate", tmp_path / "x.json", "--checks", ok)
    assert res.code == 2 and "no 'metrics'" in res.stderr


def test_a_check_that_cannot_be_evaluated_exits_3(tmp_path):
    # a plain dataset has no dedup stage: its duplicate fraction is null, not zero
    text = """
[[check]]
metric = "dedup.exact_fraction"
must_be_less_than = 0.1

[[check]]
metric = "rows.kept"
must_be_less_than = 10
"""
    res, out = gate(SAMPLE / "shards", checks(tmp_path, text), tmp_path)
    assert res.code == 3, res.stdout + res.stderr
    result = load(out / "gate.json")
    assert result["status"] == "error" and result["counts"]["error"] == 1
    assert [c["status"] for c in result["checks"]] == ["error", "failed"]
    assert "null" in result["checks"][0]["message"]
    cases = list(junit_cases(out / "junit.xml").values())
    assert cases[0].find("error") is not None and cases[1].find("failure") is not None
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert (suite.get("errors"), suite.get("failures")) == ("1", "1")
    # a NaN in a hand-edited report is an evaluation error too
    doc = {"kind": "report", "metrics": {"rows.kept": float("nan")}}
    (tmp_path / "nan.json").write_text(json.dumps(doc))
    res = winnow("gate", tmp_path / "nan.json", "--checks", checks(tmp_path, text.split("\n\n")[1]))
    assert res.code == 3


def test_a_recipe_with_a_gate_writes_the_report_and_exits_with_the_gate(run, tmp_path):
    # the sample recipe has [report] and [gate]: its run folder holds both, and it passed
    assert (run / "report.html").is_file()
    assert load(run / "gate.json")["status"] == "passed"
    assert junit_cases(run / "gate.junit.xml")
    strict = checks(tmp_path, '[[check]]\nmetric = "rows.kept"\nmust_be_greater_than = 3600\n')
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        f'[input]\npath = "{SAMPLE / "shards"}"\n[[stage]]\nuse = "clean"\n'
        f'[gate]\nchecks = "{strict.name}"\n'
    )
    res = winnow("run", recipe, "--out", tmp_path / "run")
    assert res.code == 1, res.stdout + res.stderr
    assert "gate: failed" in res.stdout and "report: " in res.stdout
    assert load(tmp_path / "run" / "gate.json")["checks"][0]["value"] == 3580
    assert load(tmp_path / "run" / "report.json")["metrics"]["rows.kept"] == 3580
    # bad [gate] tables are refused before any stage runs
    for table, problem in (
        ('[gate]\nchecks = "nope.toml"\n', "does not exist"),
        ('[gate]\nchecks = "checks.toml"\nfail_on = "never"\n', "gate.fail_on"),
        ("[report]\nsample = 3\n", "unknown key 'sample'"),
    ):
        recipe.write_text(
            f'[input]\npath = "{SAMPLE / "shards"}"\n[[stage]]\nuse = "clean"\n{table}'
        )
        res = winnow("run", recipe, "--out", tmp_path / "run2")
        assert res.code == 2 and problem in res.stderr and str(recipe) in res.stderr, res.stderr
        assert not (tmp_path / "run2").exists()
