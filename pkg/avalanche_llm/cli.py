"""``python -m avalanche_llm phaseN``: the phase commands of ``CANON.CLI.CMD``, run through runlab.

Subcommands and their defaults come from the CANON command strings. ``--device``, ``--dtype`` and
``--gstar_method`` set config keys (``config.CLI_OVERRIDES``), so they are part of the resolved
config and of every run id. Phase 0 checks the environment and creates nothing; phases 1-5 run
their stage of ``jobs/avalanche_llm.yaml`` in this process. Exit codes are runlab's: 0 success
(including a run that is already complete), 2 bad input or environment, 3 missing upstream run,
4 an incomplete run exists and ``--allow_resume`` was not given.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from runlab.cli import OneLineParser, run_reporting_errors
from runlab.errors import ConfigError, ExitCode
from runlab.launcher import build_stage_job, pending_tasks
from runlab.manifest import load_manifest
from runlab.run_id import RUN_ID_MODES, content_hash_run_id
from runlab.store import RUNS_ROOT_ENV, RunStore, resolve_runs_root

from .analysis.gstar import GSTAR_METHODS
from .canon import PhaseCommand, load_canon, manifest_path, phase_commands
from .config import CLI_OVERRIDES, load_study_config
from .environment import check_environment
from .run_id import PHASE_TAGS

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)

    def command() -> int:
        args = _parser(phase_commands(load_canon())).parse_args(words)
        return args.handler(args)

    try:
        return run_reporting_errors("avalanche_llm", command, debug="--debug" in words)
    except SystemExit as exc:  # --help, or a usage error already printed as one line
        return int(exc.code or 0)


def _parser(commands: list[PhaseCommand]) -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m avalanche_llm", description="Neuronal avalanches in language models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    subcommands = parser.add_subparsers(dest="phase", required=True)
    for command in commands:
        if command.name != "phase0" and command.name not in PHASE_TAGS:
            raise ConfigError(f"CANON.CLI.CMD.{command.key} names {command.name}, which this package does not have",
                              f"phases: phase0, {', '.join(PHASE_TAGS)}")
        sub = subcommands.add_parser(command.name, help=_help(command.name))
        defaults = command.defaults
        sub.add_argument("--config", type=Path, default=Path(defaults["config"]), help="pipeline YAML config")
        sub.add_argument("--device", choices=("cuda", "cpu"), default=defaults["device"])
        sub.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default=defaults["dtype"])
        sub.add_argument("--run_id_mode", choices=RUN_ID_MODES, default=defaults["run_id_mode"])
        sub.add_argument("--allow_resume", action="store_true", help="continue an incomplete run of this phase")
        sub.add_argument("--dry_run", action="store_true", help="resolve and validate; run no model, write nothing")
        sub.add_argument("--runs_root", help=f"runs root (default: ${RUNS_ROOT_ENV}, then CANON.PATH.RUNS_DIR)")
        if "gstar_method" in defaults:
            sub.add_argument("--gstar_method", choices=GSTAR_METHODS, default=defaults["gstar_method"])
        for flag in ("arc_split", "arc_config"):
            if flag in defaults:
                sub.add_argument(f"--{flag}", default=defaults[flag], help="default from CANON.DATASET.ARC_MCQ")
        sub.set_defaults(handler=_environment if command.name == "phase0" else _run_phase, command=command)
    return parser


def _help(phase: str) -> str:
    return {"phase0": "check the environment and the config; creates no run",
            "phase1": "S01: text slice, hook check, baseline statistics",
            "phase2": "S02: gain sweep, rate-matched rasters, b_tot and g*",
            "phase3": "S03: cross-correlation and null rasters at g*",
            "phase4": "S04: branching, avalanches, power-law fits, crackling",
            "phase5": "S05: metrics table, T01 and F03 from the artifacts",
            "phase6arc": "S06ARC: ARC multiple-choice accuracy at every gain (needs a causal LM)",
            "phase6b": "S06B: perplexity of the analysis windows at every gain (needs a causal LM)",
            "phase7": "S07: bootstrap intervals and |b_tot - 1| against task performance",
            "phase8": "S08: the paper export: every table and figure, and REPORT.md, from verified runs"}[phase]


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {flag: getattr(args, flag) for flag in CLI_OVERRIDES if getattr(args, flag, None) is not None}


def _store(args: argparse.Namespace) -> RunStore:
    return RunStore(resolve_runs_root(args.runs_root, load_canon().lookup("CANON.PATH.RUNS_DIR")))


def _environment(args: argparse.Namespace) -> int:
    config = load_study_config(args.config, _overrides(args))
    for line in check_environment(config, _store(args).root):
        print(f"phase0: {line}", flush=True)
    print(f"phase0: environment ok for {args.config} (config {config.sha256[:12]}); no run directory created",
          flush=True)
    return int(ExitCode.OK)


def _run_phase(args: argparse.Namespace) -> int:
    config = load_study_config(args.config, _overrides(args))
    manifest = load_manifest(manifest_path()).for_config(config.data)
    store = _store(args)
    stage = manifest.stages[PHASE_TAGS[args.phase]]
    upstream = {need: _upstream_run_id(store, config, need) for need in stage.needs}
    if args.dry_run:
        run_id = content_hash_run_id(config.yaml_bytes, stage.tag) if args.run_id_mode == "content_hash" else "(new)"
        print(f"{args.phase}: dry run of {stage.tag} as {run_id}; upstream "
              f"{', '.join(f'{tag} {_state(store, rid)}' for tag, rid in upstream.items()) or 'none'}; nothing written")
        return int(ExitCode.OK)
    run_id = (content_hash_run_id(config.yaml_bytes, stage.tag) if args.run_id_mode == "content_hash"
              else _new_timestamp_id(store, stage.tag))
    manifest.enable_imports()
    job = build_stage_job(manifest, config, stage, run_id, upstream, runs_root=str(store.root), executor="local",
                          submission_id=secrets.token_hex(8), allow_resume=args.allow_resume,
                          run_id_mode=args.run_id_mode)
    tasks = pending_tasks(stage, store.read_record(run_id))
    if tasks is None:
        print(f"{args.phase}: {job()}", flush=True)
        return int(ExitCode.OK)
    for task in tasks:  # an array stage: its tasks one after the other here, then the fan-in
        print(f"{args.phase}: {replace(job, task_index=task)()}", flush=True)
    print(f"{args.phase}: {replace(job, fan_in=True)()}", flush=True)
    return int(ExitCode.OK)


def _upstream_run_id(store: RunStore, config, tag: str) -> str:
    """The content-hash run of ``tag`` if complete, else the newest complete timestamp run of ``tag`` with
    this config, else the content-hash id (which then fails as a missing upstream, exit 3)."""
    canonical = content_hash_run_id(config.yaml_bytes, tag)
    if _state(store, canonical) == "complete":
        return canonical
    for run_id in sorted(store.run_ids(), reverse=True):
        if run_id.startswith(f"RUN_{tag}_") and run_id != canonical:
            record = store.read_record(run_id)
            if record and record["stage_status"] == "complete" and record["config_hash"] == config.sha256:
                return run_id
    return canonical


def _state(store: RunStore, run_id: str) -> str:
    record = store.read_record(run_id)
    return "missing" if record is None else record["stage_status"]


def _new_timestamp_id(store: RunStore, tag: str) -> str:
    with store.allocation_lock(tag):
        return store.allocate_timestamp_id(tag, lambda candidate: False)
