"""What a stage sees: its run (config, upstream runs, artifact writers, checkpoints).

A stage is ``def stage(run: Run) -> None`` (or ``stage(run, task_index)`` for array stages). It reads
``run.config`` and ``run.upstream(TAG)`` and writes only through ``run.write_*``: each write is atomic
and registers the file's sha256 in the record's ``artifact_index``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, TypeVar

import numpy as np

from . import formats
from .atomic import atomic_write_bytes, commit_temporary, write_temporary
from .config import resolved_from_bytes
from .errors import ConfigError, MissingUpstreamError, SchemaError
from .eventlog import append_event, part_name
from .identity import DeclaredConfig
from .layout import (CHECKPOINT_DIR, CONFIG_NAME, STUDY_CONFIG_NAME, assert_no_symlinks, is_runtime_log,
                     validate_artifact_path)
from .progress import Progress, tracked
from .record import Verdict, utc_now
from .store import RunStore
from .verify import artifact_problem

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RunView", "Run"]

T = TypeVar("T")
_ANNOTATION_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")  # as in run_record.schema.json (figure names too)
_SUMMARY_MAX_CHARS = 200  # as in run_record.schema.json
_FIGURES_MAX = 16


class RunView:
    """Read-only view of a run as its record stands: the record, its config, its upstream runs and
    hash-checked access to its artifacts (what a verifier gets)."""

    def __init__(self, store: RunStore, run_id: str, record: Mapping[str, Any]) -> None:
        self.store = store
        self.run_id = run_id
        self.dir = store.run_dir(run_id)
        self.record = record
        self._index = {entry["relative_path"]: entry for entry in record["artifact_index"]}

    @cached_property
    def config(self) -> Mapping[str, Any]:
        """What the run's stage read of its config: the declared keys of ``config_resolved.yaml`` (checked against
        ``config_hash``), as a :class:`DeclaredConfig` over the study config kept beside it."""
        identity = self._stored_config(CONFIG_NAME, "config_hash")
        study = self._stored_config(STUDY_CONFIG_NAME, "study_config_hash")
        return DeclaredConfig(identity["config"], study, stage=self.record["stage_tag"],
                              manifest=f"the manifest of study {self.record['study']}")

    def _stored_config(self, name: str, hash_key: str) -> Mapping[str, Any]:
        assert_no_symlinks(self.dir, name)
        path = self.dir / name
        try:
            config = resolved_from_bytes(path.read_bytes(), str(path))
        except OSError as exc:
            raise SchemaError(f"cannot read {path}: {exc}", f"run `runlab verify {self.run_id}`; the run is damaged") from exc
        if config.sha256 != self.record[hash_key]:
            raise SchemaError(f"{path} does not match {hash_key} of run {self.run_id}",
                              f"run `runlab verify {self.run_id}`; the run is damaged")
        return config.data

    def upstream(self, stage_tag: str) -> RunView:
        """The complete upstream run of ``stage_tag`` named in this run's record (exit 3 if missing or incomplete)."""
        return _upstream_view(self.store, self.run_id, self.record["stage_tag"], self.record["upstream_run_ids"],
                              stage_tag)

    @property
    def artifacts(self) -> list[str]:
        return list(self._index)

    @property
    def annotations(self) -> Mapping[str, Any]:
        """Facts the stage stated about its run (``Run.annotate``), by key."""
        return self.record["annotations"]

    @property
    def verdict(self) -> Verdict | None:
        """What the stage stated of its result (``Run.set_verdict``), or None when it stated nothing."""
        return self.record.get("verdict")

    def artifact_path(self, relative_path: str) -> Path:
        """Path of a registered artifact after checking its size and sha256 against the record."""
        entry = self._index.get(relative_path)
        if entry is None:
            raise MissingUpstreamError(f"run {self.run_id} has no artifact {relative_path}",
                                       f"it has: {', '.join(self._index) or 'none'}")
        assert_no_symlinks(self.dir, relative_path)
        problem = artifact_problem(self.dir, entry)
        if problem is not None:
            raise SchemaError(f"artifact of run {self.run_id} does not match its record: {problem}",
                              f"run `runlab verify {self.run_id}`; the run is damaged")
        return self.dir / relative_path

    def read_bytes(self, relative_path: str) -> bytes:
        return self.artifact_path(relative_path).read_bytes()


