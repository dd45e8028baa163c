"""JSON Schema checks shared by configs, manifests, profiles and run records."""

from __future__ import annotations

import json
import math
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


def _is_finite_number(checker: Any, instance: Any) -> bool:
    return isinstance(instance, (int, float)) and not isinstance(instance, bool) and math.isfinite(instance)


def _is_whole_number(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# In a study config a number is finite (JSON Schema's bounds let NaN through: every comparison with it is
# false) and an integer is written as one (8, not 8.0 or 1e12, which YAML reads as floats).
_CONFIG_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"number": _is_finite_number, "integer": _is_whole_number}),
)


def validator_for(schema: Mapping[str, Any]) -> jsonschema.Draft202012Validator:
    """Validator for a study's config schema given as data: ``number`` is finite, ``integer`` an int."""
    return _CONFIG_VALIDATOR(schema)


def check_schema(
    data: Any, validator: jsonschema.Draft202012Validator, source: str, error: type[RunlabError], hint: str,
    *, by_hand: bool = False,
) -> None:
    """Raise ``error`` naming the location and reason of the most relevant schema violation; for a file a person
    writes (``by_hand``: a config, manifest or profile), a missing key's hint names it to add, by its dotted path."""
    violation = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if violation is not None:
        where = ".".join(str(part) for part in violation.absolute_path) or "(top level)"
        if by_hand and violation.validator == "required" and isinstance(violation.instance, Mapping):
            missing = next(key for key in violation.validator_value if key not in violation.instance)
            hint = f"{hint}: add the key {'.'.join([*map(str, violation.absolute_path), missing])}"
        raise error(f"{source} is invalid at {where}: {violation.message}", hint)
