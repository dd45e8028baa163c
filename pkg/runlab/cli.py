"""The ``runlab`` command: submit, status, ls, show, logs, verify, monitor, the run lifecycle (cancel, rm, gc,
export), exec-stage (what a job runs), and completion (a shell's completion script).

Every user error ends as one line on stderr, ``runlab: error: <what is wrong>; <what to do>``, and the
exit code of its class (see ``errors.py``); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, NoReturn, Sequence

from .canon import load_registry
from .capture import tolerate_closed_pipes
from .code import changed_packages
from .completion import SHELLS, completion_script
from .errors import ConfigError, ExitCode, RunlabError, SchemaError, StageFailedError, VerdictFailedError
from .layout import is_runtime_log
from .holders import Holders
from .launcher import StageOutcome, build_stage_job
from .logview import print_events, print_logs, scheduler_logs
from .overrides import load_sweep_file, parse_assignment, parse_sweep
from .record import verdict_text
from .run_id import RUN_ID_MODES, validate_run_id
from .status import render_table, run_state, status_rows, summary_line
from .store import RUNS_ROOT_ENV, RunStore, resolve_runs_root
from .submission import Study, canon_runs_dir, load_study, submit
from .verify import verifier_to_run, verify_run

__all__ = ["OneLineParser", "main", "run_reporting_errors"]

_DEFAULT_CANON = Path("spec/00_CANONICAL.md")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``runlab`` console script; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed as one line
        return int(exc.code or 0)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    with tolerate_closed_pipes():
        return run_reporting_errors("runlab", lambda: args.handler(args), args.debug)


def run_reporting_errors(prog: str, command: Callable[[], int], debug: bool) -> int:
    """Run ``command`` and return its exit code; a RunlabError becomes the line ``<prog>: error: <what is
    wrong>; <what to do>`` and its exit code, any other exception one line and exit 1 (the run record
    holds the rest). With ``debug`` the exception propagates, traceback and all."""
    try:
        return command()
    except RunlabError as exc:
        if debug:
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except Exception as exc:
        if debug:
            raise
        print(f"{prog}: error: {type(exc).__name__}: {exc}; rerun with --debug for the traceback", file=sys.stderr)
        return int(ExitCode.FAILURE)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line and exit 2, like every other input error."""

    def error(self, message: str) -> NoReturn:
        self.exit(int(ExitCode.SCHEMA), f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="runlab", description="Content-addressed, immutable runs of study stages.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--version", action="version", version=f"runlab {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)  # global options, accepted after the subcommand too
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, parents=[common])

    submit = command("submit", "run or queue every stage that is not complete")
    _add_study_arguments(submit, sweeps=True)
    submit.add_argument("--profile", default="local",
                        help="execution profile: a .yaml path, or a name in ./configs/profiles or the manifest's project")
    submit.add_argument("--stage", action="append", default=[], help="only this stage and its upstream (repeatable)")
    submit.add_argument("--run-id-mode", "--run_id_mode", dest="run_id_mode", choices=RUN_ID_MODES,
                        default="content_hash")
    submit.add_argument("--allow-resume", "--allow_resume", dest="allow_resume", action="store_true",
                        help="continue incomplete runs")
    submit.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                        help="resolve, validate and plan; write nothing")
    submit.set_defaults(handler=_submit)

    status = command("status", "state of a study's runs, or of every run and queued job")
    status.add_argument("manifest", type=Path, nargs="?", help="jobs/<study>.yaml (default: the whole runs root)")
    _add_config_selection(status, "")
    status.set_defaults(handler=_status)

    listing = command("ls", "list run directories")
    _add_runs_root(listing)
    listing.add_argument("-l", "--long", action="store_true",
                         help="each with its status: complete, running, failed, dead (as runlab status judges it)")
    listing.set_defaults(handler=_ls)

    show = command("show", "print a run's record summary and artifacts")
    show.add_argument("run_id", help="a run id, or a prefix of one that names one run")
    _add_runs_root(show)
    show.add_argument("--json", action="store_true", help="print the whole run_record.json")
    show.set_defaults(handler=_show)

    logs = command("logs", "print a run's output: each attempt's stdout and stderr, its events, or its SLURM jobs' files")
    logs.add_argument("run_id", help="a run id, or a prefix of one that names one run")
    _add_runs_root(logs)
    logs.add_argument("--attempt", type=int, metavar="N", help="only attempt N (see --events)")
    shown = logs.add_mutually_exclusive_group()
    shown.add_argument("-f", "--follow", action="store_true", help="keep printing while the run runs")
    shown.add_argument("--events", action="store_true", help="print the run's event log instead")
    shown.add_argument("--scheduler", action="store_true",
                       help="print the SLURM jobs' own output files (what a job printed outside the run)")
    logs.set_defaults(handler=_logs)

    verify = command("verify", "rehash every artifact, validate the record, check its lineage, and run the stage's "
                     "verifier on a complete run (exit 2 on any problem)")
    which = verify.add_mutually_exclusive_group(required=True)
    which.add_argument("run_id", nargs="?", help="a run id, or a prefix of one that names one run")
    which.add_argument("--all", action="store_true", help="every run under the runs root, one line each")
    _add_runs_root(verify)
    verify.set_defaults(handler=_verify)

    monitor = command("monitor", "serve a read-only, live web view of every run under the runs root")
    _add_runs_root(monitor)
    monitor.add_argument("--host", default="127.0.0.1",
                         help="address to listen on (default 127.0.0.1: this machine only; use an SSH tunnel)")
    monitor.add_argument("--port", type=int, default=8765)
    monitor.add_argument("--socket", type=Path, metavar="PATH",
                         help="listen on a Unix socket at PATH (mode 0600: only you can connect) instead of "
                              "--host/--port; reach it with ssh -L 8765:PATH")
    monitor.set_defaults(handler=_monitor)

    cancel = command("cancel", "stop the queued or running work of a run, or of every run of a study config")
    cancel.add_argument("target", help="a run id (or a unique prefix of one), or jobs/<study>.yaml")
    _add_config_selection(cancel, "with a manifest: ")
    cancel.set_defaults(handler=_cancel)

    remove = command("rm", "remove incomplete or failed runs (a complete one with --force, if nothing depends on it)")
    remove.add_argument("run_ids", nargs="+", metavar="RUN", help="run ids, or unique prefixes of them")
    remove.add_argument("--force", action="store_true",
                        help="also remove complete runs, when no complete run outside this command depends on them")
    _add_runs_root(remove)
    remove.set_defaults(handler=_rm)

    collect = command("gc", "remove stale temporaries, half-made run directories, dead claims and old failed runs")
    collect.add_argument("--older-than", "--older_than", dest="older_than", type=_age, metavar="AGE",
                         help="also remove failed runs whose failure is older than AGE (90s, 30m, 12h, 7d)")
    collect.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                         help="print what would be removed and the bytes it would free; remove nothing")
    _add_runs_root(collect)
    collect.set_defaults(handler=_gc)

    export = command("export", "pack a complete run, and with --with-upstream its whole lineage, into one .tar.gz")
    export.add_argument("run_id", help="a run id, or a unique prefix of one")
    export.add_argument("archive", type=Path, metavar="FILE", help="the archive to write, e.g. lineage.tar.gz")
    export.add_argument("--with-upstream", "--with_upstream", dest="with_upstream", action="store_true",
                        help="include every upstream run, recursively, so that the archive verifies on its own")
    _add_runs_root(export)
    export.set_defaults(handler=_export)

    execute = command("exec-stage", "run one stage (or array task, or fan-in) in this process")
    _add_study_arguments(execute)
    execute.add_argument("--stage", required=True)
    task = execute.add_mutually_exclusive_group()
    task.add_argument("--array-index", "--array_index", dest="array_index", type=int,
                      help="run this array task ($SLURM_ARRAY_TASK_ID)")
    task.add_argument("--fan-in", "--fan_in", dest="fan_in", action="store_true",
                      help="complete an array run whose tasks are all done")
    execute.add_argument("--allow-resume", "--allow_resume", dest="allow_resume", action="store_true")
    execute.set_defaults(handler=_exec_stage)

    completion = command("completion", "print the bash or zsh completion script of runlab (README: Shell completion)")
    completion.add_argument("shell", choices=SHELLS)
    completion.set_defaults(handler=_completion)
    _add_new(command("new", "write a new study's skeleton: package, manifest, config and schema, test, README"))
    return parser


