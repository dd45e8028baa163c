"""JSON Schema checks shared by configs, manifests, profiles and run records."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

import jsonschema

from .errors import RunlabError

__all__ = ["check_schema", "packaged_validator", "validator_for"]


@lru_cache(maxsize=None)
def packaged_validator(name: str) -> jsonschema.Draft202012Validator:
    """Validator for ``runlab/schemas/<name>.schema.json``."""
    text = resources.files("runlab").joinpath(f"schemas/{name}.schema.json").read_text(encoding="utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


def validator_for(schema: Mapping[str, Any]) -> jsonschema.Draft202012Validator:
    """Validator for a schema given as data (a study's config schema)."""
    return jsonschema.Draft202012Validator(schema)


def check_schema(
    data: Any, validator: jsonschema.Draft202012Validator, source: str, error: type[RunlabError], hint: str
) -> None:
    """Raise ``error`` naming the location and reason of the most relevant schema violation."""
    violation = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if violation is not None:
        where = ".".join(str(part) for part in violation.absolute_path) or "(top level)"
        raise error(f"{source} is invalid at {where}: {violation.message}", hint)
