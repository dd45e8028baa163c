"""The run table's order in headless Chromium: newest start first as served, a header sorts on a click or
on Enter and says so (aria-sort and an arrow), the address links to what one sees (the server serves the
same order from it), and live rows land where the order puts them. Screenshots as in
test_monitor_browser.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from runlab.store import RunStore
from runlab.testing import finish, live_monitor, start_run
from tests.support.monitor import four_runs, restamp

pytestmark = pytest.mark.browser


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


def order(browser, runs: dict[str, str]) -> str:
    names = {run_id: name for name, run_id in runs.items()}
    return "".join(names.get(run_id, "?") for run_id in browser.rows())


def sorted_by(browser) -> list[tuple[str, str, str]]:
    """(column, aria-sort, the arrow shown after its label) of each header that has aria-sort."""
    return browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('#runs th[aria-sort]'), (th) => [th.dataset.column,"
        " th.getAttribute('aria-sort'), getComputedStyle(th.querySelector('a'), '::after').content]);")


def header_link(browser, column: str):
    return browser.driver.find_element(By.CSS_SELECTOR, f'#runs th[data-column="{column}"] a')


def test_a_header_sorts_on_a_click_or_enter_and_the_address_keeps_the_order(browser, store):
    runs = four_runs(store)
    with live_monitor(store.root) as base:
        browser.driver.get(f"{base}/")
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")
        assert order(browser, runs) == "bcad" and sorted_by(browser) == [["started", "descending", '" ▼"']]

        header_link(browser, "study").send_keys(Keys.ENTER)  # from the keyboard
        assert order(browser, runs) == "acbd" and sorted_by(browser) == [["study", "ascending", '" ▲"']]
        assert browser.driver.current_url == f"{base}/?sort=study&order=asc"
        browser.shot("by-study-ascending")
        header_link(browser, "study").click()
        assert order(browser, runs) == "bacd" and sorted_by(browser) == [["study", "descending", '" ▼"']]
        header_link(browser, "elapsed").click()
        assert order(browser, runs) == "bcad" and browser.driver.current_url == f"{base}/?sort=elapsed&order=asc"

        browser.driver.find_element(By.NAME, "q").send_keys("alpha")  # a filter keeps the order in the address
        assert order(browser, runs) == "ca" and browser.driver.current_url == f"{base}/?q=alpha&sort=elapsed&order=asc"
        assert header_link(browser, "elapsed").get_attribute("href") == f"{base}/?q=alpha&sort=elapsed&order=desc"
        browser.driver.get(browser.driver.current_url)  # what the server serves from that address
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")
        assert order(browser, runs) == "ca" and sorted_by(browser) == [["elapsed", "ascending", '" ▲"']]


def test_live_rows_land_where_the_order_puts_them(browser, store):
    runs = four_runs(store)
    with live_monitor(store.root) as base:
        browser.driver.get(f"{base}/")
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")
        browser.driver.execute_script("window.notReloaded = true")

        newest = start_run(store, "S04", {"e": 1}, study="alpha")  # starts now: the newest
        runs["e"] = newest.run_id
        browser.wait(lambda: newest.run_id in browser.rows(), "the new run's row did not arrive")
        assert order(browser, runs) == "ebcad"

        header_link(browser, "study").click()
        assert order(browser, runs) == "acebd"  # alpha by run id (S01, S03, S04), then beta, then no study
        restamp(store, newest.run_id, "2026-01-01T09:00:00.000000Z", None)  # a change that moves it under started
        finish(newest)
        oldest = start_run(store, "S00", {"f": 1}, study="beta")
        runs["f"] = oldest.run_id
        browser.wait(lambda: oldest.run_id in browser.rows(), "the second new run's row did not arrive")
        browser.wait(lambda: browser.rows()[newest.run_id]["status"] == "complete", "the completion did not arrive")
        assert order(browser, runs) == "acefbd"  # beta: b (S02) after f (S00)
        browser.shot("live-rows-by-study")

        header_link(browser, "started").click()
        header_link(browser, "started").click()  # descending again, as at first
        assert order(browser, runs) == "fbcaed"  # f started now; e moved to 09:00 on Jan 1, before a
        assert browser.driver.current_url == f"{base}/"
        assert browser.driver.execute_script("return window.notReloaded") is True