def _add_runs_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-root", "--runs_root", dest="runs_root",
                        help=f"runs root (default: ${RUNS_ROOT_ENV}, then the nearest runs root at or above the working "
                             "directory, then CANON.PATH.RUNS_DIR)")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("runlab-suite")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _add_config_selection(parser: argparse.ArgumentParser, condition: str) -> None:
    """The options that pick a manifest's configs as ``submit`` does (``condition`` prefixes their help)."""
    parser.add_argument("--config", type=Path, help=f"{condition}the study config (default: the manifest's)")
    _add_runs_root(parser)
    parser.add_argument("--set", dest="overrides", action="append", default=[], type=_assignment, metavar="KEY=VALUE",
                        help=f"{condition}as for submit")
    parser.add_argument("--sweep", action="append", default=[], type=_sweep, metavar="KEY=V1,V2,...",
                        help=f"{condition}as for submit: the runs of every config of the sweep")
    parser.add_argument("--sweep-file", "--sweep_file", dest="sweep_file", type=Path, help=f"{condition}as for submit")


def _add_study_arguments(parser: argparse.ArgumentParser, *, sweeps: bool = False) -> None:
    parser.add_argument("manifest", type=Path, help="jobs/<study>.yaml")
    parser.add_argument("--config", type=Path, help="study config (default: the one the manifest names)")
    _add_runs_root(parser)
    parser.add_argument("--set", dest="overrides", action="append", default=[], type=_assignment, metavar="KEY=VALUE",
                        help="set a config key to a YAML value, as if the config file said so (repeatable)")
    if sweeps:
        parser.add_argument("--sweep", action="append", default=[], type=_sweep, metavar="KEY=V1,V2,...",
                            help="submit one config per value (repeatable: the cartesian product)")
        parser.add_argument("--sweep-file", "--sweep_file", dest="sweep_file", type=Path,
                            help="a YAML mapping of keys to value lists, swept like --sweep")


