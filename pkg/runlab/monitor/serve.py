"""Serving the monitor with uvicorn: loopback by default, a warning for any other address."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path
from typing import TextIO

import uvicorn

from .app import LOOPBACK_HOSTS, create_app
from .events import ChangeFeed

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MonitorServer", "is_loopback", "make_server", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
_GRACE_S = 2  # a stream still open at shutdown is cancelled after this


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class MonitorServer(uvicorn.Server):
    """uvicorn's server that ends the live streams first when it shuts down, so Ctrl-C stops it at once."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.feed.close()
        await super().shutdown(sockets)

    @property
    def feed(self) -> ChangeFeed:
        return self.config.app.state.feed


def make_server(runs_root: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                interval_s: float = 0.5) -> MonitorServer:
    """A server of the monitor of ``runs_root`` on ``host:port``; a non-loopback ``host`` accepts any Host header."""
    allowed = LOOPBACK_HOSTS if is_loopback(host) else ("*",)
    app = create_app(runs_root, allowed_hosts=allowed, interval_s=interval_s)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=_GRACE_S, server_header=False)
    return MonitorServer(config)


def serve(runs_root: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, out: TextIO = sys.stdout) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM); says where, and warns when ``host`` is reachable from
    other machines."""
    if not is_loopback(host):
        print(f"runlab monitor: warning: listening on {host}, so anyone who can reach this machine's port {port} "
              "can read every run under the runs root; prefer the default 127.0.0.1 and an SSH tunnel", file=out)
    shown = f"[{host}]" if ":" in host else host
    print(f"runlab monitor: {runs_root} on http://{shown}:{port}/ (Ctrl-C to stop)", file=out, flush=True)
    try:
        make_server(runs_root, host, port).run()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: the user asked to stop
        pass
    print("runlab monitor: stopped", file=out, flush=True)
