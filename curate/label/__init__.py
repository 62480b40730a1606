"""Labeling: weak supervision (labeling functions, majority vote, Dawid-Skene label model)."""
