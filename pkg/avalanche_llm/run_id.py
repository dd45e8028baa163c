"""Run ids of this study's phases: runlab's ``RUN_{TAG}_{HASH12}`` with the tags of tasks/TASK_INDEX.md."""

from __future__ import annotations

from runlab.config import ResolvedConfig
from runlab.run_id import content_hash_run_id

__all__ = ["PHASE_TAGS", "phase_run_id"]

PHASE_TAGS = {"phase1": "S01", "phase2": "S02", "phase3": "S03", "phase4": "S04", "phase5": "S05",
              "phase6arc": "S06ARC", "phase6b": "S06B", "phase7": "S07", "phase8": "S08"}


def phase_run_id(config: ResolvedConfig, phase: str) -> str:
    """The content-hash run id of ``phase`` for ``config``: sha256(resolved bytes + tag bytes)[:12]."""
    return content_hash_run_id(config.yaml_bytes, PHASE_TAGS[phase])
