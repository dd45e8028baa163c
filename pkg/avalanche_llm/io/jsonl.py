"""JSONL event logs of a phase: one object per line with ``event`` first; written by ``run.write_jsonl``."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from runlab import RunView

__all__ = ["event", "read_events"]


def event(name: str, **fields: Any) -> dict[str, Any]:
    """One log line: ``{"event": name, **fields}`` (no wall-clock times: logs are artifacts and must
    hash the same on a rerun; timings live in the run record)."""
    return {"event": name, **fields}


def read_events(view: RunView, relative_path: str) -> list[Mapping[str, Any]]:
    lines: Iterable[str] = view.read_bytes(relative_path).decode("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
