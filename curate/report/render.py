"""report.md and report.html from report.json: rendering only, every number comes from the dict."""

from __future__ import annotations

import json
from html import escape

from curate.report import svg

HEADLINE = (
    "rows.input",
    "rows.kept",
    "rows.kept_fraction",
    "chars.input",
    "chars.kept",
    "chars.kept_fraction",
    "dedup.exact_fraction",
    "dedup.near_fraction",
    "length.chars.p50",
    "label.coverage",
    "label.issue_fraction",
    "label.class_balance",
)


def fmt(value) -> str:
    """Integers with separators, fractions to 4 significant digits, null as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def to_markdown(report: dict) -> str:
    m = report["metrics"]
    src = report["source"]
    lines = [f"# winnow report: `{src['path']}` ({src['kind']})", ""]
    lines += ["| metric | value |", "| --- | ---: |"]
    lines += [f"| `{k}` | {fmt(m[k])} |" for k in HEADLINE if k in m]
    if report["stages"]:
        lines += ["", "## Rows through the stages", ""]
        lines += [
            "| stage | rows in | kept | rejected | by reason |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for s in report["stages"]:
            reasons = ", ".join(f"{k}={v:,}" for k, v in s["by_reason"].items()) or "-"
            lines.append(
                f"| {s['folder']} | {s['input']:,} | {s['kept']:,} | {s['rejected']:,} "
                f"| {reasons} |"
            )
    langs = report["distributions"]["language"]["kept"]
    if langs:
        lines += ["", "## Languages (kept rows)", "", "| language | rows |", "| --- | ---: |"]
        lines += [f"| {_md_cell(k)} | {v:,} |" for k, v in list(langs.items())[:20]]
    labels = report["distributions"]["label"]["kept"]
    if labels:
        issues = report["distributions"]["label_issues"]
        lines += ["", "## Classes (kept rows)", ""]
        lines += ["| class | rows | fraction | label issues |", "| --- | ---: | ---: | ---: |"]
        for c, n in labels.items():
            iss = issues.get(c)
            lines.append(
                f"| {_md_cell(c)} | {n:,} | {fmt(m.get(f'label.class_fraction.{c}'))} | "
                f"{f'{iss[0]:,} of {iss[1]:,}' if iss else '-'} |"
            )
    if report["samples"]:
        lines += ["", "## Samples of rejected rows", ""]
        lines += ["| stage | reason | rows | id | text |", "| --- | --- | ---: | --- | --- |"]
        for group in report["samples"]:
            for s in group["samples"][:3]:
                text = s["text"][:120] + (
                    "\u2026" if len(s["text"]) > 120 or s["truncated"] else ""
                )
                lines.append(
                    f"| {group['stage']} | {group['reason']} | {group['rows']:,} | "
                    f"{_md_cell(str(s['id']))} | {_md_cell(text) or '(empty)'} |"
                )
    lines += ["", f"{len(m):,} metrics in report.json (`winnow gate` checks any of them).", ""]
    return "\n".join(lines)


CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;
font-size:13px;vertical-align:top}th{background:#f4f4f4}td.n{text-align:right}
td.t{font-family:monospace;white-space:pre-wrap;word-break:break-all;max-width:640px}
svg.plot{display:block;margin:.5em 0;background:#fcfcfc;border:1px solid #eee}
details{margin:.4em 0}summary{cursor:pointer}pre{font-size:12px;overflow:auto;background:#f7f7f7;
padding:.5em}
"""


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"n" if i in numeric else ""}">{escape(c)}</td>' for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def to_html(report: dict) -> str:
    m, d, src = report["metrics"], report["distributions"], report["source"]
    title = f"winnow report: {src['path']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)} <small>({escape(src['kind'])}, winnow "
        f"{escape(report['winnow_version'])})</small></h1>",
        _table(["metric", "value"], [[k, fmt(m[k])] for k in HEADLINE if k in m], {1}),
    ]
    stages = report["stages"]
    if stages:
        funnel = [("input", float(stages[0]["input"]))] + [
            (f"after {s['folder']}", float(s["kept"])) for s in stages
        ]
        parts += [
            "<h2>Rows through the stages</h2>",
            svg.bars(funnel, "rows kept after each stage"),
        ]
        reasons = [
            (f"{s['name']}: {r}", float(n)) for s in stages for r, n in s["by_reason"].items()
        ]
        parts.append(svg.bars(reasons, "rejected rows by stage and reason", color=svg.PALETTE[1]))
        parts.append(
            _table(
                ["stage", "rows in", "kept", "rejected", "characters rejected", "by reason"],
                [
                    [
                        s["folder"],
                        fmt(s["input"]),
                        fmt(s["kept"]),
                        fmt(s["rejected"]),
                        fmt(s["chars_rejected"]),
                        ", ".join(f"{k}={v:,}" for k, v in s["by_reason"].items()) or "-",
                    ]
                    for s in stages
                ],
                {1, 2, 3, 4},
            )
        )
    lengths = d["length_chars"]
    parts += [
        "<h2>Lengths</h2>",
        svg.histogram(
            lengths["edges"],
            [("kept", lengths["kept"]), ("rejected", lengths["rejected"])],
            "characters per row (log-spaced bins)",
            "characters",
        ),
        _table(
            ["statistic", "characters (kept rows)"],
            [[k.rsplit(".", 1)[1], fmt(m[k])] for k in sorted(m) if k.startswith("length.chars.")],
            {1},
        ),
    ]
    langs = d["language"]
    if langs["kept"] or langs["rejected"]:
        parts.append("<h2>Languages</h2>")
        parts.append(
            svg.bars([(k, float(v)) for k, v in list(langs["kept"].items())[:20]], "kept rows")
        )
        if langs["rejected"]:
            parts.append(
                svg.bars(
                    [(k, float(v)) for k, v in list(langs["rejected"].items())[:20]],
                    "rejected rows",
                    color=svg.PALETTE[1],
                )
            )
    labels = d["label"]["kept"]
    if labels:
        parts.append("<h2>Classes</h2>")
        parts.append(svg.bars([(k, float(v)) for k, v in labels.items()], "kept rows per class"))
        issues = d["label_issues"]
        if issues:
            parts.append(
                svg.bars(
                    [(c, v[0] / v[1] if v[1] else 0.0) for c, v in issues.items()],
                    "label-issue fraction per class",
                    value_format="{:.3f}",
                    color=svg.PALETTE[4],
                )
            )
    if d["cluster_size"]:
        parts += [
            "<h2>Duplicate clusters</h2>",
            svg.bars(
                [(k, float(v)) for k, v in d["cluster_size"].items()],
                "clusters by size (rows per cluster)",
                color=svg.PALETTE[2],
            ),
        ]
    if report["samples"]:
        parts.append("<h2>Samples of rejected rows</h2>")
        for group in report["samples"]:
            rows = [
                [str(s["id"]), (s["text"] + ("\u2026" if s["truncated"] else "")) or "(empty)"]
                for s in group["samples"]
            ]
            parts.append(
                f"<details><summary>{escape(group['stage'])}: {escape(group['reason'])} "
                f"({group['rows']:,} rows)</summary>"
                + _table(["id", "text"], rows).replace('<td class="">', '<td class="t">')
                + "</details>"
            )
    signal_rows = [[k, fmt(v)] for k, v in m.items() if k.startswith("signal.")]
    parts.append(
        f"<h2>All metrics</h2><details><summary>{len(m):,} metrics (signal quantiles: "
        f"{len(signal_rows):,})</summary>"
        + _table(["metric", "value"], [[k, fmt(v)] for k, v in m.items()], {1})
        + "</details>"
    )
    if report["manifests"]:
        parts.append("<h2>Stage configurations</h2>")
        for folder, man in report["manifests"].items():
            parts.append(
                f"<details><summary>{escape(folder)}</summary><pre>"
                f"{escape(json.dumps(man.get('config', {}), indent=2))}</pre></details>"
            )
    parts.append("</body></html>\n")
    return "\n".join(parts)
