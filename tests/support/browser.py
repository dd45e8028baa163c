"""What a browser test sees through the session's headless Chromium (the ``browser`` fixture of
tests/conftest.py): waits, texts, the run table as rendered, keyboard choices, and whole-page screenshots."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Callable

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

WAIT_S = 15.0  # what a live change may take on a loaded machine; python -m bench.monitor measures the 2 s target


class Browser:
    """The session's Chromium seen by one test: waits, the visible run table, and screenshots."""

    def __init__(self, driver: WebDriver, shots: Path, downloads: Path) -> None:
        self.driver = driver
        self.shots = shots
        self.downloads = downloads

    def wait(self, condition: Callable[[], Any], message: str) -> Any:
        """The first truthy value of ``condition()`` within ``WAIT_S``."""
        return WebDriverWait(self.driver, WAIT_S, poll_frequency=0.05).until(lambda _: condition(), message)

    def rows(self) -> dict[str, dict[str, str]]:
        """The run table's rows as rendered (hidden ones left out), read at one instant: run id -> {column: text}."""
        header, *rows = self.driver.execute_script(
            "const cells = (row) => Array.from(row.cells, (cell) => cell.innerText.trim());"
            "const table = document.getElementById('runs');"
            "return [cells(table.tHead.rows[0]),"
            "        ...Array.from(table.tBodies[0].rows).filter((row) => row.getClientRects().length).map(cells)];")
        return {cells[header.index("run id")]: dict(zip(header, cells)) for cells in rows}

    def choose(self, menu: str, option: str) -> None:
        """Pick ``option`` of the filter menu ``menu`` with the arrow keys, as a person on the keyboard does
        (Selenium's Select clicks the option, which fires ``change`` but not the ``input`` a person's choice fires)."""
        select = self.driver.find_element(By.NAME, menu)
        position = [choice.text for choice in Select(select).options].index(option)
        select.send_keys(Keys.HOME + Keys.DOWN * position)
        assert Select(select).first_selected_option.text == option

    def text(self, css: str) -> str | None:
        """The text of the first element ``css`` selects as rendered, or None without one; read in one script
        call, so a live update that replaces the element in between cannot leave a stale reference."""
        return self.driver.execute_script(
            "const element = document.querySelector(arguments[0]); return element ? element.innerText : null;", css)

    def texts(self, css: str) -> list[str]:
        """The rendered texts of every element ``css`` selects, read at one instant (see :meth:`text`)."""
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0]), (element) => element.innerText);", css)

    def shot(self, name: str) -> Path:
        """The whole page (not only the window) as ``<name>.png``, from its top, where sticky headers belong."""
        self.driver.execute_script("window.scrollTo(0, 0)")
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1}
        image = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip})
        path = self.shots / f"{name}.png"
        path.write_bytes(base64.b64decode(image["data"]))
        return path
