"""The run table's order on the server: newest start first by default, any column by ``?sort=&order=``, rows
without a value last either way and equal values by run id; headers that say and link the order; a
row's keys (``data-sort``) on every row, the live feed's rows included, for the page's script to sort by."""

from __future__ import annotations

import json
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from runlab.monitor import create_app
from runlab.monitor.index import RunIndex
from runlab.monitor.order import COLUMNS
from runlab.monitor.render import Pages
from runlab.store import RunStore
from tests.support.monitor import four_runs, run_table

class _Headers(HTMLParser):
    """The run table's header cells: (data-column, aria-sort, the link's href) of each."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[tuple[str | None, str | None, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "th" and "data-column" in attributes:
            self.headers.append((attributes["data-column"], attributes.get("aria-sort"), None))
        elif tag == "a" and attributes.get("class") == "sort":
            column, aria_sort, _ = self.headers[-1]
            self.headers[-1] = (column, aria_sort, attributes["href"])


def headers_of(html: str) -> list[tuple[str | None, str | None, str | None]]:
    parser = _Headers()
    parser.feed(html)
    return parser.headers


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def client(store: RunStore) -> TestClient:
    store.root.mkdir(parents=True, exist_ok=True)
    return TestClient(create_app(store.root, studies={}), base_url="http://127.0.0.1")


def order_of(client: TestClient, runs: dict[str, str], query: str = "") -> str:
    page = client.get(f"/{query}")
    assert page.status_code == 200, page.text
    names = {run_id: name for name, run_id in runs.items()}
    return "".join(names[run_id] for run_id in run_table(page.text))


def test_the_newest_start_comes_first_by_default(store, client):
    runs = four_runs(store)
    assert order_of(client, runs) == "bcad"  # d has no start time: last
    assert order_of(client, runs, "?sort=started&order=desc") == "bcad"
    assert order_of(client, runs, "?order=asc") == "acbd"  # of the default column


@pytest.mark.parametrize(("query", "expected"), [
    ("?sort=started&order=asc", "acbd"),
    ("?sort=started", "acbd"),  # a column alone is ascending
    ("?sort=elapsed&order=asc", "bcad"),  # c ran 12 s until it failed; d has no elapsed time: last
    ("?sort=elapsed&order=desc", "acbd"),
    ("?sort=study&order=asc", "acbd"),  # a and c are both alpha: by run id, whichever the direction
    ("?sort=study&order=desc", "bacd"),
    ("?sort=status&order=asc", "abcd"),  # complete, complete, failed, "unreadable record: ..."
    ("?sort=status&order=desc", "dcab"),
    ("?sort=run_id&order=desc", "dcba"),
    ("?sort=slurm&order=desc", "abcd"),  # none ran on SLURM: every one by run id
])
def test_any_column_sorts_both_ways(store, client, query, expected):
    runs = four_runs(store)
    assert order_of(client, runs, query) == expected


def test_filters_and_order_combine(store, client):
    runs = four_runs(store)
    assert order_of(client, runs, "?study=alpha&sort=started&order=asc") == "ac"


def test_the_headers_say_the_order_and_link_the_next_one_under_the_same_filters(store, client):
    four_runs(store)
    html = client.get("/?study=alpha&q=S0&sort=elapsed&order=desc").text
    headers = headers_of(html)
    assert [column for column, _, _ in headers] == [column.name for column in COLUMNS]
    assert [(column, aria_sort) for column, aria_sort, _ in headers if aria_sort] == [("elapsed", "descending")]
    links = {column: parse_qs(urlsplit(href).query) for column, _, href in headers}
    assert links["elapsed"] == {"study": ["alpha"], "q": ["S0"], "sort": ["elapsed"], "order": ["asc"]}
    assert links["host"] == {"study": ["alpha"], "q": ["S0"], "sort": ["host"], "order": ["asc"]}
    # the filter form keeps the order when it is submitted without the page's script
    assert '<input type="hidden" name="sort" value="elapsed"><input type="hidden" name="order" value="desc">' in html
    default = dict((column, aria_sort) for column, aria_sort, _ in headers_of(client.get("/").text))
    assert default["started"] == "descending" and list(default.values()).count(None) == len(COLUMNS) - 1


@pytest.mark.parametrize(("query", "reason"), [
    ("?sort=colour", f"sort must be one of {', '.join(column.name for column in COLUMNS)}, not &#39;colour&#39;"),
    ("?sort=study&order=up", "order must be asc or desc, not &#39;up&#39;"),
])
def test_an_unknown_column_or_direction_is_400_with_the_choices(client, query, reason):
    page = client.get(f"/{query}")
    assert page.status_code == 400 and f'<p class="error">{reason}</p>' in page.text


def test_every_row_carries_its_key_in_each_column_for_the_page_script(store, client):
    runs = four_runs(store)
    html = client.get("/").text
    keys = {run_id: json.loads(unescape(html.split(f'<tr id="run-{run_id}"')[1].split('data-sort="')[1].split('"')[0]))
            for run_id in runs.values()}
    assert keys[runs["a"]][:8] == ["alpha", "S01", runs["a"], "complete", None, None, "2026-01-01T10:00:00.000000Z",
                                   30.0]  # no verdict stated, no SLURM job
    assert keys[runs["d"]][:8] == [None, "S09", runs["d"], keys[runs["d"]][3], None, None, None, None]
    assert keys[runs["d"]][3].startswith("unreadable record: not readable JSON")
    assert {len(row_keys) for row_keys in keys.values()} == {len(COLUMNS)}
    first_row = html.split('<tr id="run-')[1].split("</tr>")[0]
    assert first_row.count("<td") == len(headers_of(html)) == len(COLUMNS)  # a cell under each header
    index = RunIndex(store.root)
    index.refresh()
    live = Pages(store.root).row(next(row for row in index.rows() if row.run_id == runs["a"]))  # the feed's row
    assert json.loads(unescape(live.split('data-sort="')[1].split('"')[0])) == keys[runs["a"]]
