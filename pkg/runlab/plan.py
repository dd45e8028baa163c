"""The plan of one resolved config: every stage's identity and run id, upstream first.

A plan is what ``runlab submit``, ``runlab status``, ``exec-stage`` and a study's own front end all
compute, so they agree on every id. Chain links and arrays are expanded first
(:meth:`Manifest.for_config`); each stage's identity names its upstream by their run ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .config import ResolvedConfig
from .identity import StageIdentity, declared_subtree, normalize_reads
from .manifest import Manifest, Stage

__all__ = ["Plan", "plan_config"]


@dataclass(frozen=True)
class Plan:
    """One config of a submission: the manifest expanded for it, and each stage's identity by tag."""

    manifest: Manifest  # expanded for ``config``
    config: ResolvedConfig  # the whole resolved study config
    identities: Mapping[str, StageIdentity]  # in dependency order
    label: str = ""  # what sets this config apart in its sweep ("a.b=1, c=2"), empty outside a sweep

    @property
    def run_ids(self) -> dict[str, str]:
        return {tag: identity.run_id for tag, identity in self.identities.items()}

    def stage(self, tag: str) -> Stage:
        return self.manifest.stages[tag]


def plan_config(manifest: Manifest, config: ResolvedConfig) -> Plan:
    """The plan of ``config`` for ``manifest`` (not yet expanded): identities in dependency order."""
    expanded = manifest.for_config(config.data)
    identities: dict[str, StageIdentity] = {}
    for tag in expanded.order():
        stage = expanded.stages[tag]
        reads = normalize_reads(stage.reads)
        identities[tag] = StageIdentity(
            study=expanded.study, tag=tag, version=stage.version, reads=reads,
            array=stage.array if isinstance(stage.array, int) else None,
            upstream={need: identities[need].run_id for need in stage.needs},
            config=declared_subtree(config.data, reads),
        )
    return Plan(manifest=expanded, config=config, identities=identities)
