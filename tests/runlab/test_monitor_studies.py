"""Study pages in ``runlab monitor``: a study's monitor links its runs (table row, run page, live events),
serves its GET routes under ``/studies/<study>`` through the monitor's safe file access, and may not add
a route that changes anything; installed studies come from the ``runlab.monitor`` entry points."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from runlab.monitor import create_app
from runlab.monitor.studies import StudyContext, load_study_monitors
from runlab.store import RunStore

from runlab.testing import finish, start_run
from tests.support.monitor import run_table


class CountingStudy:
    """A study page that names each run's stage and counts the artifacts of a run."""

    def link(self, record: Mapping[str, Any]) -> str | None:
        if record["stage_tag"] == "S09":
            raise ValueError("this study cannot place S09")
        if record["stage_tag"] == "S08":
            return "javascript:alert(1)//studies/counting/"
        if record["stage_tag"] == "S07":
            return "/studies/counting/../../runs"
        return f"/studies/counting/stages/{record['stage_tag']}"

    def routes(self, context: StudyContext) -> list[Route]:
        async def stage(request: Request) -> PlainTextResponse:
            rows = context.rows(f"/studies/counting/stages/{request.path_params['tag']}")
            return PlainTextResponse(" ".join(row.run_id for row in rows))

        async def artifacts(request: Request) -> PlainTextResponse:
            run = context.open_run(request.path_params["run_id"])
            return PlainTextResponse(str(len(run.record["artifact_index"])))

        return [Route("/stages/{tag}", stage, methods=["GET"]), Route("/runs/{run_id}", artifacts, methods=["GET"])]


class WritingStudy(CountingStudy):
    def routes(self, context: StudyContext) -> list[Route]:
        async def delete(request: Request) -> PlainTextResponse:
            return PlainTextResponse("gone")

        return [Route("/delete", delete, methods=["GET", "POST"])]


def test_a_study_page_links_its_runs_and_reads_them_through_the_monitor(tmp_path: Path):
    store = RunStore(tmp_path / "runs")
    counted = start_run(store, "S01", {"a": 1}, study="counting")
    counted.write_table("t", {"x": [1]})
    finish(counted)
    unplaced = start_run(store, "S09", {"a": 2}, study="counting")
    other = start_run(store, "S01", {"a": 3}, study="other")
    start_run(store, "S08", {"a": 4}, study="counting")
    start_run(store, "S07", {"a": 5}, study="counting")
    client = TestClient(create_app(store.root, studies={"counting": CountingStudy()}), base_url="http://127.0.0.1")

    table = client.get("/").text

    assert run_table(table)[counted.run_id]["study"] == "counting"
    assert '<td><a href="/studies/counting/stages/S01"' in table
    assert table.count("/studies/counting/") == 1  # S09's link raised, S08's and S07's are not plain paths
    assert "javascript:" not in table  # of this study, and study "other" has no page
    assert 'id="study-page"' in client.get(f"/runs/{counted.run_id}").text
    assert 'id="study-page"' not in client.get(f"/runs/{unplaced.run_id}").text
    assert client.get("/studies/counting/stages/S01").text == counted.run_id
    assert client.get(f"/studies/counting/runs/{counted.run_id}").text == "3"  # tables/t.csv, .parquet, logs/events.jsonl
    assert client.get("/studies/counting/runs/RUN_S01_..%2F..").status_code == 404
    assert client.get(f"/studies/other/runs/{other.run_id}").status_code == 404


def test_a_study_route_that_accepts_post_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="must be a GET Route"):
        create_app(tmp_path, studies={"writing": WritingStudy()})


def test_installed_study_pages_come_from_entry_points():
    assert "irer" in load_study_monitors()
