"""Quality reports (DESIGN.md section 5).

- `curate.report.build.build_report`: one streaming pass, mergeable statistics -> a dict
- `curate.report.files`: report.json, report.md, report.html written atomically; loading
- `curate.report.render` (Markdown, HTML), `curate.report.svg` (charts), `curate.report.stats`

Nothing is imported here, so `winnow gate` on a report.json does not pay for polars.
"""
