"""The live feed: a stat scan of the runs root every ``interval_s`` while a page listens, and server-sent
events of what changed.

Change detection is a stat scan (``RunIndex.refresh``), not inotify: on a cluster filesystem (NFS,
Lustre, GPFS) inotify sees only this node's writes, while jobs write their records on compute nodes;
a stat of every ``RUN_*/run_record.json`` sees every node's writes once the client's attribute cache
expires, and costs one ``stat`` per run (see ``python -m bench.monitor`` for 10,000 runs).

Events (``text/event-stream``): ``event: run`` with the rendered table row and its fields as JSON, or
``event: gone`` when a run directory disappears. Every event carries the id ``<feed>-<seq>``; a browser
that reconnects sends it back as ``Last-Event-ID`` and gets every run changed after it. An id of
another feed (the monitor was restarted) gets the current state of every run; one that is not of that
form is a :class:`BadEventId` (the app answers 400).

At most ``MAX_STREAMS`` streams are open at once: each holds a slot from the moment its response is made
until it ends, however it ends; one more is :class:`TooManyStreams` (the app answers 503).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from typing import Any, AsyncIterator, Callable, Mapping

import anyio.to_thread
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .index import Change, RunIndex

__all__ = ["BadEventId", "ChangeFeed", "MAX_STREAMS", "RETRY_MS", "TooManyStreams"]

RETRY_MS = 2000  # how long a browser waits before reconnecting after the stream drops
MAX_STREAMS = 64  # open live streams at once (a page holds one)
_EVENT_ID = re.compile(r"[0-9a-f]{8}-[0-9]{1,18}|0")  # "<feed>-<seq>", as event_id makes it, or 0: from the start


class BadEventId(ValueError):
    """A ``Last-Event-ID`` header or ``since`` parameter that is not an event id of the form ``<feed>-<seq>``."""


class TooManyStreams(Exception):
    """Every one of the feed's ``max_streams`` slots is taken."""


class ChangeFeed:
    """Refreshes ``index`` every ``interval_s`` while running, and streams its changes to subscribers."""

    def __init__(self, index: RunIndex, render_row: Callable, interval_s: float = 0.5,
                 heartbeat_s: float = 15.0, max_streams: int = MAX_STREAMS) -> None:
        self.index = index
        self.render_row = render_row
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s
        self.max_streams = max_streams
        self.feed_id = secrets.token_hex(4)
        self._wake = asyncio.Event()
        self._watched = asyncio.Event()  # set while at least one stream is open
        self._streams = 0
        self._closed = False

    def event_id(self, seq: int) -> str:
        return f"{self.feed_id}-{seq}"

    def start_seq(self, last_event_id: str | None, since: str | None) -> int:
        """Sequence number after which a subscriber needs changes: from its ``Last-Event-ID`` (a reconnect),
        else from ``?since=`` (the ``data-seq`` of the page it loaded), else now. ``0``, an id of another
        feed, or one ahead of this feed is 0: everything. Anything else is BadEventId."""
        token = last_event_id or since
        if token is None:
            return self.index.seq
        if not _EVENT_ID.fullmatch(token):
            raise BadEventId(f"{'Last-Event-ID' if last_event_id else 'since'} must be an event id "
                             f"<8 hex digits>-<at most 18 digits>, as the feed sends them, or 0; got {token[:40]!r}")
        feed, _, seq = token.partition("-")
        return int(seq) if feed == self.feed_id and int(seq) <= self.index.seq else 0  # 18 digits: int() is cheap

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

    def response(self, after_seq: int, headers: Mapping[str, str]) -> StreamingResponse:
        """The stream of changes after ``after_seq`` as a response that holds one of the ``max_streams`` slots
        until it ends; TooManyStreams when none is free."""
        if self._streams >= self.max_streams:
            raise TooManyStreams(f"{self._streams} live streams are open, the monitor's limit; close a monitor "
                                 "page or tab, then reload")
        self._streams += 1
        self._watched.set()
        return _SlotResponse(self._release, self._stream(after_seq), media_type="text/event-stream", headers=headers)

    def _release(self) -> None:
        self._streams -= 1
        if not self._streams and not self._closed:
            self._watched.clear()

    async def _stream(self, after_seq: int) -> AsyncIterator[str]:
        """Server-sent events: the retry interval, then every change after ``after_seq`` as it happens,
        with a comment line every ``heartbeat_s`` so proxies and tunnels keep the connection open."""
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

    def _message(self, change: Change) -> str:
        if change.row is None:
            kind, data = "gone", {"run_id": change.run_id}
        else:
            kind, data = "run", {**change.row.as_dict(), "html": self.render_row(change.row)}
        return f"id: {self.event_id(change.seq)}\nevent: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class _SlotResponse(StreamingResponse):
    """A stream that gives its feed's slot back when the response ends: done, cancelled or disconnected
    (a generator's ``finally`` would not run for one that never started)."""

    def __init__(self, release: Callable[[], None], content: AsyncIterator[str], **options: Any) -> None:
        super().__init__(content, **options)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
