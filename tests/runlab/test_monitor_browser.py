"""``runlab monitor`` in a real browser: headless Chromium (Debian's, through Selenium) opens the pages of a
real uvicorn server over runs this test writes, and checks what a person sees: the run table's rows, the
filter box hiding rows, rows arriving and changing live without a reload, the page reconnecting after the
monitor restarts, a run page with its artifacts, a rendered table, a decoded figure and a working
download, malformed records as rows that say why, and a page past the limit of live streams. Every page
is saved as a screenshot under ``test-artifacts/screenshots/<test>/`` (tests/conftest.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image
from selenium.webdriver.common.by import By

from runlab.eventlog import append_event
from runlab.layout import ALIVE_DIR
from runlab.monitor.preview import PREVIEW_ROWS
from runlab.store import ExecutionContext, RunStore

from runlab.testing import EventReader, finish, live_monitor, start_run
from tests.support.monitor import fail, figure_png_run

pytestmark = pytest.mark.browser

SLURM = ExecutionContext(executor="slurm", host="node007", slurm_job_id="4242", slurm_array_job_id="4240",
                         slurm_array_task_id=2, restart_count=1)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


def three_runs(store: RunStore) -> dict[str, str]:
    """A complete, a running (on SLURM) and a failed run, by status."""
    complete = start_run(store, "S01", {"a": 1})
    finish(complete)
    running = start_run(store, "S07", {"slow": 1}, study="other_study", context=SLURM)
    failed = start_run(store, "S08", {"bad": 1}, study="other_study")
    fail(failed, "boom")
    return {"complete": complete.run_id, "running": running.run_id, "failed": failed.run_id}


def test_the_table_shows_every_run_with_its_status(browser, store):
    runs = three_runs(store)
    with live_monitor(store.root) as base:
        browser.driver.get(f"{base}/")
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")
        rows = browser.rows()
        browser.shot("table")

    assert {run_id: row["status"] for run_id, row in rows.items()} == {run_id: status for status, run_id in runs.items()}
    assert rows[runs["running"]]["SLURM"] == "job 4240_2, requeued 1" and rows[runs["running"]]["host"] == "node007"
    assert rows[runs["failed"]]["study"] == "other_study" and rows[runs["complete"]]["stage"] == "S01"
    assert browser.text("#count") == "3 of 3 runs"
    status = browser.driver.find_element(By.CSS_SELECTOR, f"#run-{runs['failed']} .status")
    assert status.value_of_css_property("color") == "rgba(207, 34, 46, 1)"  # the stylesheet applies: failed is red


def test_the_filter_box_and_menus_hide_rows_as_one_types(browser, store):
    runs = three_runs(store)
    with live_monitor(store.root) as base:
        browser.driver.get(f"{base}/?status=failed")  # filtered by the server, widened by the page's script
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")
        assert set(browser.rows()) == {runs["failed"]} and browser.text("#count") == "1 of 3 runs"
        browser.choose("status", "all")
        assert set(browser.rows()) == set(runs.values()) and browser.text("#count") == "3 of 3 runs"

        box = browser.driver.find_element(By.NAME, "q")
        box.send_keys("node007")
        assert set(browser.rows()) == {runs["running"]} and browser.text("#count") == "1 of 3 runs"
        assert browser.driver.current_url == f"{base}/?q=node007"  # a link to what one sees
        browser.shot("filtered-by-text")
        box.clear()
        box.send_keys(f"other {runs['failed'][-5:].upper()}")  # every word, in any case
        assert set(browser.rows()) == {runs["failed"]}
        box.clear()
        browser.choose("study", "other_study")
        assert set(browser.rows()) == {runs["running"], runs["failed"]}
        browser.choose("status", "complete")
        assert browser.rows() == {} and browser.text("#count") == "0 of 3 runs"
        browser.shot("filtered-to-nothing")
        browser.choose("status", "all")
        browser.choose("study", "all")
        config = browser.rows()[runs["failed"]]["config"]  # the runs of one config (of a sweep, say)
        browser.choose("config", config)
        assert set(browser.rows()) == {runs["failed"]} and browser.driver.current_url == f"{base}/?config={config}"


def test_new_runs_arrive_and_change_without_a_reload(browser, store):
    old = start_run(store, "S01", {"a": 1})
    finish(old)
    with live_monitor(store.root) as base:
        browser.driver.get(f"{base}/")
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")
        browser.driver.execute_script("window.notReloaded = true")
        browser.choose("status", "complete")

        run = start_run(store, "S02", {"a": 2})
        browser.wait(lambda: browser.text("#count") == "1 of 2 runs", "the new run's row did not arrive")
        assert set(browser.rows()) == {old.run_id}  # it arrived under the chosen filter: hidden
        browser.choose("status", "all")
        assert browser.rows()[run.run_id]["status"] == "running"
        browser.shot("new-run-started")

        run.write_table("t", {"x": [1]})
        finish(run)
        browser.wait(lambda: browser.rows()[run.run_id]["status"] == "complete", "the completion did not arrive")
        assert browser.rows()[run.run_id]["elapsed"].endswith(" s")
        browser.shot("new-run-complete")
        (store.root / run.run_id).rename(store.root / f".{run.run_id}.moved")
        browser.wait(lambda: run.run_id not in browser.rows(), "the removed run's row stayed")
        assert browser.driver.execute_script("return window.notReloaded") is True
        assert browser.text("#count") == "1 of 1 runs"


def test_the_page_carries_on_after_the_monitor_restarts(browser, store):
    first = start_run(store, "S01", {"a": 1})
    with live_monitor(store.root) as base:
        browser.driver.get(f"{base}/")
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")
        browser.driver.execute_script("window.notReloaded = true")
        port = int(base.rsplit(":", 1)[1])
    browser.wait(lambda: browser.text("#live") == "reconnecting…", "the page did not notice the monitor stopped")
    browser.shot("monitor-stopped")
    finish(first)  # while no monitor runs
    second = start_run(store, "S02", {"a": 2})

    with live_monitor(store.root, port=port):
        browser.wait(lambda: browser.text("#live") == "live", "the page did not reconnect")
        browser.wait(lambda: browser.rows().get(first.run_id, {}).get("status") == "complete",
                     "what changed while the monitor was down did not arrive")
        assert browser.rows()[second.run_id]["status"] == "running"
        fail(second, "boom")
        browser.wait(lambda: browser.rows()[second.run_id]["status"] == "failed",
                     "a change after the reconnect did not arrive")
        browser.shot("monitor-restarted")
        assert browser.driver.execute_script("return window.notReloaded") is True
        assert browser.text("#count") == "2 of 2 runs"


def test_the_run_page_shows_artifacts_a_table_and_a_decoded_figure_and_downloads(browser, store):
    run_id = figure_png_run(store)
    run_dir = store.root / run_id
    record = json.loads((run_dir / "run_record.json").read_text())
    with live_monitor(store.root) as base:
        browser.driver.get(f"{base}/")
        browser.driver.find_element(By.LINK_TEXT, run_id).click()
        browser.wait(lambda: browser.driver.current_url == f"{base}/runs/{run_id}", "the run's link did not open its page")
        assert browser.text("h1") == run_id

        listed = {}
        for row in browser.driver.find_elements(By.CSS_SELECTOR, "table.artifacts tbody tr"):
            path, size, sha256, _ = (cell.text for cell in row.find_elements(By.TAG_NAME, "td"))
            listed[path] = {"bytes": int(size), "sha256": sha256}
        assert listed == {entry["relative_path"]: {"bytes": entry["bytes"], "sha256": entry["sha256"]}
                          for entry in record["artifact_index"]}

        preview = browser.driver.find_element(By.ID, "preview-1")
        assert [cell.text for cell in preview.find_elements(By.CSS_SELECTOR, "thead th")] == ["gain", "label"]
        shown = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
                 for row in preview.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert len(shown) == PREVIEW_ROWS and shown[0] == ["0.0", "<b>bold?</b>"]  # escaped, shown as text

        image = browser.driver.find_element(By.CSS_SELECTOR, 'figure img[alt="figs/curve.png"]')
        browser.driver.execute_script("arguments[0].scrollIntoView()", image)  # it loads lazily
        decoded = browser.wait(lambda: browser.driver.execute_script(
            "const img = arguments[0]; return img.complete && img.naturalWidth > 0"
            " && [img.naturalWidth, img.naturalHeight]", image), "the figure did not load and decode")
        with Image.open(run_dir / "figs" / "curve.png") as png:
            assert tuple(decoded) == png.size == (150, 100)
        browser.shot("run-page")

        link = browser.driver.find_element(By.LINK_TEXT, "tables/scores.csv")
        browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)  # not under a sticky header
        link.click()
        saved = browser.downloads / "tables_scores.csv"
        browser.wait(lambda: saved.is_file() and not list(browser.downloads.glob("*.crdownload")),
                     "the download did not land")
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == listed["tables/scores.csv"]["sha256"]
        assert browser.driver.current_url == f"{base}/runs/{run_id}"  # a download, not a navigation


def _spoil(run_dir: Path, **changes: object) -> None:
    """Rewrite the record of ``run_dir`` with ``changes`` (``timings__started_utc=`` for a nested key), unvalidated."""
    record = json.loads((run_dir / "run_record.json").read_text())
    for name, value in changes.items():
        *parents, key = name.split("__")
        target = record
        for parent in parents:
            target = target[parent]
        target[key] = value
    (run_dir / "run_record.json").write_text(json.dumps(record, indent=2))


def test_a_malformed_record_is_a_row_that_says_why_and_the_page_stays_live(browser, store):
    runs = three_runs(store)
    _spoil(store.root / runs["running"], slurm="4242")
    with live_monitor(store.root) as base:  # it starts on a root with a malformed record
        browser.driver.get(f"{base}/")
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")
        assert browser.rows()[runs["running"]]["status"] == (
            "unreadable record: invalid at slurm: '4242' is not of type 'object'")
        assert browser.rows()[runs["complete"]]["status"] == "complete"

        _spoil(store.root / runs["failed"], timings__started_utc="2026-13-45T99:99:99Z")  # while the page is open
        browser.wait(lambda: browser.rows()[runs["failed"]]["status"].startswith("unreadable record"),
                     "the malformed record's row did not arrive")
        assert browser.rows()[runs["failed"]]["status"] == (
            "unreadable record: invalid at timings.started_utc: '2026-13-45T99:99:99Z' is not a UTC time like "
            "2026-01-02T03:04:05.678901Z")
        browser.shot("malformed-rows")
        later = start_run(store, "S09", {"later": 1})  # and the feed goes on
        browser.wait(lambda: browser.rows().get(later.run_id, {}).get("status") == "running",
                     "a run after the malformed record did not arrive")
        browser.choose("status", "unreadable")
        assert set(browser.rows()) == {runs["running"], runs["failed"]}
        assert browser.text("#count") == "2 of 4 runs"


def test_a_page_past_the_limit_of_live_streams_says_its_stream_was_refused(browser, store):
    runs = three_runs(store)
    with live_monitor(store.root, max_streams=1) as base:
        with EventReader(base) as holder:  # takes the one slot
            assert holder.next(10).kind == "retry"
            browser.driver.get(f"{base}/")
            browser.wait(lambda: browser.text("#live") == "live updates off: the monitor refused the stream; "
                         "reload to retry", "the page did not say its stream was refused")
            assert set(browser.rows()) == set(runs.values())  # the table is served all the same
            browser.shot("stream-refused")
            console = [entry["message"] for entry in browser.driver.get_log("browser") if entry["level"] == "SEVERE"]
            seq = browser.driver.find_element(By.ID, "live").get_attribute("data-seq")
            assert console == [f"{base}/events?since={seq} - Failed to load resource: the server responded with a "
                               "status of 503 (Service Unavailable)"]

        def badge_after_reload() -> str:
            browser.driver.refresh()  # the page's badge reads "live updates off" until its stream opens or fails
            return browser.wait(lambda: browser.text("#live") != "live updates off" and browser.text("#live"),
                                "the badge did not settle after a reload")

        browser.wait(lambda: badge_after_reload() == "live", "the page did not go live after the other stream closed")
        refused_again = [entry["message"] for entry in browser.driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert all("/events?since=" in line and "status of 503" in line for line in refused_again)  # reloads too early
        browser.shot("stream-live-again")


def test_a_running_runs_progress_and_its_death_arrive_live(browser, store):
    run = start_run(store, "S02", {"gains": 8})
    with live_monitor(store.root) as base:
        browser.driver.get(f"{base}/")
        browser.wait(lambda: browser.text("#live") == "live", "the page's live stream did not open")
        assert browser.rows()[run.run_id]["status"] == "running"
        with run.progress(8, unit="gain") as progress:
            progress.advance(3)
        browser.wait(lambda: browser.rows()[run.run_id]["status"].startswith("running 3/8 gain"),
                     "the progress did not arrive")
        browser.shot("progress")

        mark = run.dir / ALIVE_DIR / "001-stage.json"  # its holder is gone: a pid no process has
        mark.write_text(json.dumps({**json.loads(mark.read_text()), "pid": 2**31 - 2}))
        append_event(run.dir, "checkpoint", part="stage")
        browser.wait(lambda: browser.rows()[run.run_id]["status"] == "dead", "the death did not arrive")
        browser.shot("dead")
        browser.driver.get(f"{base}/runs/{run.run_id}")
        assert "no live holder" in browser.text("#status")
