"""Behavioural benchmarks of the model under study: ARC multiple-choice accuracy scored as the lm-evaluation-harness does."""
