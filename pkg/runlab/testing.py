"""Helpers for testing tools built on runlab: runs written straight through the store, and the monitor
served in a thread with a reader of its event stream. The suite's tests and benchmarks use them."""

from __future__ import annotations

import hashlib
import http.client
import json
import queue
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from .config import resolve_config
from .execute import complete_run
from .holders import write_attempt_mark
from .identity import StageIdentity
from .layout import ALIVE_DIR
from .monitor.serve import make_server
from .run import Run
from .store import ExecutionContext, RunSpec, RunStore

__all__ = ["Event", "EventReader", "finish", "live_monitor", "start_run"]

LOCAL = ExecutionContext(executor="local")
_ATTEMPT = "001-stage"


def start_run(store: RunStore, tag: str, values: dict[str, Any] | Path, *, study: str = "testing",
              context: ExecutionContext = LOCAL) -> Run:
    """Create the run of stage ``tag`` (status ``started``, held by this process as its first attempt, so it is
    running until :func:`finish`) for the config ``values``, or for the config file at ``values`` (another run's
    ``config_study.yaml`` gives a run of the same study config), and return it."""
    if isinstance(values, Path):
        path = values
    else:
        folder = store.root.parent / "configs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{tag}_{hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]}.yaml"
        path.write_text(yaml.safe_dump(values))
    config = resolve_config(path, None)
    identity = StageIdentity.reading_everything(study, tag, config.data)
    spec = RunSpec(run_id=identity.run_id, run_id_mode="content_hash", identity=identity, study_config=config,
                   submission_id="a" * 16, seed=7)
    record = store.open_run(spec, context, allow_resume=False)
    assert record is not None
    write_attempt_mark(store.run_dir(spec.run_id), _ATTEMPT)
    return Run(store, record, spec.stage_config())


def finish(run: Run) -> None:
    """Complete ``run``, as its stage returning does."""
    (run.dir / ALIVE_DIR / f"{_ATTEMPT}.json").unlink(missing_ok=True)
    complete_run(run.store, run.run_id, {})


@contextmanager
def live_monitor(runs_root: Path, interval_s: float = 0.5, port: int = 0, **limits: Any) -> Iterator[str]:
    """The monitor of ``runs_root`` served by uvicorn on loopback ``port`` (0: a free one), with ``limits``
    (``request_timeout_s``, ``max_streams``) passed to ``make_server``; yields its base URL."""
    server = make_server(runs_root, "127.0.0.1", 0, interval_s=interval_s, **limits)
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the same port again right after a stop
    listening.bind(("127.0.0.1", port))
    port = listening.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the monitor server did not start")
        thread.join(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listening.close()
        assert not thread.is_alive(), "the monitor server did not stop"


@dataclass(frozen=True)
class Event:
    id: str | None
    kind: str
    data: dict[str, Any] | None


class EventReader:
    """Reads ``/events`` of a live monitor in a thread; :meth:`next` returns the next event (a ``retry`` line
    comes back as kind ``retry``)."""

    def __init__(self, base_url: str, path: str = "/events", headers: dict[str, str] | None = None) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self._connection = http.client.HTTPConnection(host, int(port), timeout=30)
        self._connection.request("GET", path, headers=headers or {})
        self.response = self._connection.getresponse()
        self._events: queue.Queue[Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for raw in self.response:
                line = raw.decode("utf-8").rstrip("\n")
                if line:
                    name, _, value = line.partition(":")
                    if name:
                        fields[name] = value.removeprefix(" ")
                    continue
                if "retry" in fields:
                    self._events.put(Event(None, "retry", {"ms": int(fields["retry"])}))
                elif "event" in fields:
                    self._events.put(Event(fields.get("id"), fields["event"], json.loads(fields["data"])))
                fields = {}
        except Exception:  # noqa: BLE001 - closed under the reader by close(): the stream ended
            pass
        self._events.put(None)

    def next(self, timeout_s: float) -> Event:
        """The next event within ``timeout_s`` (queue.Empty otherwise; AssertionError if the stream ended)."""
        event = self._events.get(timeout=timeout_s)
        assert event is not None, "the event stream ended"
        return event

    def next_run(self, timeout_s: float, **fields: Any) -> Event:
        """The next ``run`` event whose data has every one of ``fields`` (``run_id=…``, ``stage=…``,
        ``status=…``) within ``timeout_s`` in all."""
        deadline = time.monotonic() + timeout_s
        while True:
            event = self.next(max(0.0, deadline - time.monotonic()))
            if event.kind == "run" and all(event.data.get(name) == value for name, value in fields.items()):
                return event

    def __enter__(self) -> "EventReader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._connection.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self._thread.join(5)
        self._connection.close()


