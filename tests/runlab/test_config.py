"""CANON resolution, canonical YAML bytes and config hashes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from runlab.canon import load_registry
from runlab.config import resolve_config, resolved_from_bytes
from runlab.errors import ConfigError
from runlab.yamlio import canonical_yaml_bytes, load_yaml_text

REGISTRY_MD = """# A registry

Some prose.

```yaml canon
PATH:
  RUNS_DIR: runs
MODEL:
  NAME: gpt2
  LAYERS: [CANON.MODEL.FIRST, 6]
  FIRST: 0
  ALIAS: CANON.MODEL.NAME
DATA: {SPLIT: validation, RATE: 0.1}
```

More prose.

```yaml canon
BUDGET:
  GPU_HOURS: 2.5
```
"""


@pytest.fixture
def registry(tmp_path: Path):
    path = tmp_path / "00_CANONICAL.md"
    path.write_text(REGISTRY_MD)
    return load_registry(path)


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_resolves_recursively_through_lists_dicts_and_references(tmp_path, registry):
    path = _config(tmp_path, "model: CANON.MODEL.ALIAS\nlayers: CANON.MODEL.LAYERS\n"
                             "nested: {data: CANON.DATA, items: [CANON.BUDGET.GPU_HOURS, plain, 'not CANON.X']}\n")
    resolved = resolve_config(path, registry)
    assert resolved.data == {
        "model": "gpt2",
        "layers": [0, 6],
        "nested": {"data": {"SPLIT": "validation", "RATE": 0.1}, "items": [2.5, "plain", "not CANON.X"]},
    }
    assert resolved.yaml_bytes == (
        b"model: gpt2\nlayers:\n- 0\n- 6\nnested:\n  data:\n    SPLIT: validation\n    RATE: 0.1\n"
        b"  items:\n  - 2.5\n  - plain\n  - not CANON.X\n"
    )
    assert resolved.sha256 == hashlib.sha256(resolved.yaml_bytes).hexdigest()


def test_resolving_twice_gives_identical_bytes_and_hash_across_processes(tmp_path, registry):
    path = _config(tmp_path, "b: 1.0e-5\na: [CANON.MODEL.NAME, 3, true, null]\nc: {z: 1, y: 0.30000000000000004}\n")
    first, second = resolve_config(path, registry), resolve_config(path, registry)
    assert first.yaml_bytes == second.yaml_bytes and first.sha256 == second.sha256
    code = ("import sys; from pathlib import Path; from runlab.canon import load_registry; "
            "from runlab.config import resolve_config; "
            f"print(resolve_config(Path({str(path)!r}), load_registry(Path({str(registry.source)!r}))).sha256)")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert other.stdout.strip() == first.sha256


def test_pinned_hash_and_key_order_is_part_of_the_identity(tmp_path, registry):
    ordered = resolve_config(_config(tmp_path, "alpha: 1\nbeta: CANON.MODEL.NAME\n"), registry)
    assert ordered.yaml_bytes == b"alpha: 1\nbeta: gpt2\n"
    assert ordered.sha256 == "68b57058fa4e38ac552fc118cea5b3bdf11733914f38d3f360e6823654d28e00"
    swapped = resolve_config(_config(tmp_path, "beta: CANON.MODEL.NAME\nalpha: 1\n"), registry)
    assert swapped.sha256 != ordered.sha256


def test_floats_have_one_stable_spelling():
    data = {"x": [0.1, 1e-05, 1e20, 2.0, -0.0, 123456.789]}
    text = canonical_yaml_bytes(data)
    assert text == b"x:\n- 0.1\n- 1.0e-05\n- 1.0e+20\n- 2.0\n- -0.0\n- 123456.789\n"
    assert load_yaml_text(text.decode(), "t") == data


def test_stored_bytes_round_trip_and_hand_edits_are_caught(tmp_path, registry):
    resolved = resolve_config(_config(tmp_path, "a: CANON.DATA\n"), registry)
    assert resolved_from_bytes(resolved.yaml_bytes, "stored").sha256 == resolved.sha256
    with pytest.raises(ConfigError, match="not in canonical form"):
        resolved_from_bytes(b"a: {SPLIT: validation, RATE: 0.1}\n", "stored")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: CANON.MODEL.MISSING\n", "unknown CANON reference CANON.MODEL.MISSING"),
        ("a: [1, {b: CANON.NOPE}]\n", "unknown CANON reference CANON.NOPE"),
        ("a: CANON.MODEL.NAME.DEEPER\n", "unknown CANON reference"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a: !!python/object/apply:os.system [echo]\n", "could not determine a constructor"),
        ("base: &b {x: 1}\nother: *b\n", "aliases"),
        ("- just\n- a list\n", "not a mapping"),
        ("a: [unclosed\n", "invalid YAML"),
    ],
)
def test_bad_configs_are_config_errors(tmp_path, registry, text, message):
    with pytest.raises(ConfigError, match=message) as caught:
        resolve_config(_config(tmp_path, text), registry)
    assert caught.value.exit_code == 2


def test_registry_cycles_and_duplicates_are_rejected(tmp_path):
    cyclic = tmp_path / "cyclic.md"
    cyclic.write_text("```yaml canon\nA: {X: CANON.B.Y}\nB: {Y: CANON.A.X}\n```\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_registry(cyclic).lookup("CANON.A.X")
    doubled = tmp_path / "doubled.md"
    doubled.write_text("```yaml canon\nA: 1\n```\n\n```yaml canon\nA: 2\n```\n")
    with pytest.raises(ConfigError, match="defined in two blocks"):
        load_registry(doubled)
    empty = tmp_path / "empty.md"
    empty.write_text("# nothing here\n")
    with pytest.raises(ConfigError, match="no ```yaml canon block"):
        load_registry(empty)


def test_the_project_registry_loads():
    registry = load_registry(Path(__file__).resolve().parents[2] / "spec" / "00_CANONICAL.md")
    assert registry.lookup("CANON.PATH.RUNS_DIR") == "runs"
    assert registry.lookup("CANON.OUTPUT.CONFIG_RESOLVED_YAML") == "config_resolved.yaml"


def test_without_a_registry_a_config_is_plain_yaml(tmp_path):
    resolved = resolve_config(_config(tmp_path, "a: {b: [1, 'not CANON.X']}\nc: CANONICAL\n"), None)
    assert resolved.data == {"a": {"b": [1, "not CANON.X"]}, "c": "CANONICAL"}
    assert resolved.yaml_bytes == b"a:\n  b:\n  - 1\n  - not CANON.X\nc: CANONICAL\n"


def test_without_a_registry_a_canon_reference_is_refused(tmp_path):
    path = _config(tmp_path, "a: {b: [1, CANON.MODEL.NAME]}\n")
    with pytest.raises(ConfigError, match=r"refers to CANON\.MODEL\.NAME, but its study's manifest names no CANON "
                                          r"registry; add canon: PATH"):
        resolve_config(path, None)
