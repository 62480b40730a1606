"""Exact and MinHash-LSH near-duplicate removal across all shards."""

from curate.dedup.stage import DedupConfig, DedupStage

__all__ = ["DedupConfig", "DedupStage"]