class Run:
    """An executing run of one stage (or one array task of it, or one link of a chain)."""

    def __init__(
        self,
        store: RunStore,
        record: Mapping[str, Any],
        config: Mapping[str, Any],
        task_index: int | None = None,
        *,
        chain_index: int | None = None,
        chain_previous: str | None = None,
        part: str | None = None,
    ) -> None:
        self.store = store
        self.run_id: str = record["run_id"]
        self.stage_tag: str = record["stage_tag"]
        self.seed: int = record["seeds"]["global"]
        self.config = config
        self.task_index = task_index
        self.chain_index = chain_index  # 0, 1, ... for the links of a manifest ``chain`` stage, else None
        self._chain_previous = chain_previous
        self.part = part or part_name(task_index)  # "stage", "task-0003" or "fan-in": names its logs and progress
        self.dir = store.run_dir(self.run_id)
        self._upstream_ids: Mapping[str, str] = dict(record["upstream_run_ids"])

    # -- upstream ------------------------------------------------------------------------------

    @property
    def upstream_tags(self) -> list[str]:
        """Stage tags this stage declares in its manifest ``needs``."""
        return sorted(self._upstream_ids)

    def upstream(self, stage_tag: str) -> RunView:
        """The complete upstream run of ``stage_tag`` (exit 3 if missing or incomplete)."""
        return _upstream_view(self.store, self.run_id, self.stage_tag, self._upstream_ids, stage_tag)

    def previous_link(self) -> RunView | None:
        """The complete run of the link before this one in its chain (None for the first link)."""
        if self.chain_index is None:
            raise ConfigError(f"stage {self.stage_tag} is not a link of a chain", "declare chain: <config key> in the manifest")
        return None if self._chain_previous is None else self.upstream(self._chain_previous)

    def view(self) -> RunView:
        """This run's artifacts as registered so far (a fan-in reads its tasks' shards through it)."""
        record = self.store.read_record(self.run_id)
        assert record is not None
        return RunView(self.store, self.run_id, record)

    def task_seed(self) -> int:
        """Seed for this array task, derived from the run seed and the task index (the run seed if not an array)."""
        if self.task_index is None:
            return self.seed
        return int(np.random.SeedSequence([self.seed, self.task_index]).generate_state(1)[0])

    # -- artifacts -----------------------------------------------------------------------------

    def write_bytes(self, relative_path: str, data: bytes) -> dict[str, Any]:
        """Write ``data`` to ``relative_path`` atomically and register it; returns the index entry."""
        validate_artifact_path(relative_path)
        if is_runtime_log(relative_path):
            raise ConfigError(f"{relative_path} is the runtime's own log of run {self.run_id}",
                              "write the stage's logs under another name (logs/<name>.jsonl)")
        assert_no_symlinks(self.dir, relative_path)
        target = self.dir / relative_path
        with self.store.writing(f"write {relative_path} of run {self.run_id}"):
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = write_temporary(target, data)
        entry = {"relative_path": relative_path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                 "created_utc": utc_now()}

        def commit_and_register(record: dict[str, Any]) -> None:
            commit_temporary(temporary, target)  # under the lock, and only while the run is incomplete
            others = [item for item in record["artifact_index"] if item["relative_path"] != relative_path]
            record["artifact_index"] = sorted([*others, entry], key=lambda item: item["relative_path"])

        try:
            self.store.update_record(self.run_id, commit_and_register)
        finally:
            temporary.unlink(missing_ok=True)
        return entry

    def write_results(self, name: str, table: formats.TableLike) -> dict[str, Any]:
        """``results/<name>.parquet``."""
        return self.write_bytes(f"results/{name}.parquet", formats.parquet_bytes(table))

    def write_table(self, name: str, table: formats.TableLike) -> list[dict[str, Any]]:
        """``tables/<name>.csv`` and ``tables/<name>.parquet`` of the same table."""
        return [
            self.write_bytes(f"tables/{name}.csv", formats.csv_bytes(table)),
            self.write_bytes(f"tables/{name}.parquet", formats.parquet_bytes(table)),
        ]

    def write_json(self, relative_path: str, obj: Any) -> dict[str, Any]:
        """Canonical JSON at ``relative_path`` (any artifact folder)."""
        return self.write_bytes(relative_path, formats.json_bytes(obj))

    def write_jsonl(self, name: str, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """``logs/<name>.jsonl``, one JSON object per line."""
        return self.write_bytes(f"logs/{name}.jsonl", formats.jsonl_bytes(records))

    def write_hdf5(self, name: str, arrays: Mapping[str, np.ndarray],
                   attrs: Mapping[str, str | int | float] | None = None) -> dict[str, Any]:
        """``data/<name>.h5`` holding ``arrays`` as datasets."""
        return self.write_bytes(f"data/{name}.h5", formats.hdf5_bytes(arrays, attrs))

    def write_figure(self, name: str, figure: "Figure") -> list[dict[str, Any]]:
        """``figs/<name>.pdf`` and ``figs/<name>.png`` of one matplotlib figure."""
        return [self.write_bytes(f"figs/{name}.{fmt}", formats.figure_bytes(figure, fmt)) for fmt in ("pdf", "png")]

    # -- annotations ---------------------------------------------------------------------------

    def annotate(self, key: str, value: Any) -> None:
        """Record a fact about this run in ``record["annotations"][key]`` (e.g. that its data is synthetic).

        ``key`` is 1-64 lower-case letters, digits and ``_``; ``value`` is plain JSON (NumPy scalars and
        arrays become numbers and lists; NaN and infinity are refused). Set again, a key is replaced.
        Like artifact writes, it happens under the run's lock and only while the run is incomplete.
        """
        if not isinstance(key, str) or not _ANNOTATION_KEY_RE.fullmatch(key):
            raise ConfigError(f"invalid annotation key {key!r} for run {self.run_id}",
                              "use 1-64 lower-case letters, digits and '_', starting with a letter")
        try:
            plain = json.loads(formats.json_bytes(value))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"annotation {key} of run {self.run_id} is not plain JSON: {exc}",
                              "annotations hold plain JSON: str, int, finite float, bool, null, lists, str-keyed objects") from exc
        self.store.update_record(self.run_id, lambda record: record["annotations"].update({key: plain}))

    # -- progress --------------------------------------------------------------------------------

    def progress(self, total: int, unit: str = "step") -> Progress:
        """A progress counter of ``total`` steps of ``unit``: ``with run.progress(8, "gain") as p: ... p.advance()``.
        Shown as a bar on a terminal, as lines in the attempt's log, and by ``runlab status`` and the monitor."""
        return Progress(self.dir, self.run_id, self.part, total, unit)

    def track(self, items: Iterable[T], unit: str = "step", total: int | None = None) -> Iterator[T]:
        """Yield ``items`` and report progress after each (``total`` defaults to ``len(items)``)."""
        count = len(items) if total is None else total  # type: ignore[arg-type]
        return tracked(self.progress(count, unit), items)

    # -- verdict ---------------------------------------------------------------------------------

    def set_verdict(self, ok: bool, summary: str, figures: Mapping[str, int | float] | None = None) -> None:
        """State whether this run's result passes (``ok``), in one line (``summary``, 1-200 characters) and a
        few named numbers behind it (``figures``: at most 16, names as annotation keys, finite values).

        The verdict is the stage's judgement of its result, apart from the run's integrity: a run whose
        verdict fails still completes and verifies, and ``runlab submit`` then exits 5
        (``ExitCode.VERDICT_FAILED``). Set again, it is replaced; like annotations, only while the run is
        incomplete. A stage that states nothing has no verdict (``-``).
        """
        verdict = _checked_verdict(self.run_id, ok, summary, dict(figures or {}))
        self.store.update_record(self.run_id, lambda record: record.update(verdict=verdict))

    # -- checkpoints ---------------------------------------------------------------------------

    def save_checkpoint(self, state: Mapping[str, Any]) -> None:
        """Persist JSON resume state for this run (or array task); a requeued or resumed job reads it back."""
        atomic_write_bytes(self._checkpoint_path(), formats.json_bytes(state))
        append_event(self.dir, "checkpoint", part=self.part)

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The last saved resume state, or None on a fresh start."""
        try:
            return json.loads(self._checkpoint_path().read_bytes())
        except FileNotFoundError:
            return None

    def _checkpoint_path(self) -> Path:
        """``.checkpoint/<name>``, after checking that neither it nor its folder is a symbolic link (exit 2)."""
        name = "state.json" if self.task_index is None else f"task_{self.task_index:06d}.json"
        assert_no_symlinks(self.dir, f"{CHECKPOINT_DIR}/{name}")
        return self.dir / CHECKPOINT_DIR / name


def _checked_verdict(run_id: str, ok: Any, summary: Any, figures: dict[str, Any]) -> Verdict:
    """The record's verdict block, or ConfigError naming what ``Run.set_verdict`` was given wrong."""
    hint = "set_verdict(ok: bool, summary: one line of 1-200 characters, figures: {name: finite number})"
    if not isinstance(ok, (bool, np.bool_)):
        raise ConfigError(f"verdict of run {run_id}: ok is {type(ok).__name__}, not bool", hint)
    if (not isinstance(summary, str) or not 0 < len(summary) <= _SUMMARY_MAX_CHARS
            or "\n" in summary or "\r" in summary):
        raise ConfigError(f"verdict of run {run_id}: summary {summary!r:.80} is not one line of 1-200 characters", hint)
    if len(figures) > _FIGURES_MAX:
        raise ConfigError(f"verdict of run {run_id}: {len(figures)} figures, at most {_FIGURES_MAX}", hint)
    plain: dict[str, int | float] = {}
    for name, value in figures.items():
        if not isinstance(name, str) or not _ANNOTATION_KEY_RE.fullmatch(name):
            raise ConfigError(f"verdict of run {run_id}: invalid figure name {name!r}",
                              "use 1-64 lower-case letters, digits and '_', starting with a letter")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value):
            raise ConfigError(f"verdict of run {run_id}: figure {name} is {value!r}, not a finite number", hint)
        plain[name] = value.item() if isinstance(value, np.generic) else value
    return {"ok": bool(ok), "summary": summary, "figures": plain, "utc": utc_now()}


def _upstream_view(store: RunStore, run_id: str, own_tag: str, upstream_ids: Mapping[str, str],
                   stage_tag: str) -> RunView:
    """View of the complete run that ``upstream_ids`` (of run ``run_id``, stage ``own_tag``) names for ``stage_tag``."""
    upstream_id = upstream_ids.get(stage_tag)
    if upstream_id is None:
        raise ConfigError(f"stage {own_tag} does not declare {stage_tag} upstream",
                          f"add it to the stage's needs in the manifest (it has: {', '.join(upstream_ids) or 'none'})")
    return RunView(store, upstream_id, store.complete_record(upstream_id, needed_by=run_id))
