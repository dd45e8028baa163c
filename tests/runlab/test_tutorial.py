"""docs/tutorial.md, followed literally: its files written, its commands run in order, their output checked.

The convention (stated at the end of the tutorial): a fenced block whose info string is ``<language> title=PATH``
is a file written whole; in a ``console`` block each ``$ `` line is a bash command (``$ cd DIR`` moves the
folder) and the other lines are its output, in order, ``…`` matching any text and runs of spaces counting as
one. A command exits 0 unless its output shows a ``runlab: error:`` line, which means it exits non-zero.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.cli import REPO, cli_environment

TUTORIAL = REPO / "docs" / "tutorial.md"
_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_TITLE = re.compile(r"^\w+ title=(?P<path>\S+)$")


@dataclass
class Command:
    line: str
    output: list[str] = field(default_factory=list)


@dataclass
class File:
    path: str
    text: str


def tutorial_steps(text: str) -> list[Command | File]:
    """The tutorial's files and commands, in the order they appear."""
    steps: list[Command | File] = []
    for block in _FENCE.finditer(text):
        info, body = block["info"].strip(), block["body"]
        if (title := _TITLE.match(info)) is not None:
            steps.append(File(title["path"], body))
        elif info == "console":
            for line in body.splitlines():
                if line.startswith("$ "):
                    steps.append(Command(line[2:]))
                elif line.strip():
                    steps[-1].output.append(line)
    return steps


def _pattern(shown: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(" ".join(part.split())) for part in shown.split("…")))


def _check_output(command: Command, printed: str) -> None:
    """Every shown line matches a printed line, in order."""
    lines = iter(" ".join(line.split()) for line in printed.splitlines())
    for shown in command.output:
        pattern = _pattern(shown)
        assert any(pattern.fullmatch(line) for line in lines), f"$ {command.line}\nshows: {shown}\nprinted:\n{printed}"


def _tools(folder: Path) -> dict[str, str]:
    """An environment whose ``runlab`` and ``python`` are this checkout's, on this interpreter."""
    folder.mkdir()
    for name, command in (("runlab", f'exec "{sys.executable}" -m runlab "$@"'),
                          ("python", f'exec "{sys.executable}" "$@"')):
        (folder / name).write_text(f"#!/bin/sh\n{command}\n")
        (folder / name).chmod(0o755)
    environment = cli_environment()
    environment["PATH"] = f"{folder}:{environment['PATH']}"
    return environment


def test_the_convention_reads_files_commands_and_output():
    text = ("prose\n```python title=a/b.py\nx = 1\n```\n```console\n$ cd a\n$ python b.py\nout …\n```\n"
            "```yaml\nshown: only\n```\n")
    assert tutorial_steps(text) == [File("a/b.py", "x = 1\n"), Command("cd a"), Command("python b.py", ["out …"])]
    assert _pattern("S01 RUN_S01_0500e8b2f9f1 ran …").fullmatch("S01 RUN_S01_0500e8b2f9f1 ran 0.32 s here")
    assert not _pattern("config …/walks/runs").fullmatch("config /tmp/walks/runs2")


def test_the_tutorial_runs_as_written(tmp_path):
    environment = _tools(tmp_path / "tools")
    here = tmp_path / "tutorial"
    here.mkdir()
    steps = tutorial_steps(TUTORIAL.read_text(encoding="utf-8"))
    assert sum(isinstance(step, Command) for step in steps) >= 10 and sum(isinstance(step, File) for step in steps) >= 4
    for step in steps:
        if isinstance(step, File):
            (here / step.path).parent.mkdir(parents=True, exist_ok=True)
            (here / step.path).write_text(step.text, encoding="utf-8")
        elif step.line.startswith("cd "):
            here = (here / step.line[3:]).resolve()
            assert here.is_dir(), step.line
        else:
            done = subprocess.run(["bash", "-c", step.line], cwd=here, env=environment, capture_output=True,
                                  text=True, timeout=120)
            printed = done.stdout + done.stderr
            fails = any(line.startswith("runlab: error:") for line in step.output)
            assert (done.returncode != 0) == fails, f"$ {step.line}\nexit {done.returncode}\n{printed}"
            _check_output(step, printed)
