"""The image manifest: what the suite's image pins, as every run made inside it records.

The image sets ``$RUNLAB_IMAGE_MANIFEST`` to a JSON file written when it was built (schema
``runlab/schemas/image_manifest.schema.json``): its variant, the lock it installed and that lock's sha256,
the source commit and every pinned distribution. Outside the image the variable is unset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from .errors import SchemaError
from .schema import check_schema, packaged_validator

__all__ = ["IMAGE_MANIFEST_ENV", "image_versions"]

IMAGE_MANIFEST_ENV = "RUNLAB_IMAGE_MANIFEST"
_RECORDED = ("variant", "lock", "lock_sha256", "source_commit", "pinned")


def image_versions(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The manifest's ``variant``, ``lock``, ``lock_sha256``, ``source_commit`` and ``pinned``, or None when
    ``environ`` names no manifest; SchemaError (exit 2) when the named file is missing or malformed."""
    name = environ.get(IMAGE_MANIFEST_ENV)
    if not name:
        return None
    path = Path(name)
    hint = f"rebuild the image (containers/), or unset {IMAGE_MANIFEST_ENV} outside it"
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise SchemaError(f"image manifest {path} (${IMAGE_MANIFEST_ENV}) does not exist", hint) from exc
    except (OSError, ValueError) as exc:
        raise SchemaError(f"image manifest {path} (${IMAGE_MANIFEST_ENV}) is not readable JSON: {exc}", hint) from exc
    check_schema(manifest, packaged_validator("image_manifest"), f"image manifest {path}", SchemaError, hint)
    return {key: manifest[key] for key in _RECORDED}
