"""The identity of a stage's work: what determines its output, as bytes, and the run id they address.

A stage's identity is its study, its declared code ``version``, its array size, the config keys it
declares it ``reads`` (dotted prefixes) with their values, and the run ids of its upstream runs; the
stage tag is added when hashing, as seed 002 states: ``HASH12 = sha256(identity bytes + tag)[:12]``.
The identity bytes are what ``config_resolved.yaml`` holds. Upstream ids are themselves such hashes,
so the ids of a study form a Merkle DAG: a change to one key re-addresses exactly the stages that read
it and everything downstream of them.

``determinism`` is always read: runlab seeds every stage from it. A stage that declares no ``reads``
reads the whole config. :class:`DeclaredConfig` is what a stage sees: reading a key it did not declare
is a one-line ConfigError, so no input can be missing from an id.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterator, Mapping

from .errors import ConfigError
from .run_id import content_hash_run_id
from .yamlio import canonical_yaml_bytes

__all__ = ["ALWAYS_READ", "WHOLE_CONFIG", "DeclaredConfig", "StageIdentity", "declared_subtree", "normalize_reads"]

WHOLE_CONFIG = "*"  # ``reads: ["*"]`` (or no ``reads``): the stage reads the whole config
ALWAYS_READ = ("determinism",)


def normalize_reads(reads: tuple[str, ...] | None) -> tuple[str, ...]:
    """Sorted, deduplicated prefixes with ``determinism`` added and prefixes covered by a shorter one dropped;
    ``("*",)`` for the whole config (also when ``reads`` is None)."""
    if reads is None or WHOLE_CONFIG in reads:
        return (WHOLE_CONFIG,)
    kept: list[str] = []
    for prefix in sorted(set(reads) | set(ALWAYS_READ)):
        if not any(prefix == shorter or prefix.startswith(shorter + ".") for shorter in kept):
            kept.append(prefix)
    return tuple(kept)


def declared_subtree(config: Mapping[str, Any], reads: tuple[str, ...]) -> dict[str, Any]:
    """The part of ``config`` that ``reads`` (normalized) declares, nested as in ``config``; absent keys are left out."""
    if reads == (WHOLE_CONFIG,):
        return dict(config)
    subtree: dict[str, Any] = {}
    for prefix in reads:
        *parents, leaf = prefix.split(".")
        source: Any = config
        for part in parents:
            source = source.get(part) if isinstance(source, Mapping) else None
        if not isinstance(source, Mapping) or leaf not in source:
            continue
        target = subtree
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = source[leaf]
    return subtree


@dataclass(frozen=True)
class StageIdentity:
    """Everything that determines one stage's output for one config."""

    study: str
    tag: str
    version: str
    reads: tuple[str, ...]  # normalized
    array: int | None
    upstream: Mapping[str, str]  # stage tag -> run id
    config: Mapping[str, Any]  # the declared subtree of the study config

    @classmethod
    def reading_everything(cls, study: str, tag: str, config: Mapping[str, Any], *,
                           upstream: Mapping[str, str] | None = None, version: str = "1") -> "StageIdentity":
        """The identity of a stage that reads the whole ``config`` (a manifest stage without ``reads``)."""
        return cls(study=study, tag=tag, version=version, reads=(WHOLE_CONFIG,), array=None,
                   upstream=dict(upstream or {}), config=dict(config))

    @cached_property
    def identity_bytes(self) -> bytes:
        """Canonical YAML of the identity: the bytes of ``config_resolved.yaml`` (computed once)."""
        return canonical_yaml_bytes({
            "study": self.study,
            "version": self.version,
            "reads": list(self.reads),
            "array": self.array,
            "upstream": dict(sorted(self.upstream.items())),
            "config": dict(self.config),
        })

    @cached_property
    def run_id(self) -> str:
        """``RUN_{TAG}_{sha256(identity bytes + tag)[:12]}``."""
        return content_hash_run_id(self.identity_bytes, self.tag)


class DeclaredConfig(Mapping[str, Any]):
    """A stage's read-only view of its config: the declared keys, and a one-line error for any other key
    that the study config holds. Nested mappings are views too; lists and scalars are returned as they are.
    """

    def __init__(self, declared: Mapping[str, Any], study_config: Mapping[str, Any] | None, *, stage: str,
                 manifest: str, path: str = "") -> None:
        self._declared = declared
        self._study = study_config
        self._stage = stage
        self._manifest = manifest
        self._path = path

    def __getitem__(self, key: str) -> Any:
        if key in self._declared:
            return self._wrap(key, self._declared[key], self._study.get(key) if self._study is not None else None)
        if isinstance(self._study, Mapping) and key in self._study:
            dotted = f"{self._path}{key}"
            raise ConfigError(f"stage {self._stage} reads {dotted}, which it does not declare",
                              f"add {dotted} (or a prefix of it) to the stage's reads: in {self._manifest}, "
                              "so that its run id covers it")
        raise KeyError(key)

    def _wrap(self, key: str, value: Any, study_value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return DeclaredConfig(value, study_value if isinstance(study_value, Mapping) else None, stage=self._stage,
                              manifest=self._manifest, path=f"{self._path}{key}.")

    def __iter__(self) -> Iterator[str]:
        return iter(self._declared)

    def __len__(self) -> int:
        return len(self._declared)

    def __repr__(self) -> str:
        return f"DeclaredConfig({dict(self._declared)!r})"
