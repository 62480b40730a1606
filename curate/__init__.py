"""winnow's curation library: datasets, the stage contract and the stages built on it."""

__version__ = "0.1.0"
