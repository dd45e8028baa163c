"""Run ids: pinned content hashes and validation."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from runlab.errors import ConfigError
from runlab.run_id import content_hash_run_id, stage_tag_of, timestamp_run_id, validate_run_id


def test_content_hash_id_is_pinned():
    assert content_hash_run_id(b"alpha: 1\nbeta: gpt2\n", "S01") == "RUN_S01_94f7116951b1"
    digest = hashlib.sha256(b"alpha: 1\nbeta: gpt2\nS06ARC").hexdigest()[:12]
    assert content_hash_run_id(b"alpha: 1\nbeta: gpt2\n", "S06ARC") == f"RUN_S06ARC_{digest}"


def test_timestamp_id_and_tag_round_trip():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    run_id = timestamp_run_id("S05", when, 7)
    assert run_id == "RUN_S05_20260102T030405Z_007"
    assert stage_tag_of(run_id) == "S05"
    with pytest.raises(ConfigError, match="more than 1000"):
        timestamp_run_id("S05", when, 1000)


@pytest.mark.parametrize("bad", [
    "RUN_S01_../../etc", "RUN_S01_abc", "run_S01_0123456789ab", "RUN_s01_0123456789ab",
    "RUN_S01_0123456789ab/x", "RUN_S01_0123456789AB", "../RUN_S01_0123456789ab", "", "RUN__0123456789ab",
    "RUN_S01_0123456789ab\n", "RUN_S01_20260102T030405Z_7",
])
def test_malformed_ids_are_rejected(bad):
    with pytest.raises(ConfigError, match="invalid run id"):
        validate_run_id(bad)


@pytest.mark.parametrize("bad", ["s01", "S-1", "S01/..", "", "A" * 17])
def test_malformed_stage_tags_are_rejected(bad):
    with pytest.raises(ConfigError, match="invalid stage tag"):
        content_hash_run_id(b"x: 1\n", bad)