def _assignment(text: str) -> tuple[str, Any]:
    try:
        return parse_assignment(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _age(text: str) -> float:
    from .lifecycle import parse_age_s

    try:
        return parse_age_s(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _sweep(text: str) -> tuple[str, list[Any]]:
    try:
        return parse_sweep(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- loading ------------------------------------------------------------------------------------


def _load_study(args: argparse.Namespace) -> Study:
    return load_study(args.manifest, config=args.config, overrides=dict(args.overrides), sweep=_sweep_of(args),
                      runs_root=args.runs_root)


def _sweep_of(args: argparse.Namespace) -> dict[str, list[Any]]:
    sweep = load_sweep_file(args.sweep_file) if getattr(args, "sweep_file", None) else {}
    for key, values in getattr(args, "sweep", []):
        if key in sweep:
            raise ConfigError(f"--sweep {key} is given twice", "give each swept key once")
        sweep[key] = values
    return sweep


def _store_without_manifest(args: argparse.Namespace) -> RunStore:
    if args.runs_root or os.environ.get(RUNS_ROOT_ENV) or not _DEFAULT_CANON.is_file():
        return RunStore(resolve_runs_root(args.runs_root, None))
    return RunStore(resolve_runs_root(None, canon_runs_dir(load_registry(_DEFAULT_CANON))))


# -- commands -----------------------------------------------------------------------------------


def _submit(args: argparse.Namespace) -> int:
    """Exit 0, or 5 (VerdictFailedError) when a run of the submission is complete and its stage states that its
    result fails: the runs stand (complete, verified), a script or CI job learns of the failed result."""
    try:
        outcomes = submit(args.manifest, config=args.config, overrides=dict(args.overrides), sweep=_sweep_of(args),
                          stages=tuple(args.stage), profile=args.profile, runs_root=args.runs_root,
                          allow_resume=args.allow_resume, dry_run=args.dry_run, run_id_mode=args.run_id_mode,
                          say=_say)
    except StageFailedError as exc:  # the run is kept: name the exact command that continues it
        resume = [] if args.allow_resume else ["--allow_resume"]
        raise StageFailedError(exc.message, exc.run_id, exc.exit_code, exc.cause_hint,
                               shlex.join(["runlab", *args.argv, *resume])) from exc.__cause__
    _raise_failed_verdicts(outcomes)
    return int(ExitCode.OK)


def _raise_failed_verdicts(outcomes: Sequence[StageOutcome]) -> None:
    failed = [outcome for outcome in outcomes if outcome.verdict is not None and not outcome.verdict["ok"]]
    if not failed:
        return
    first = failed[0]
    more = f" (+{len(failed) - 1} more above)" if len(failed) > 1 else ""
    raise VerdictFailedError(f"{len(failed)} of {len(outcomes)} runs state a failed result: {first.run_id} "
                             f"({first.tag}): {first.verdict['summary']}{more}",
                             f"the runs are complete and sound; see `runlab show {first.run_id}`")


def _status(args: argparse.Namespace) -> int:
    if args.manifest is None:
        rows = status_rows(_store_without_manifest(args), None)
        print(render_table(rows))
        return int(ExitCode.OK)
    study = _load_study(args)
    rows = status_rows(study.store, {run_id: tag for plan in study.plans for tag, run_id in plan.run_ids.items()})
    if len(study.plans) == 1:
        print(render_table(rows))
        return int(ExitCode.OK)
    by_id = {row.run_id: row for row in rows}
    for number, plan in enumerate(study.plans, start=1):  # a sweep: its runs config by config, shared ones in each
        print(f"config {number}/{len(study.plans)}: {plan.label}")
        print(render_table([by_id[run_id] for run_id in plan.run_ids.values()], summary=False))
    print(f"sweep of {len(study.plans)} configs, {summary_line(list(by_id.values()))}")
    return int(ExitCode.OK)


def _ls(args: argparse.Namespace) -> int:
    store = _store_without_manifest(args)
    if not args.long:
        for run_id in store.run_ids():
            print(run_id)
        return int(ExitCode.OK)
    for row in status_rows(store, {run_id: run_id.split("_")[1] for run_id in store.run_ids()}):
        print(f"{row.run_id} {row.status}")
    return int(ExitCode.OK)


def _show(args: argparse.Namespace) -> int:
    store = _store_without_manifest(args)
    record = store.read_record(store.find_run(args.run_id))
    if record is None:
        raise ConfigError(f"no run {args.run_id} under {store.root}", "see `runlab ls`")
    if args.json:
        print(json.dumps(record, indent=2))
        return int(ExitCode.OK)
    timings = record["timings"]
    holders = Holders.of(store, {record["run_id"]: record})
    state, elapsed_s = run_state(store, record["run_id"], record, holders)
    held = holders.live(record["run_id"], record) if state == "running" else None
    print(f"run        {record['run_id']}  ({record['study']} stage {record['stage_tag']})")
    print(f"status     {state}" + (f" ({held})" if held else "") + f"  attempts {timings['attempts']}  elapsed "
          + ("-" if elapsed_s is None else f"{elapsed_s:.1f} s"))
    print(f"identity   {record['config_hash']}  (version {record['stage_version']}, reads {', '.join(record['reads'])})")
    print(f"config     {record['study_config_hash']}  (the study config of the submission that made it)")
    print(f"upstream   {', '.join(record['upstream_run_ids'].values()) or '-'}")
    changed = changed_packages(record)
    code = ", ".join(f"{name} {(fingerprint or '?')[:12]}" for name, fingerprint in record["code"]["packages"].items())
    print(f"code       {code}" + (f"  CHANGED since: {', '.join(changed)}" if changed else ""))
    print(f"verifier   {record['verifier'] or '-'}")
    print(f"verdict    {_verdict_text(record)}")
    print(f"executor   {record['executor']} on {record['host']}  slurm job {record['slurm']['job_id'] or '-'}")
    if record["error"]:
        print(f"error      {record['error']['message']}")
    for key, value in record["annotations"].items():
        print(f"annotation {key} = {_shortened(json.dumps(value, ensure_ascii=False, separators=(',', ':')))}")
    for entry in record["artifact_index"]:
        print(f"  {entry['sha256'][:12]}  {entry['bytes']:>12}  {entry['relative_path']}")
    return int(ExitCode.OK)


def _logs(args: argparse.Namespace) -> int:
    store = _store_without_manifest(args)
    run_id = store.find_run(args.run_id)
    if args.events:
        print_events(store.run_dir(run_id))
    elif args.scheduler:
        files = scheduler_logs(store, run_id)
        if not files:
            raise ConfigError(f"run {run_id} has no SLURM job output under {store.root}", "it ran here, not on SLURM")
        for path in files:
            print(f"== {path} ==")
            print(path.read_text(errors="replace"), end="")
    else:
        print_logs(store, run_id, attempt=args.attempt, follow=args.follow)
    return int(ExitCode.OK)


def _verdict_text(record: Mapping[str, Any]) -> str:
    """``FAIL: <summary>  (name value, ...)``, ``pass: ...``, or ``- (none stated)``: the stage's word on its result."""
    verdict = record.get("verdict")
    figures = ", ".join(f"{name} {value}" for name, value in (verdict or {}).get("figures", {}).items())
    return verdict_text(verdict) + (f"  ({figures})" if figures else "")


def _shortened(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _verify(args: argparse.Namespace) -> int:
    store = _store_without_manifest(args)
    if args.all:
        return _verify_all(store, args.debug)
    run_id = _existing_or_named(store, args.run_id)
    problems = verify_run(store, run_id)
    if problems:
        for problem in problems[1:]:
            print(f"  {problem}", file=sys.stderr)
        raise SchemaError(f"run {run_id} does not verify: {problems[0]}"
                          + (f" (+{len(problems) - 1} more above)" if len(problems) > 1 else ""),
                          "the run is damaged; move it away and submit again to recompute it")
    print(_verified(store, run_id))
    return int(ExitCode.OK)


def _existing_or_named(store: RunStore, text: str) -> str:
    """A whole run id as given (verify reports a missing one as a problem), else the run a unique prefix names."""
    try:
        return validate_run_id(text)
    except ConfigError:
        return store.find_run(text)


def _verify_all(store: RunStore, debug: bool) -> int:
    """``runlab verify --all``: one line per run, in sorted order; SchemaError's code if any fails."""
    run_ids = store.run_ids()
    if not run_ids:
        raise ConfigError(f"no runs under {store.root}", "pass --runs_root with the folder that holds the RUN_* runs")
    failed = 0
    for run_id in run_ids:
        try:
            problems = verify_run(store, run_id)
        except Exception as exc:  # a bad id, an unimportable or crashing verifier: this run's line, not the end
            if debug:
                raise
            problems = [exc.message if isinstance(exc, RunlabError) else f"{type(exc).__name__}: {exc}"]
        if problems:
            failed += 1
            more = f" (+{len(problems) - 1} more below)" if len(problems) > 1 else ""
            print(f"{run_id}: does not verify: {problems[0]}{more}", flush=True)
            for problem in problems[1:]:
                print(f"  {problem}", flush=True)
        else:
            print(_verified(store, run_id), flush=True)
    if failed:
        raise SchemaError(f"{failed} of {len(run_ids)} runs under {store.root} do not verify",
                          "see `runlab verify RUN_ID` for every problem of one run")
    return int(ExitCode.OK)


def _verified(store: RunStore, run_id: str) -> str:
    """The line of a run that checks out."""
    record = store.read_record(run_id)
    verifier = verifier_to_run(record)
    recomputed = f", recomputed by {verifier}" if verifier else ""
    computed = sum(not is_runtime_log(entry["relative_path"]) for entry in record["artifact_index"])
    judged = "" if record.get("verdict") is None else f"; verdict {verdict_text(record['verdict'])}"
    return f"{run_id}: ok ({record['stage_status']}, {computed} artifacts rehashed{recomputed}){judged}"  # and its logs


def _monitor(args: argparse.Namespace) -> int:
    from .monitor import serve  # the web stack loads only for this command

    store = _store_without_manifest(args)
    if not store.root.is_dir():
        raise ConfigError(f"runs root {store.root} does not exist", "pass --runs_root with the folder that holds the RUN_* runs")
    serve(store.root, args.host, args.port, socket_path=args.socket)
    return int(ExitCode.OK)


def _say(line: str) -> None:
    print(line, flush=True)


def _cancel(args: argparse.Namespace) -> int:
    from .cancel import cancel_runs

    if args.target.endswith((".yaml", ".yml")) or Path(args.target).is_file():
        study = load_study(Path(args.target), config=args.config, overrides=dict(args.overrides),
                           sweep=_sweep_of(args), runs_root=args.runs_root)
        run_ids = list(dict.fromkeys(run_id for plan in study.plans for run_id in plan.run_ids.values()))
        if not cancel_runs(study.store, run_ids, say=_say):
            print(f"nothing of study {study.manifest.study} with this config is queued or running")
        return int(ExitCode.OK)
    store = _store_without_manifest(args)
    run_id = _existing_or_named(store, args.target)  # a queued run has a claim but no directory yet
    if not cancel_runs(store, [run_id], say=_say):
        print(f"nothing to cancel: run {run_id} is {store.status_of(run_id)}, not queued or running")
    return int(ExitCode.OK)


def _rm(args: argparse.Namespace) -> int:
    from .lifecycle import remove_runs

    remove_runs(_store_without_manifest(args), args.run_ids, force=args.force, say=_say)
    return int(ExitCode.OK)


def _gc(args: argparse.Namespace) -> int:
    from .lifecycle import collect_garbage

    store = _store_without_manifest(args)
    if not store.root.is_dir():
        raise ConfigError(f"runs root {store.root} does not exist",
                          "pass --runs_root with the folder that holds the RUN_* runs")
    collect_garbage(store, older_than_s=args.older_than, dry_run=args.dry_run, say=_say)
    return int(ExitCode.OK)


def _export(args: argparse.Namespace) -> int:
    from .export import export_runs

    store = _store_without_manifest(args)
    export_runs(store, store.find_run(args.run_id), args.archive, with_upstream=args.with_upstream, say=_say)
    return int(ExitCode.OK)


def _exec_stage(args: argparse.Namespace) -> int:
    study = _load_study(args)
    plan = study.plans[0]
    stage = plan.manifest.stages.get(args.stage)
    if stage is None:
        raise ConfigError(f"stage {args.stage} is not in {plan.manifest.path}",
                          f"stages: {', '.join(plan.manifest.stages)}")
    if (args.array_index is not None or args.fan_in) and stage.array is None:
        raise ConfigError(f"stage {stage.tag} is not an array stage", "drop --array-index/--fan-in")
    if stage.array is not None and args.array_index is None and not args.fan_in:
        raise ConfigError(f"stage {stage.tag} is an array of {stage.array} tasks", "pass --array-index N or --fan-in")
    job = build_stage_job(plan, stage.tag, runs_root=str(study.store.root),
                          executor="slurm" if "SLURM_JOB_ID" in os.environ else "local",
                          submission_id=_hand_submission_id(), allow_resume=args.allow_resume)
    if args.array_index is not None:
        if not 0 <= args.array_index < stage.array:
            raise ConfigError(f"array index {args.array_index} is outside 0-{stage.array - 1}", "check --array-index")
        job = replace(job, task_index=args.array_index)
    if args.fan_in:
        job = replace(job, fan_in=True)
    print(job(), flush=True)
    return int(ExitCode.OK)


def _hand_submission_id() -> str:
    """One id per hand-submitted SLURM job or array (tasks and requeues share it); random elsewhere."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    if job is None:
        return secrets.token_hex(8)
    return hashlib.sha256(f"slurm-job:{job}".encode()).hexdigest()[:16]


def _completion(args: argparse.Namespace) -> int:
    print(completion_script(_parser(), args.shell), end="")
    return int(ExitCode.OK)


# -- new: a study skeleton --------------------------------------------------------------------------


def _add_new(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="the study's name, also its package's: a lowercase Python identifier")
    parser.add_argument("--dir", type=Path, help="the new (or empty) project folder to write (default: ./STUDY)")
    parser.set_defaults(handler=_new)


def _new(args: argparse.Namespace) -> int:
    from .skeleton import write_skeleton

    target = args.dir if args.dir is not None else Path(args.study)
    written = write_skeleton(args.study, target)
    print(f"wrote study {args.study} into {target}/: " + ", ".join(path.as_posix() for path in written))
    print(f"next: cd {shlex.quote(str(target))} && runlab submit jobs/{args.study}.yaml && python -m pytest tests")
    return int(ExitCode.OK)
