"""The live feed: a stat scan of the runs root every ``interval_s`` while a page listens, and server-sent
events of what changed.

Change detection is a stat scan (``RunIndex.refresh``), not inotify: on a cluster filesystem (NFS,
Lustre, GPFS) inotify sees only this node's writes, while jobs write their records on compute nodes;
a stat of every ``RUN_*/run_record.json`` sees every node's writes once the client's attribute cache
expires, and costs one ``stat`` per run (see ``bench/monitor.py`` for 10,000 runs).

Events (``text/event-stream``): ``event: run`` with the rendered table row and its fields as JSON, or
``event: gone`` when a run directory disappears. Every event carries the id ``<feed>-<seq>``; a browser
that reconnects sends it back as ``Last-Event-ID`` and gets every run changed after it. An id of
another feed (the monitor was restarted) gets the current state of every run.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import AsyncIterator, Callable

import anyio.to_thread

from .index import Change, RunIndex

__all__ = ["ChangeFeed", "RETRY_MS"]

RETRY_MS = 2000  # how long a browser waits before reconnecting after the stream drops


class ChangeFeed:
    """Refreshes ``index`` every ``interval_s`` while running, and streams its changes to subscribers."""

    def __init__(self, index: RunIndex, render_row: Callable, interval_s: float = 0.5,
                 heartbeat_s: float = 15.0) -> None:
        self.index = index
        self.render_row = render_row
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s
        self.feed_id = secrets.token_hex(4)
        self._wake = asyncio.Event()
        self._watched = asyncio.Event()  # set while at least one stream is open
        self._streams = 0
        self._closed = False

    def event_id(self, seq: int) -> str:
        return f"{self.feed_id}-{seq}"

    def start_seq(self, last_event_id: str | None, since: str | None) -> int:
        """Sequence number after which a subscriber needs changes: from its ``Last-Event-ID`` (a reconnect),
        else from ``?since=`` (the ``data-seq`` of the page it loaded), else now. An id of another feed
        (or none that parses) is 0: everything."""
        token = last_event_id or since
        if token is None:
            return self.index.seq
        feed, _, seq = token.partition("-")
        return int(seq) if feed == self.feed_id and seq.isdigit() else 0

    async def run(self) -> None:
        """Scan while a stream is open, until :meth:`close`; wake the streams after every scan that found
        changes. With no page open the monitor reads nothing (a page load refreshes the index itself)."""
        while not self._closed:
            await self._watched.wait()
            if await anyio.to_thread.run_sync(self.index.refresh):
                self._notify()
            await asyncio.sleep(self.interval_s)

    def close(self) -> None:
        """End the scan loop and every open stream."""
        self._closed = True
        self._watched.set()
        self._notify()

    def _notify(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    async def stream(self, after_seq: int) -> AsyncIterator[str]:
        """Server-sent events: the retry interval, then every change after ``after_seq`` as it happens,
        with a comment line every ``heartbeat_s`` so proxies and tunnels keep the connection open."""
        self._streams += 1
        self._watched.set()
        try:
            yield f"retry: {RETRY_MS}\n\n"
            while not self._closed:
                wake = self._wake
                for change in self.index.changes_since(after_seq):
                    yield self._message(change)
                    after_seq = change.seq
                try:
                    await asyncio.wait_for(wake.wait(), self.heartbeat_s)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            self._streams -= 1
            if not self._streams and not self._closed:
                self._watched.clear()

    def _message(self, change: Change) -> str:
        if change.row is None:
            kind, data = "gone", {"run_id": change.run_id}
        else:
            kind, data = "run", {**change.row.as_dict(), "html": self.render_row(change.row)}
        return f"id: {self.event_id(change.seq)}\nevent: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
