"""Serving the monitor with uvicorn: loopback by default, a warning for any other address, or a Unix socket
that only its owner can connect to.

Limits of the HTTP layer: a request must arrive in full within ``REQUEST_TIMEOUT_S`` of the connection
opening or of the previous response (else 408 and the connection closes: uvicorn's own keep-alive
timeout restarts with every byte, so a request sent a byte at a time was never timed out); a request
that is not well-formed HTTP/1.1 is a 400 from h11, which also stops buffering an incomplete head at
``MAX_HEAD_BYTES`` (a 400; the app answers 400 to a complete one over it).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import os
import socket
import stat
import sys
from pathlib import Path
from typing import Any, TextIO

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import ConfigError
from .app import LOOPBACK_HOSTS, MAX_HEAD_BYTES, create_app
from .events import MAX_STREAMS, ChangeFeed

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MAX_HEAD_BYTES", "REQUEST_TIMEOUT_S", "MonitorServer", "is_loopback",
           "listening_socket", "make_server", "private_socket", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
REQUEST_TIMEOUT_S = 10.0
_GRACE_S = 2  # a stream still open at shutdown is cancelled after this


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class RequestDeadline(H11Protocol):
    """uvicorn's h11 protocol with a deadline: each request must be received in full within
    ``request_timeout_s`` of the connection opening or of the previous response ending; a request still
    incomplete then is answered 408 and its connection closed."""

    def __init__(self, *args: Any, request_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_timeout_s = request_timeout_s
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is h11.DONE:  # the whole request is in: the app has it
            self._disarm()

    def on_response_complete(self) -> None:
        self._arm()  # for the next request; one already pipelined disarms it in handle_events
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self._request_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state is h11.DONE:
            return
        body = f"request not received in full within {self._request_timeout_s:g} s\n".encode()
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                             b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        self.transport.close()


class MonitorServer(uvicorn.Server):
    """uvicorn's server that ends the live streams first when it shuts down, so Ctrl-C stops it at once."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.feed.close()
        await super().shutdown(sockets)

    @property
    def feed(self) -> ChangeFeed:
        return self.config.app.state.feed


def make_server(runs_root: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                interval_s: float = 0.5, request_timeout_s: float = REQUEST_TIMEOUT_S,
                max_streams: int = MAX_STREAMS) -> MonitorServer:
    """A server of the monitor of ``runs_root`` on ``host:port``; a non-loopback ``host`` accepts any Host header."""
    allowed = LOOPBACK_HOSTS if is_loopback(host) else ("*",)
    app = create_app(runs_root, allowed_hosts=allowed, interval_s=interval_s, max_streams=max_streams)
    protocol = functools.partial(RequestDeadline, request_timeout_s=request_timeout_s)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=_GRACE_S, server_header=False,
                            http=protocol,  # type: ignore[arg-type]  # a factory of the protocol, as a class is
                            h11_max_incomplete_event_size=MAX_HEAD_BYTES)
    return MonitorServer(config)


def private_socket(path: Path) -> socket.socket:
    """A Unix stream socket bound at ``path`` (which must not exist) with mode 0600, set before it listens, so
    only this user (and root) can connect. ConfigError, saying what to do, when it cannot be made."""
    if os.path.lexists(path):
        kind = "a socket" if stat.S_ISSOCK(os.lstat(path).st_mode) else "a file"
        raise ConfigError(f"{path} exists ({kind})", "remove it if it is the socket of a monitor that is no longer "
                                                     "running, or pass another --socket path")
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listening.bind(str(path))
        os.chmod(path, 0o600)
    except OSError as exc:
        listening.close()
        raise ConfigError(f"cannot make the socket {path}: {exc.strerror or exc}",
                          "pass --socket with a path in a folder of yours (at most 107 bytes)") from exc
    return listening


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound at ``host:port`` (bound here, not by uvicorn, so a bad or taken port is one
    ConfigError line saying what to do rather than uvicorn's exit 3)."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port (1-65535)", f"pass --port {DEFAULT_PORT} or another free port")
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart need not wait out TIME_WAIT
    try:
        listening.bind((host.strip("[]"), port))
    except OSError as exc:
        listening.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use by another program (another monitor?)",
                              f"stop it (`ss -ltnp 'sport = :{port}'` names it) or pass another --port") from exc
        if exc.errno == errno.EACCES:
            raise ConfigError(f"port {port} on {host} needs privileges this user lacks",
                              f"pass a port above 1023, e.g. --port {DEFAULT_PORT}") from exc
        raise ConfigError(f"cannot listen on {host} port {port}: {exc.strerror or exc}",
                          "pass --host with an address of this machine (default 127.0.0.1)") from exc
    return listening


def serve(runs_root: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, out: TextIO = sys.stdout,
          socket_path: Path | None = None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM) on ``host:port``, or on the Unix socket ``socket_path``
    (removed again at the end); says where, and warns when ``host`` is reachable from other machines."""
    if socket_path is not None:
        listening = private_socket(socket_path)
        print(f"runlab monitor: {runs_root} on the Unix socket {socket_path}, which only you can connect to "
              "(Ctrl-C to stop)", file=out, flush=True)
        try:
            _run(make_server(runs_root), [listening])
        finally:
            listening.close()
            socket_path.unlink(missing_ok=True)
        print("runlab monitor: stopped", file=out, flush=True)
        return
    listening = listening_socket(host, port)
    if not is_loopback(host):
        print(f"runlab monitor: warning: listening on {host}, so anyone who can reach this machine's port {port} "
              "can read every run under the runs root; prefer the default 127.0.0.1 and an SSH tunnel", file=out)
    shown = f"[{host}]" if ":" in host else host
    print(f"runlab monitor: {runs_root} on http://{shown}:{port}/ (Ctrl-C to stop)", file=out, flush=True)
    try:
        _run(make_server(runs_root, host, port), [listening])
    finally:
        listening.close()
    print("runlab monitor: stopped", file=out, flush=True)


def _run(server: MonitorServer, sockets: list[socket.socket] | None) -> None:
    try:
        server.run(sockets=sockets)
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: the user asked to stop
        pass
