"""The monitor's web app: read-only GET/HEAD routes over one runs root (Starlette).

Routes: ``/`` the run table (filters in the query string), ``/runs/{run_id}`` a run's page,
``/runs/{run_id}/files/{path}`` one of the run's servable files (see ``files.py``; a download unless
``?inline=1`` on a PNG), ``/events`` the live feed (``events.py``), ``/static/...`` the page's CSS and JS.
Every other method is answered 405; every response forbids framing and content sniffing, and the
pages load nothing but the app's own files.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from .events import ChangeFeed
from .files import NotServable, RunFiles, content_type
from .index import RowFilter, RunIndex
from .render import Pages

__all__ = ["LOOPBACK_HOSTS", "create_app"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
_STATIC = Path(__file__).resolve().parent / "static"
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'; frame-ancestors 'none'",
}


def create_app(runs_root: Path, *, allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS, interval_s: float = 0.5) -> Starlette:
    """The monitor of ``runs_root``; requests whose Host header is not in ``allowed_hosts`` are refused
    (``("*",)`` allows any: for a monitor bound to a non-loopback address on purpose)."""
    root = Path(runs_root).resolve()
    index = RunIndex(root)
    pages = Pages(root)
    feed = ChangeFeed(index, pages.row, interval_s=interval_s)

    def table_html(chosen: RowFilter) -> str:
        index.refresh()
        seq = feed.event_id(index.seq)  # before the rows: a change in between is sent again, never missed
        return pages.table(index.rows(), chosen, seq)

    async def table(request: Request) -> Response:  # 10,000 rows render in a thread, not in the event loop
        return HTMLResponse(await asyncio.to_thread(table_html, RowFilter.from_query(request.query_params)))

    async def run_page(request: Request) -> Response:
        run = _open_run(root, request.path_params["run_id"])
        return HTMLResponse(await asyncio.to_thread(pages.run, run))

    async def run_file(request: Request) -> Response:
        run = _open_run(root, request.path_params["run_id"])
        relative_path = request.path_params["path"]
        try:
            path = run.path(relative_path)
        except NotServable as exc:
            raise HTTPException(404, exc.reason) from exc
        media_type = content_type(relative_path)
        inline = request.query_params.get("inline") == "1" and media_type == "image/png"
        return FileResponse(path, media_type=media_type, filename=relative_path.replace("/", "_"),
                            content_disposition_type="inline" if inline else "attachment")

    async def events(request: Request) -> Response:
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        if request.method == "HEAD":  # a stream that never ends would hold the connection with no body to send
            return Response(media_type="text/event-stream", headers=headers)
        after = feed.start_seq(request.headers.get("last-event-id"), request.query_params.get("since"))
        return StreamingResponse(feed.stream(after), media_type="text/event-stream", headers=headers)

    async def error_page(request: Request, exc: Exception) -> Response:
        status_code = exc.status_code if isinstance(exc, HTTPException) else 500
        reason = exc.detail if isinstance(exc, HTTPException) else "internal error"
        headers = dict(getattr(exc, "headers", None) or {})
        return HTMLResponse(pages.error(status_code, reason), status_code=status_code, headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(index.refresh)  # the first build reads every record: before the first request
        scanner = asyncio.create_task(feed.run())
        try:
            yield
        finally:
            feed.close()
            scanner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scanner

    routes = [
        Route("/", table, methods=["GET"]),
        Route("/runs/{run_id}", run_page, methods=["GET"]),
        Route("/runs/{run_id}/files/{path:path}", run_file, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=_STATIC), name="static"),  # GET and HEAD only, itself
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: error_page},
                    middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
                                Middleware(_SecurityHeaders)])
    app.state.index = index
    app.state.feed = feed
    return app


def _open_run(root: Path, run_id: str) -> RunFiles:
    try:
        return RunFiles.open(root, run_id)
    except NotServable as exc:
        raise HTTPException(404, exc.reason) from exc


class _SecurityHeaders:
    """Adds the headers of ``_HEADERS`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name.lower().encode(), value.encode()) for name, value in _HEADERS.items()
                         if name.lower().encode() not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
