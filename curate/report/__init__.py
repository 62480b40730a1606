"""Quality reports: `build_report` (streaming, mergeable statistics) -> report.json, .md, .html."""

from curate.report.build import SCHEMA_VERSION, build_report, resolve_source
from curate.report.files import load_metrics_doc, write_report

__all__ = ["SCHEMA_VERSION", "build_report", "load_metrics_doc", "resolve_source", "write_report"]
