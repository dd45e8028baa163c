"""The quickstart pipeline: a small chain with an array that shows what runlab does (jobs/quickstart.yaml)."""
