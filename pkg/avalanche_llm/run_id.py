"""Run ids of this study's phases: runlab's plan of ``jobs/avalanche_llm.yaml``, with the tags of tasks/TASK_INDEX.md."""

from __future__ import annotations

from runlab import ResolvedConfig, load_manifest, plan_config

from .canon import manifest_path

__all__ = ["PHASE_TAGS", "phase_run_id"]

PHASE_TAGS = {"phase1": "S01", "phase2": "S02", "phase3": "S03", "phase4": "S04", "phase5": "S05",
              "phase6arc": "S06ARC", "phase6b": "S06B", "phase7": "S07", "phase8": "S08"}


def phase_run_id(config: ResolvedConfig, phase: str) -> str:
    """The content-hash run id of ``phase`` for ``config``, as ``runlab submit`` computes it (a Merkle id over
    what the stage reads, its version and its upstream ids)."""
    return plan_config(load_manifest(manifest_path()), config).run_ids[PHASE_TAGS[phase]]
