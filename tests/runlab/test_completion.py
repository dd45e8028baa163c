"""``runlab completion bash|zsh``: the scripts parse, and bash, given a command line, completes runlab's own
subcommands, options and run ids."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from runlab.cli import _parser

from tests.support.cli import cli_environment, run_cli


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _shown_options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions if action.help is not argparse.SUPPRESS
            for option in action.option_strings}


def _complete(script: Path, lines: list[str], env: dict[str, str]) -> list[list[str]]:
    """What bash completes at the end of each command line (the last word is the one being completed)."""
    calls = []
    for line in lines:
        words = shlex.split(line) + ([""] if line.endswith(" ") else [])
        calls.append(f"COMP_WORDS=({shlex.join(words)}); COMP_CWORD={len(words) - 1}; _shtab_runlab; "
                     "printf '%s\\n' \"${COMPREPLY[@]}\"; echo '=='")
    program = f"source {shlex.quote(str(script))}\n" + "\n".join(calls)
    out = subprocess.run(["bash", "--norc", "-c", program], env=env, capture_output=True, text=True, check=True).stdout
    return [sorted(filter(None, block.split("\n"))) for block in out.split("==\n")[:-1]]


@pytest.fixture
def bash_script(tmp_path: Path) -> Path:
    result = run_cli("completion", "bash")
    assert result.returncode == 0, result.stderr
    script = tmp_path / "runlab.bash"
    script.write_text(result.stdout)
    return script


def test_the_bash_script_parses_and_completes_every_subcommand_and_option(bash_script: Path, tmp_path: Path):
    assert subprocess.run(["bash", "-n", str(bash_script)], capture_output=True, text=True).returncode == 0
    commands = _subcommands()
    assert {"submit", "status", "show", "logs", "verify", "rm", "export", "completion"} <= set(commands)
    lines = ["runlab ", "runlab s", "runlab -", "runlab completion ",
             *(f"runlab {name} -" for name in commands)]
    everything, s_words, top, shells, *per_command = _complete(bash_script, lines, cli_environment())
    assert everything == sorted(commands)
    assert s_words == sorted(name for name in commands if name.startswith("s")) == ["show", "status", "submit"]
    assert top == ["--debug", "--help", "--version", "-h"]
    assert shells == ["bash", "zsh"]
    for (name, parser), options in zip(commands.items(), per_command):
        assert options == sorted(_shown_options(parser)), name
    assert {"--runs-root", "--runs_root", "--dry-run", "--dry_run"} <= set(per_command[list(commands).index("submit")])


def test_bash_completes_run_ids_from_runlab_ls(bash_script: Path, tmp_path: Path):
    runs = tmp_path / "runs"
    for run_id in ("RUN_S01_0123456789ab", "RUN_S01_0123456789cd", "RUN_S02_00000000aaaa"):
        (runs / run_id).mkdir(parents=True)
    shims = tmp_path / "bin"  # `runlab` on PATH runs this checkout, as an installed console script would
    shims.mkdir()
    (shims / "runlab").write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m runlab \"$@\"\n")
    (shims / "runlab").chmod(0o755)
    env = cli_environment(RUNLAB_RUNS_ROOT=str(runs), PATH=f"{shims}{os.pathsep}{os.environ['PATH']}")
    show, rm, logs_root = _complete(bash_script, ["runlab show RUN_S01", "runlab rm RUN_S01_0123456789ab RUN_S0",
                                                  f"runlab logs --runs-root {tmp_path}/ru"], env)
    assert show == ["RUN_S01_0123456789ab", "RUN_S01_0123456789cd"]
    assert rm == ["RUN_S01_0123456789ab", "RUN_S01_0123456789cd", "RUN_S02_00000000aaaa"]
    assert logs_root == [str(runs)]


def test_the_zsh_script_names_every_subcommand_and_option():
    result = run_cli("completion", "zsh")
    assert result.returncode == 0, result.stderr
    script = result.stdout
    assert script.startswith("#compdef runlab")
    for name, parser in _subcommands().items():
        block = re.search(rf"^_shtab_runlab_{name.replace('-', '_')}_options=\((.*?)^\)", script, re.M | re.S)
        assert block is not None, name
        assert set(re.findall(r'(?<=[{,"*])-{1,2}[\w-]+(?=[,}\["])', block[1])) == _shown_options(parser), name
    assert "($(runlab ls 2>/dev/null))" in script  # run ids complete from the runs root


def test_an_unknown_shell_is_a_usage_error():
    result = run_cli("completion", "fish")
    assert result.returncode == 2 and "invalid choice: 'fish'" in result.stderr and result.stderr.count("\n") == 1
