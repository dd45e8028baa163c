"""JSONL event logs of a phase: one object per line with ``event`` first; written by ``run.write_jsonl``."""

from __future__ import annotations

from typing import Any

__all__ = ["event"]


def event(name: str, **fields: Any) -> dict[str, Any]:
    """One log line: ``{"event": name, **fields}`` (no wall-clock times: logs are artifacts and must
    hash the same on a rerun; timings live in the run record)."""
    return {"event": name, **fields}

