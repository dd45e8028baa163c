"""The monitor's web app: read-only GET/HEAD routes over one runs root (Starlette).

Routes: ``/`` the run table (filters and ``sort``/``order`` in the query string, ``order.py``; 400 for an
unknown column or direction), ``/runs/{run_id}`` a run's page,
``/runs/{run_id}/files/{path}`` one of the run's servable files (see ``files.py``; a download unless
``?inline=1`` on a PNG), ``/runs/{run_id}/heatmap.png?file=<artifact>&dataset=<name>`` a 2-D dataset of one
of its HDF5 artifacts as a PNG heatmap (``heatmap.py``; ``max_px`` and ``cmap`` optional), ``/colorbar/<cmap>.png``
the colour bar of a heatmap's colour map (the ``colorbar`` macro of ``templates/colorbar.html``), ``/events`` the
live feed (``events.py``; 400 for a malformed ``Last-Event-ID``, 503 past its limit of streams),
``/studies/<study>/...`` the pages of studies that declare them (``studies.py``),
``/static/...`` the page's CSS and JS.
Every other method is answered 405, a request whose head (target and headers) is over ``MAX_HEAD_BYTES``
400; every response forbids framing and content sniffing, and the pages load nothing but the app's own files.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator, Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from .events import MAX_STREAMS, BadEventId, ChangeFeed, TooManyStreams
from .files import NotServable, content_type, open_or_404
from .heatmap import COLORMAPS, DEFAULT_MAX_PX, MAX_PX_RANGE, NotAGrid, colorbar_png, heatmap_of
from .index import RowFilter, RunIndex
from .order import BadOrder, RowOrder
from .render import Pages
from .studies import StudyMonitor, linker, load_study_monitors, study_mounts

__all__ = ["LOOPBACK_HOSTS", "MAX_HEAD_BYTES", "create_app"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_HEAD_BYTES = 16 * 1024  # the request's target and headers; the server also stops reading a head here
_STATIC = Path(__file__).resolve().parent / "static"
_HDF5_SUFFIXES = (".h5", ".hdf5")
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'; frame-ancestors 'none'",
}


def create_app(runs_root: Path, *, allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS, interval_s: float = 0.5,
               studies: Mapping[str, StudyMonitor] | None = None, max_streams: int = MAX_STREAMS) -> Starlette:
    """The monitor of ``runs_root``; requests whose Host header is not in ``allowed_hosts`` are refused
    (``("*",)`` allows any: for a monitor bound to a non-loopback address on purpose). ``studies``: the
    study pages by study name (default: every installed ``runlab.monitor`` entry point). At most
    ``max_streams`` live streams are open at once (503 beyond)."""
    root = Path(runs_root).resolve()
    monitors = load_study_monitors() if studies is None else dict(studies)
    study_link = linker(monitors)
    index = RunIndex(root, link=study_link)
    pages = Pages(root)
    feed = ChangeFeed(index, pages.row, interval_s=interval_s, max_streams=max_streams)

    def table_html(chosen: RowFilter, order: RowOrder) -> str:
        index.refresh()
        seq = feed.event_id(index.seq)  # before the rows: a change in between is sent again, never missed
        return pages.table(index.rows(), chosen, seq, order)

    async def table(request: Request) -> Response:  # 10,000 rows render in a thread, not in the event loop
        try:
            order = RowOrder.from_query(request.query_params)
        except BadOrder as exc:
            raise HTTPException(400, str(exc)) from exc
        return HTMLResponse(await asyncio.to_thread(table_html, RowFilter.from_query(request.query_params), order))

    async def run_page(request: Request) -> Response:
        run = open_or_404(root, request.path_params["run_id"])
        return HTMLResponse(await asyncio.to_thread(pages.run, run, study_link(run.record)))

    async def run_file(request: Request) -> Response:
        run = open_or_404(root, request.path_params["run_id"])
        relative_path = request.path_params["path"]
        try:
            path = run.path(relative_path)
        except NotServable as exc:
            raise HTTPException(404, exc.reason) from exc
        media_type = content_type(relative_path)
        inline = request.query_params.get("inline") == "1" and media_type == "image/png"
        return FileResponse(path, media_type=media_type, filename=relative_path.replace("/", "_"),
                            content_disposition_type="inline" if inline else "attachment")

    async def heatmap(request: Request) -> Response:
        run = open_or_404(root, request.path_params["run_id"])
        query = request.query_params
        relative_path, dataset, colormap = query.get("file", ""), query.get("dataset", ""), query.get("cmap", "viridis")
        try:
            max_px = int(query.get("max_px", DEFAULT_MAX_PX))
        except ValueError:
            raise HTTPException(400, "max_px must be an integer") from None
        if not MAX_PX_RANGE[0] <= max_px <= MAX_PX_RANGE[1] or colormap not in COLORMAPS:
            raise HTTPException(400, f"max_px must lie in {list(MAX_PX_RANGE)} and cmap be one of {list(COLORMAPS)}")
        if not relative_path.endswith(_HDF5_SUFFIXES):
            raise HTTPException(404, f"{relative_path!r} is not an HDF5 artifact")
        try:
            path = run.path(relative_path)
            rendered = await asyncio.to_thread(heatmap_of, path, dataset, max_px=max_px, colormap=colormap)
        except (NotServable, NotAGrid) as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(rendered.png, media_type="image/png", headers={
            "Cache-Control": "private, max-age=3600",  # an indexed artifact is never rewritten
            "X-Grid-Shape": "x".join(map(str, rendered.grid_shape))})

    async def colorbar(request: Request) -> Response:
        colormap = request.path_params["cmap"]
        if colormap not in COLORMAPS:
            raise HTTPException(404, f"no colour map {colormap!r}; the heatmaps use {', '.join(COLORMAPS)}")
        return Response(colorbar_png(colormap), media_type="image/png",
                        headers={"Cache-Control": "public, max-age=86400"})

    async def events(request: Request) -> Response:
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        if request.method == "HEAD":  # a stream that never ends would hold the connection with no body to send
            return Response(media_type="text/event-stream", headers=headers)
        try:
            after = feed.start_seq(request.headers.get("last-event-id"), request.query_params.get("since"))
            return feed.response(after, headers)
        except BadEventId as exc:
            raise HTTPException(400, str(exc)) from exc
        except TooManyStreams as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "10"}) from exc

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
        Route("/runs/{run_id}/heatmap.png", heatmap, methods=["GET"]),
        Route("/colorbar/{cmap}.png", colorbar, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
        *study_mounts(monitors, index, pages),
        Mount("/static", app=StaticFiles(directory=_STATIC), name="static"),  # GET and HEAD only, itself
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: error_page},
                    middleware=[Middleware(_SecurityHeaders), Middleware(_HeadLimit),
                                Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))])
    app.state.index = index
    app.state.feed = feed
    return app


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


class _HeadLimit:
    """Answers 400 to a request whose target and headers together are over ``MAX_HEAD_BYTES``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope["raw_path"]) + len(scope["query_string"]) + sum(
                len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > MAX_HEAD_BYTES:
                response = PlainTextResponse(f"request head of {size} bytes is over the limit of {MAX_HEAD_BYTES}",
                                             status_code=400, headers={"Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
