"""``python -m avalanche_llm phaseN``: the phase commands of ``CANON.CLI.CMD``, run through runlab.

Subcommands and their defaults come from the CANON command strings. ``--device``, ``--dtype``,
``--gstar_method``, ``--arc_config`` and ``--arc_split`` set config keys (``config.CLI_OVERRIDES``), so they
are part of the resolved config and of the run ids of the stages that read them; one not given leaves the
config's value, and only where the config does not say is its ``CANON.CLI.CMD`` default set (a config that
says ``cpu`` runs on the CPU without ``--device cpu``). Phase 0 checks the environment and creates
nothing; every other phase runs its stage of ``jobs/avalanche_llm.yaml`` in this process through
``runlab.submit`` (the same ids, claims and locks as ``runlab submit --stage``), with its upstream
required complete. Exit codes are runlab's: 0 success
(including a run that is already complete), 2 bad input or environment, 3 missing upstream run,
4 an incomplete run exists and ``--allow_resume`` was not given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from runlab import (
    RUNS_ROOT_ENV, RUN_ID_MODES, ConfigError, ExitCode, OneLineParser, Study, load_study, load_yaml_file,
    resolve_runs_root, run_reporting_errors, submit,
)

from .analysis.gstar import GSTAR_METHODS
from .canon import PhaseCommand, load_canon, manifest_path, phase_commands
from .config import CLI_OVERRIDES
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
        sub.add_argument("--device", choices=("cuda", "cpu"), help=_config_default("device", command))
        sub.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), help=_config_default("dtype", command))
        sub.add_argument("--run_id_mode", choices=RUN_ID_MODES, default=defaults["run_id_mode"])
        sub.add_argument("--allow_resume", action="store_true", help="continue an incomplete run of this phase")
        sub.add_argument("--dry_run", action="store_true", help="resolve and validate; run no model, write nothing")
        sub.add_argument("--runs_root", help=f"runs root (default: ${RUNS_ROOT_ENV}, then the nearest runs root at or "
                                             "above the working directory, then CANON.PATH.RUNS_DIR)")
        if "gstar_method" in defaults:
            sub.add_argument("--gstar_method", choices=GSTAR_METHODS, help=_config_default("gstar_method", command))
        for flag in ("arc_split", "arc_config"):
            if flag in defaults:
                sub.add_argument(f"--{flag}", help=_config_default(flag, command))
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


def _config_default(flag: str, command: PhaseCommand) -> str:
    return (f"default: the config's {CLI_OVERRIDES[flag]}; where it has none, {command.defaults[flag]} "
            f"(CANON.CLI.CMD.{command.key})")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys the phase's flags set: each flag given, and the ``CANON.CLI.CMD`` default of each flag not
    given whose key the config (``--config``, as written) does not hold."""
    raw = load_yaml_file(args.config, "config")
    overrides = {}
    for flag, key in CLI_OVERRIDES.items():
        if flag not in args.command.defaults:  # not an option of this phase
            continue
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = value
        elif not _holds(raw, key):
            overrides[key] = args.command.defaults[flag]
    return overrides


def _holds(config: Any, key: str) -> bool:
    """Whether the loaded config sets the dotted ``key`` (to any value, null and CANON references included)."""
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _study(args: argparse.Namespace) -> Study:
    return load_study(manifest_path(), config=args.config, overrides=_overrides(args), runs_root=_runs_root(args))


def _runs_root(args: argparse.Namespace) -> Path:
    return resolve_runs_root(args.runs_root, load_canon().lookup("CANON.PATH.RUNS_DIR"))


def _environment(args: argparse.Namespace) -> int:
    study = _study(args)
    config = study.plans[0].config
    for line in check_environment(config, study.store.root):
        print(f"phase0: {line}", flush=True)
    print(f"phase0: environment ok for {args.config} (config {config.sha256[:12]}); no run directory created",
          flush=True)
    return int(ExitCode.OK)


def _run_phase(args: argparse.Namespace) -> int:
    """The phase's stage through runlab's one submission path, its upstream required complete (exit 3)."""
    tag = PHASE_TAGS[args.phase]
    if args.dry_run:
        study = _study(args)
        plan = study.plans[0]
        run_id = plan.run_ids[tag] if args.run_id_mode == "content_hash" else "(new)"
        upstream = plan.identities[tag].upstream
        print(f"{args.phase}: dry run of {tag} as {run_id}; upstream "
              f"{', '.join(f'{need} {study.store.status_of(rid)}' for need, rid in upstream.items()) or 'none'}; "
              "nothing written")
        return int(ExitCode.OK)
    submit(manifest_path(), config=args.config, overrides=_overrides(args), stages=(tag,), profile="local",
           runs_root=_runs_root(args), allow_resume=args.allow_resume, run_id_mode=args.run_id_mode,
           run_upstream=False, say=lambda line: print(f"{args.phase}: {line}", flush=True))
    return int(ExitCode.OK)

