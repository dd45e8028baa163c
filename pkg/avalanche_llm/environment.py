"""Phase 0: check that this machine can run the config, without running a model or creating a run.

Checks: the pinned versions of transformers and torch (``CANON.CONST``), the requested device, that
the model folder (or hub cache entry) and the corpus exist, and that the runs root is writable. A
failed check is exit 2 with one line; each passed check is one line of the report.
"""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from runlab import ConfigError, ResolvedConfig

from .canon import load_canon
from .behaviour.arc import load_arc_items
from .config import ArcSettings, StudySettings
from .text.corpus import HUB_PREFIX, load_corpus

__all__ = ["check_environment"]


def check_environment(config: ResolvedConfig, runs_root: Path) -> list[str]:
    settings = StudySettings.from_config(config.data)
    registry = load_canon()
    report = [f"python {platform.python_version()}"]
    for package, pin in (("transformers", "TRANSFORMERS_VERSION_PIN"), ("torch", "TORCH_VERSION_PIN")):
        expected = str(registry.lookup(f"CANON.CONST.{pin}"))
        try:
            found = version(package)
        except PackageNotFoundError as exc:
            raise ConfigError(f"{package} is not installed", f"pip install '{package}=={expected}'") from exc
        if found.split("+")[0] != expected:
            raise ConfigError(f"{package} {found} is installed, CANON.CONST.{pin} pins {expected}",
                              f"pip install '{package}=={expected}'")
        report.append(f"{package} {found} (pinned {expected})")

    from .model.loader import model_directory, require_device

    report.append(f"device {require_device(settings.runtime.device)} ({settings.runtime.dtype})")
    if not _is_local_model(settings.model.hf_id):
        report.append(f"model {settings.model.hf_id}: from the hub (phase 1 downloads it if it is not cached)")
    else:
        report.append(f"model {settings.model.hf_id}: {model_directory(settings.model.hf_id, settings.model.revision)}")
    if settings.text.source.startswith(HUB_PREFIX):
        report.append(f"corpus {settings.text.source}: from the hub (phase 1 downloads it if it is not cached)")
    else:
        corpus = load_corpus(settings.text.source, settings.text.text_column)
        report.append(f"corpus {settings.text.source}: {len(corpus.documents)} documents, sha256 {corpus.sha256[:12]}")
    if settings.behaviour is not None:
        report.append(_arc_line(settings.behaviour.arc))
    report.append(f"runs root {_writable(runs_root)}")
    return report


def _is_local_model(hf_id: str) -> bool:
    from .model.loader import PACKAGE_PREFIX

    return hf_id.startswith((PACKAGE_PREFIX, ".", "/", "~")) or Path(hf_id).expanduser().is_dir()


def _writable(root: Path) -> str:
    """Say whether runs can be created under ``root`` (or its nearest existing parent); create nothing."""
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not (existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)):
        raise ConfigError(f"runs root {root} cannot be created or written (checked {existing})", "pass --runs_root")
    return f"{root} (writable{'' if existing == root else ', created by phase 1'})"


def _arc_line(arc: ArcSettings) -> str:
    from .phases.behaviour import arc_file

    if not Path(arc.dataset).expanduser().exists():
        return f"ARC {arc.dataset} {arc.config}/{arc.split}: from the hub (phase 6 downloads it if it is not cached)"
    path = arc_file(arc)
    return f"ARC {arc.config}/{arc.split}: {path} ({len(load_arc_items(path))} items)"
