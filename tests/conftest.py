"""The real SLURM cluster behind every ``@pytest.mark.slurm`` test, and the headless Chromium behind every
``@pytest.mark.browser`` test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from tests.support.browser import Browser


@dataclass(frozen=True)
class SlurmCluster:
    """A cluster whose ``sinfo`` answers; test jobs go to its default ``partition``."""

    partition: str


def _default_partition() -> str | None:
    """The default partition named by ``sinfo`` (marked ``*``), or None when no cluster answers."""
    try:
        result = subprocess.run(
            ["sinfo", "--noheader", "--format=%P"], capture_output=True, text=True, timeout=30, check=False
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    names = result.stdout.split() if result.returncode == 0 else []
    defaults = [name.rstrip("*") for name in names if name.endswith("*")]
    return (defaults or names or [None])[0]


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    """The cluster; skips without one, but fails when ``CI=true`` (there the cluster must start)."""
    partition = _default_partition()
    if partition is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no SLURM cluster answers (sinfo), and CI=true: the one-node cluster must start in CI")
        pytest.skip("no SLURM cluster answers (sinfo); start one with: sudo slurm/one-node/start.sh")
    return SlurmCluster(partition)


@pytest.fixture(autouse=True)
def _slurm_marker_needs_cluster(request: pytest.FixtureRequest) -> None:
    """Give every ``slurm``-marked test the cluster fixture, so the marker alone skips or fails it."""
    if request.node.get_closest_marker("slurm") is not None:
        request.getfixturevalue("slurm_cluster")


SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"  # kept after the run, git-ignored
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium and chromium-driver (scripts/browser-tools.sh)
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,900")


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """One headless Chromium for the session, driven by Selenium through Debian's chromedriver (never
    Selenium Manager: nothing is downloaded); skips without them, but fails when ``CI=true``."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{' and '.join(missing)} missing, and CI=true: make test installs them as root "
                        "(scripts/browser-tools.sh)")
        pytest.skip(f"{' and '.join(missing)} missing; install them with: sudo scripts/browser-tools.sh")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="runlab-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for script errors
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(autouse=True)
def _browser_marker_needs_chromium(request: pytest.FixtureRequest) -> None:
    """Give every ``browser``-marked test the Chromium fixture, so the marker alone skips or fails it."""
    if request.node.get_closest_marker("browser") is not None:
        request.getfixturevalue("chromium")


@pytest.fixture
def browser(chromium: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator["Browser"]:
    """The session's Chromium with a fresh screenshot folder and download folder for this test; fails the
    test on any error in the page's console other than the live stream's reconnects."""
    from tests.support.browser import Browser

    shots = screenshot_folder(request.node.name)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    chromium.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    chromium.get_log("browser")  # what earlier tests left in the console
    print(f"screenshots: {shots}")
    yield Browser(chromium, shots, downloads)
    chromium.get("about:blank")
    errors = [entry["message"] for entry in chromium.get_log("browser") if entry["level"] == "SEVERE"
              and not re.search(r"/events(\?\S*)? - Failed to load resource: net::ERR_CONNECTION_", entry["message"])]
    assert errors == [], "errors in the page's console"


def screenshot_folder(test_name: str) -> Path:
    """An empty folder under ``SCREENSHOTS`` for the screenshots of one test (named after it)."""
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]", "_", test_name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _screenshot_folders.append(folder)
    return folder


_screenshot_folders: list[Path] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where this session's browser tests left their screenshots."""
    if _screenshot_folders:
        terminalreporter.write_line(f"browser screenshots of {len(_screenshot_folders)} tests: {SCREENSHOTS}")
