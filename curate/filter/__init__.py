"""Quality filtering: heuristic, language and classifier signals, rules, what-if."""

from curate.filter.stage import FilterConfig, FilterStage

__all__ = ["FilterConfig", "FilterStage"]
