"""Criticality of a transformer language model: neuronal avalanches in its hidden units (seed 002)."""
