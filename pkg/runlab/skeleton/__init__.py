"""``runlab new``: a study skeleton that submits as written.

The templates under ``templates/`` mirror the project they make: ``__study__`` in a path or a file stands
for the study name, ``.tmpl`` ends every template (so none is imported, collected or packaged as code),
and a leading ``dot-`` stands for ``.`` (package data leaves hidden files out).
"""

from __future__ import annotations

import importlib.util
import keyword
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["check_study_name", "write_skeleton"]

_PLACEHOLDER = "__study__"
_SUFFIX = ".tmpl"
_STUDY_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # the manifest schema's pattern of `study`


def check_study_name(study: str) -> str:
    """``study`` if it can name a study and its package: a lowercase identifier that imports nothing yet."""
    if not _STUDY_NAME.fullmatch(study):
        raise ConfigError(f"study name {study!r} is not a lowercase Python identifier of at most 64 characters",
                          "use a-z, 0-9 and _, starting with a letter (e.g. my_study)")
    if keyword.iskeyword(study):
        raise ConfigError(f"study name {study} is a Python keyword, which cannot name a package", "choose another name")
    spec = importlib.util.find_spec(study)
    if spec is not None and spec.origin is not None:  # a namespace folder (no origin) shadows nothing
        raise ConfigError(f"study name {study} is already an importable module ({spec.origin})",
                          "choose another name, so that the study's package and that module do not shadow each other")
    return study


def write_skeleton(study: str, target: Path) -> list[Path]:
    """Write the skeleton of study ``study`` into the new or empty folder ``target``; the paths written, relative."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{target} already exists and is not an empty folder",
                          "pass --dir with a new folder, or empty this one")
    check_study_name(study)
    written = []
    for relative, template in _templates(resources.files(__name__) / "templates", ()):
        path = target.joinpath(*(_rendered_part(part, study) for part in relative))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.read_text(encoding="utf-8").replace(_PLACEHOLDER, study), encoding="utf-8")
        written.append(path.relative_to(target))
    return sorted(written)


def _templates(folder: "Traversable", relative: tuple[str, ...]) -> list[tuple[tuple[str, ...], "Traversable"]]:
    """Every template file under ``folder``, with its path parts below the templates folder."""
    found = []
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.is_dir():
            found.extend(_templates(entry, (*relative, entry.name)))
        elif entry.name.endswith(_SUFFIX):
            found.append(((*relative, entry.name), entry))
    return found


def _rendered_part(part: str, study: str) -> str:
    name = part.removesuffix(_SUFFIX).replace(_PLACEHOLDER, study)
    return "." + name.removeprefix("dot-") if name.startswith("dot-") else name
