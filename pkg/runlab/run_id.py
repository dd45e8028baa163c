"""Run ids: the address of a run, ``RUN_{STAGE_TAG}_{HASH12}`` or ``RUN_{STAGE_TAG}_{UTC}_{NNN}``.

``content_hash`` ids are computed from the resolved config bytes and the stage tag, so every process
that holds the same config computes the same id; ``timestamp_counter`` ids name a fresh run per call.
Ids are validated before they touch the filesystem: letters, digits and ``_`` only.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

from .errors import ConfigError

__all__ = [
    "RUN_ID_MODES",
    "content_hash_run_id",
    "is_run_id",
    "stage_tag_of",
    "timestamp_run_id",
    "validate_run_id",
    "validate_stage_tag",
]

RUN_ID_MODES = ("content_hash", "timestamp_counter")
_TAG = r"[A-Z][A-Z0-9]{0,15}"
_TAG_RE = re.compile(_TAG)
_RUN_ID_RE = re.compile(rf"RUN_({_TAG})_(?:[0-9a-f]{{12}}|[0-9]{{8}}T[0-9]{{6}}Z_[0-9]{{3}})")


def validate_stage_tag(tag: str) -> str:
    """Return ``tag`` if it is 1-16 upper-case letters and digits starting with a letter."""
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
        raise ConfigError(f"invalid stage tag {tag!r}", "use 1-16 upper-case letters and digits, e.g. S01 or S06ARC")
    return tag


def validate_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is well formed (no separators, no dots, no traversal)."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
        raise ConfigError(
            f"invalid run id {run_id!r}",
            "a run id looks like RUN_S01_0123456789ab or RUN_S01_20260101T000000Z_001",
        )
    return run_id


def is_run_id(text: str) -> bool:
    """Whether ``text`` is a well-formed run id."""
    return isinstance(text, str) and _RUN_ID_RE.fullmatch(text) is not None


def stage_tag_of(run_id: str) -> str:
    """Stage tag inside a valid run id."""
    match = _RUN_ID_RE.fullmatch(validate_run_id(run_id))
    assert match is not None
    return match.group(1)


def content_hash_run_id(resolved_bytes: bytes, stage_tag: str) -> str:
    """``RUN_{TAG}_{first 12 hex of sha256(resolved_bytes + tag bytes)}``."""
    validate_stage_tag(stage_tag)
    digest = hashlib.sha256(resolved_bytes + stage_tag.encode("utf-8")).hexdigest()
    return f"RUN_{stage_tag}_{digest[:12]}"


def timestamp_run_id(stage_tag: str, when: datetime, counter: int) -> str:
    """``RUN_{TAG}_{YYYYmmddTHHMMSSZ}_{NNN}`` for a run created at ``when`` (UTC), ``counter`` 0-999."""
    validate_stage_tag(stage_tag)
    if not 0 <= counter <= 999:
        raise ConfigError(f"more than 1000 runs of {stage_tag} in one second", "wait a second and retry")
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"RUN_{stage_tag}_{stamp}_{counter:03d}"
