"""Study pages: how a study adds its own views to the monitor without runlab knowing the study.

A study package declares an entry point in the group ``runlab.monitor``, named after the ``study`` of
its run records, that loads a :class:`StudyMonitor` (``irer = "irer.monitor:MONITOR"`` in
``pyproject.toml``). The monitor loads every such entry point when it starts (never a module named by
a record: records are data). A study monitor gives:

- ``link(record)``: the path of the study's page for a run (a hunt's page for each of its generations),
  or None. The run table's study cell and the run page link there, and the live feed's ``run`` events
  carry it as ``study_href``, so a study page knows which events are its own.
- ``routes(context)``: Starlette routes mounted under ``/studies/<study>``; GET only (a route that
  accepts any other method is refused at start). They read runs only through ``context``: the run
  index and :meth:`StudyContext.open_run` (the monitor's safe file access).

A page whose element ``#study-live`` has ``data-fragment`` (a URL) and ``data-study-href`` is kept live by
the monitor's script: on every ``run`` event whose ``study_href`` is the page's, it fetches the fragment
and puts it in place of ``#study-live``'s content.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from starlette.routing import BaseRoute, Mount, Route

from .files import RunFiles, open_or_404
from .index import RunIndex, RunRow
from .render import Pages

__all__ = ["ENTRY_POINT_GROUP", "StudyContext", "StudyMonitor", "load_study_monitors", "study_mounts"]

ENTRY_POINT_GROUP = "runlab.monitor"
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_./-]*")  # no scheme, query, fragment, quote or "..": a link of this monitor


class StudyMonitor(Protocol):
    """What a study's entry point in ``runlab.monitor`` loads."""

    def link(self, record: Mapping[str, Any]) -> str | None:
        """Path (starting ``/studies/<study>/``) of the study's page for the run of ``record``, or None."""

    def routes(self, context: "StudyContext") -> Sequence[BaseRoute]:
        """The study's GET routes, relative to ``/studies/<study>``."""


@dataclass(frozen=True)
class StudyContext:
    """What a study page may read: the rows of the run index and runs through the safe file access."""

    study: str
    index: RunIndex
    pages: Pages

    def rows(self, study_href: str | None = None) -> list[RunRow]:
        """Rows of this study (refreshed first), only those linked to ``study_href`` when given."""
        self.index.refresh()
        return [row for row in self.index.rows()
                if row.study == self.study and (study_href is None or row.study_href == study_href)]

    def open_run(self, run_id: str) -> RunFiles:
        """The run ``run_id`` (its record validated, its files reachable only through ``RunFiles.path``);
        an HTTP 404 for a run that is absent, malformed, linked out or unreadable."""
        return open_or_404(self.index.root, run_id)

    def render(self, templates: Path, name: str, **context: Any) -> str:
        """Template ``name`` from the study's folder ``templates`` (which may extend ``base.html``)."""
        return self.pages.render_from(templates, name, **context)


def load_study_monitors() -> dict[str, StudyMonitor]:
    """The study monitors of every installed ``runlab.monitor`` entry point, by study name; one that fails
    to load is left out with a warning on stderr, so a broken study never takes the monitor down."""
    monitors: dict[str, StudyMonitor] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            monitors[point.name] = point.load()
        except Exception as exc:  # noqa: BLE001 - a study's import error is that study's problem
            print(f"runlab monitor: warning: study page {point.name} ({point.value}) did not load: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr)
    return monitors


def linker(monitors: Mapping[str, StudyMonitor]) -> Callable[[Mapping[str, Any]], str | None]:
    """``record -> study_href`` through the monitor of the record's study: None when it has none, when its
    ``link`` fails, or when the link is not a plain path under ``/studies/<study>/``."""

    def link(record: Mapping[str, Any]) -> str | None:
        study = str(record.get("study"))
        monitor = monitors.get(study)
        if monitor is None:
            return None
        try:
            href = monitor.link(record)
        except Exception:  # noqa: BLE001 - a record the study cannot place gets no link
            return None
        if (not isinstance(href, str) or not _PLAIN_PATH.fullmatch(href) or ".." in href
                or not href.startswith(f"/studies/{study}/")):
            return None
        return href

    return link


def study_mounts(monitors: Mapping[str, StudyMonitor], index: RunIndex, pages: Pages) -> list[Mount]:
    """A ``Mount("/studies/<study>")`` of each study's routes; a route that accepts a method other than
    GET (and the HEAD that Starlette adds) is a ValueError: the monitor changes nothing."""
    mounts = []
    for study, monitor in sorted(monitors.items()):
        routes = list(monitor.routes(StudyContext(study, index, pages)))
        for route in routes:
            methods = set(getattr(route, "methods", None) or {"GET"}) if isinstance(route, Route) else None
            if methods is None or not methods <= {"GET", "HEAD"}:
                raise ValueError(f"study page {study}: route {getattr(route, 'path', route)!r} must be a GET Route")
        mounts.append(Mount(f"/studies/{study}", routes=routes))
    return mounts
