"""The one home of runlab's exit codes and the errors that carry them.

Every failure a user can cause maps to one exception class here; the CLI turns it into one line
(``what is wrong; what to do``) and its exit code. The exceptions keep their fields when pickled, since
they cross the job boundary (a SLURM job raises, the submitting side reports).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ConfigError",
    "DeterminismError",
    "ExitCode",
    "MissingUpstreamError",
    "RunExistsError",
    "RunlabError",
    "SchemaError",
    "StageFailedError",
    "VerdictFailedError",
]


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # a stage raised, or the cluster refused a job: not a user input problem
    SCHEMA = 2  # malformed input, schema or determinism failure, tampered artifact
    MISSING_UPSTREAM = 3
    RUN_EXISTS = 4
    VERDICT_FAILED = 5  # every run is complete and sound, but a stage states that its result fails (a verdict)


class RunlabError(Exception):
    """A failure with a user-facing message, a hint on what to do, and an exit code."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class ConfigError(RunlabError):
    """Bad YAML, an unresolved CANON reference, an unknown key, an unsafe path or id."""

    exit_code = ExitCode.SCHEMA


class SchemaError(RunlabError):
    """A run record or artifact that fails validation or its recorded hash."""

    exit_code = ExitCode.SCHEMA


class DeterminismError(RunlabError):
    """A required deterministic setting that could not be applied, or GPUs a stage asks for that its job cannot see."""

    exit_code = ExitCode.SCHEMA


class MissingUpstreamError(RunlabError):
    """An upstream run that does not exist or is not complete."""

    exit_code = ExitCode.MISSING_UPSTREAM


class RunExistsError(RunlabError):
    """A run directory that exists where a new one was to be created."""

    exit_code = ExitCode.RUN_EXISTS


class StageFailedError(RunlabError):
    """A stage that ran in this process raised after writing to its run, which is kept (failed) to be continued.

    ``message`` and ``cause_hint`` are what the stage raised, ``exit_code`` that error's code (1 unless it was a
    RunlabError); ``continue_command`` is what continues the run, as exact as the caller can make it.
    """

    def __init__(self, message: str, run_id: str, exit_code: int = ExitCode.FAILURE, cause_hint: str = "",
                 continue_command: str = "the same command with --allow_resume") -> None:
        kept = f"run {run_id} is kept; once the cause is fixed, continue it with: {continue_command}"
        super().__init__(message, f"{cause_hint}; {kept}" if cause_hint else kept)
        self.args = (message, run_id, exit_code, cause_hint, continue_command)  # what pickling passes back
        self.run_id = run_id
        self.exit_code = ExitCode(exit_code)
        self.cause_hint = cause_hint
        self.continue_command = continue_command
class VerdictFailedError(RunlabError):
    """Runs that completed and verify, whose stages state that their results fail (``Run.set_verdict``)."""

    exit_code = ExitCode.VERDICT_FAILED
