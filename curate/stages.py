"""The registry of stages a recipe or command can name."""

from __future__ import annotations

from curate.clean import CleanStage
from curate.dedup import DedupStage
from curate.filter import FilterStage
from curate.label.stage import LabelStage
from curate.stage import Stage

STAGES: dict[str, type[Stage]] = {
    CleanStage.name: CleanStage,
    DedupStage.name: DedupStage,
    FilterStage.name: FilterStage,
    LabelStage.name: LabelStage,
}
