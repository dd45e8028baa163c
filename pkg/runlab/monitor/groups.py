"""Study pages over the runs of one resolved config: an irer hunt (its generations and report), an
avalanche_llm pipeline (its phases). The runs made by one study config share its ``study_config_hash``, so a group is named
by the hash's first 12 hex digits and lives at ``/studies/<study>/<plural>/<group id>``.

:class:`ConfigGroups` is a study monitor (``runlab.monitor.studies.StudyMonitor``): an entry point may
load it as it is, or a study monitor that links fewer runs may call it. It links each run to its group
and gives the GET routes: the list of groups at ``/``, one group's page, and that page's live part at
``…/live``, which the monitor's script re-fetches when a run of the group changes. The study gives only
the template of the live part and the function that reads what it shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from .index import RunRow
from .studies import StudyContext

__all__ = ["GROUP_ID_CHARS", "ConfigGroups", "GroupView"]

GROUP_ID_CHARS = 12
_GROUP_ID = re.compile(rf"[0-9a-f]{{{GROUP_ID_CHARS}}}")
_CONFIG_HASH = re.compile(rf"[0-9a-f]{{{GROUP_ID_CHARS},}}")

GroupView = Callable[[StudyContext, str, Sequence[RunRow]], Mapping[str, Any]]
"""``(context, href, rows) -> template context`` of a group's live part; ``rows`` are the group's runs
(never empty). It may raise ``HTTPException``; it runs in a worker thread, so it may read files."""


@dataclass(frozen=True)
class ConfigGroups:
    """The pages of ``study`` that show its runs grouped by config, each group called a ``noun``."""

    study: str
    noun: str  # "hunt": pages at /studies/<study>/hunts/<id>
    templates: Path  # the study's template folder, holding ``live_template``
    live_template: str
    view: GroupView
    note: str  # one line under a group page's heading: what the group is

    def href(self, group_id: str) -> str:
        return f"/studies/{self.study}/{self.noun}s/{group_id}"

    def link(self, record: Mapping[str, Any]) -> str | None:
        """The page of the group of ``record`` (by its ``study_config_hash``); None when the record has no hash."""
        config_hash = str(record.get("study_config_hash", ""))
        return self.href(config_hash[:GROUP_ID_CHARS]) if _CONFIG_HASH.fullmatch(config_hash) else None

    def routes(self, context: StudyContext) -> list[Route]:
        def group(request: Request) -> dict[str, Any]:
            group_id = request.path_params["group_id"]
            if not _GROUP_ID.fullmatch(group_id):
                raise HTTPException(404, f"{group_id!r} is not a {self.noun} id "
                                         f"({GROUP_ID_CHARS} hex digits of a config hash)")
            href = self.href(group_id)
            rows = context.rows(href)
            if not rows:
                raise HTTPException(404, f"no {self.study} run of {self.noun} {group_id} under the runs root")
            return {"group_id": group_id, "href": href, **self.view(context, href, rows)}

        async def page(request: Request) -> HTMLResponse:
            view = await anyio.to_thread.run_sync(group, request)
            return HTMLResponse(context.render(self.templates, "group.html", title=f"{self.noun} {view['group_id']}",
                                               heading=f"{self.study} {self.noun} {view['group_id']}", note=self.note,
                                               live_template=self.live_template, **view))

        async def live(request: Request) -> HTMLResponse:
            view = await anyio.to_thread.run_sync(group, request)
            return HTMLResponse(context.render(self.templates, self.live_template, **view),
                                headers={"Cache-Control": "no-store"})

        async def listing(request: Request) -> HTMLResponse:
            listed: dict[str, list[RunRow]] = {}
            for row in await anyio.to_thread.run_sync(context.rows):
                if row.study_href:
                    listed.setdefault(row.study_href, []).append(row)
            return HTMLResponse(context.render(self.templates, "groups.html", title=f"{self.study} {self.noun}s",
                                               noun=self.noun, groups=sorted(listed.items())))

        return [Route("/", listing, methods=["GET"]),
                Route(f"/{self.noun}s/{{group_id}}", page, methods=["GET"]),
                Route(f"/{self.noun}s/{{group_id}}/live", live, methods=["GET"])]
