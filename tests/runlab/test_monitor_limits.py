"""The monitor's HTTP limits on a real uvicorn server on 127.0.0.1, spoken to byte by byte: malformed
request heads and bad header values are 400, a request that never completes (nothing sent, half a head,
a head sent a byte at a time) is answered 408 and closed, the live streams stop at their limit with a
503 that says so and open again when one closes; and a Unix socket that only its owner can connect to
(another user of the machine is refused by the operating system)."""

from __future__ import annotations

import http.client
import os
import select
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from runlab.errors import ConfigError
from runlab.monitor.serve import MAX_HEAD_BYTES, private_socket
from runlab.store import RunStore

from tests.support.cli import REPO
from runlab.testing import EventReader, live_monitor
from tests.support.monitor import figure_png_run, run_table

TIMEOUT_S = 1.0  # the servers of these tests time requests out after this
_THIS_CODE = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # a CLI subprocess imports what this test does


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    store = RunStore(tmp_path_factory.mktemp("limits") / "runs")
    run_id = figure_png_run(store)
    with live_monitor(store.root, request_timeout_s=TIMEOUT_S, max_streams=2) as base:
        yield base, run_id


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _answer(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def _exchange(base: str, raw: bytes) -> bytes:
    with _connect(base) as connection:
        connection.sendall(raw)
        return _answer(connection)


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


GOOD_HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Name: x\r\n\r\n",  # a space in a header name
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Nul: a\x00b\r\n\r\n",  # a NUL in a value
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n",  # two Host headers
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ten\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"GET /\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # a control character in the target
    b"not http at all\r\n\r\n",
    GOOD_HEAD + b"X-Big: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n",  # a head over the limit
], ids=["space-in-name", "nul-in-value", "no-colon", "no-host", "two-hosts", "length-not-a-number",
        "two-lengths", "control-in-target", "not-http", "head-too-large"])
def test_a_malformed_request_head_is_a_400(served, raw):
    answer = _exchange(served[0], raw)
    assert _status(answer) == 400, answer[:200]


def test_a_head_just_under_the_limit_is_served(served):
    padding = MAX_HEAD_BYTES - len(GOOD_HEAD) - len(b"X-Big: \r\n\r\n") - 64
    answer = _exchange(served[0], GOOD_HEAD + b"X-Big: " + b"a" * padding + b"\r\n\r\n")
    assert _status(answer) == 200


@pytest.mark.parametrize("headers, path", [
    ({"Last-Event-ID": "1" * 5000}, "/events"),
    ({"Last-Event-ID": "0123abcd-" + "9" * 5000}, "/events"),
    ({"Last-Event-ID": "0123abcd-12x"}, "/events"),
    ({}, "/events?since=0123abcd-" + "9" * 5000),
    ({}, "/events?since=-1"),
    ({"Range": "bytes=abc"}, "/runs/{run_id}/files/tables/scores.csv"),
    ({"Range": "bytes=9-2"}, "/runs/{run_id}/files/tables/scores.csv"),
    ({"Range": "lines=0-1"}, "/runs/{run_id}/files/tables/scores.csv"),
], ids=["digits-only", "5000-digit-seq", "not-digits", "since-5000-digits", "since-negative", "range-not-numbers",
        "range-backwards", "range-not-bytes"])
def test_a_bad_header_value_is_a_400_that_says_why(served, headers, path):
    base, run_id = served
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path.format(run_id=run_id), headers=headers)
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    assert response.status == 400
    if "events" in path:
        name = "Last-Event-ID" if headers else "since"
        assert f"{name} must be an event id &lt;8 hex digits&gt;-&lt;at most 18 digits&gt;" in body


def test_ids_of_another_feed_or_ahead_of_this_one_get_everything(served):
    base, run_id = served
    for token in ("0123abcd-99", "0123abcd-" + "9" * 18):
        with EventReader(base, "/events", headers={"Last-Event-ID": token}) as reader:
            assert reader.response.status == 200
            assert reader.next_run(10, run_id=run_id).data["status"] == "complete"


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"GET / HT"],
                         ids=["nothing", "head-without-its-end", "half-a-request-line"])
def test_a_request_that_does_not_complete_is_answered_408_and_closed(served, sent):
    with _connect(served[0]) as connection:
        connection.sendall(sent)
        answer = _answer(connection)  # the server closes it: recv returns b""
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(f"request not received in full within {TIMEOUT_S:g} s\n".encode())


def test_a_head_sent_a_byte_at_a_time_is_timed_out_all_the_same(served):
    with _connect(served[0]) as connection:
        connection.sendall(GOOD_HEAD + b"X-Slow: ")
        for _ in range(1200):  # a byte every 0.05 s, far more often than the timeout
            if select.select([connection], [], [], 0.05)[0]:
                break
            connection.sendall(b"a")
        answer = _answer(connection)
    assert _status(answer) == 408


def test_a_kept_alive_connection_serves_requests_and_then_times_out(served):
    with _connect(served[0]) as connection:
        for _ in range(3):
            connection.sendall(b"GET /static/monitor.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += connection.recv(1)
            assert _status(head) == 200
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            body = b""
            while len(body) < length:
                body += connection.recv(length - len(body))
        connection.sendall(b"GET / HTTP/1.1\r\n")  # then half a request
        assert _status(_answer(connection)) == 408


def test_live_streams_stop_at_their_limit_and_open_again_when_one_closes(served):
    base, run_id = served
    with EventReader(base) as first, EventReader(base) as second:
        assert first.next(10).kind == second.next(10).kind == "retry"
        host, port = base.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("GET", "/events")
        refused = connection.getresponse()
        body = refused.read().decode()
        connection.close()
        assert refused.status == 503 and refused.getheader("retry-after") == "10"
        assert "2 live streams are open, the monitor&#39;s limit; close a monitor page or tab, then reload" in body
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("GET", "/")  # pages are still served
        assert run_table(connection.getresponse().read().decode())[run_id]["status"] == "complete"
        connection.close()
    for _ in range(200):  # the server sees the two streams close
        with EventReader(base) as third:
            if third.response.status == 200:
                assert third.next(10).kind == "retry"
                break
        time.sleep(0.05)
    else:
        raise AssertionError("no stream opened again after the others closed")


def test_the_unix_socket_is_its_owners_only_and_serves_the_monitor(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = figure_png_run(store)
    path = tmp_path / "monitor.sock"
    process = subprocess.Popen([sys.executable, "-m", "runlab", "monitor", "--runs_root", str(store.root),
                                "--socket", str(path)], cwd=REPO, env=_THIS_CODE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line == (f"runlab monitor: {store.root} on the Unix socket {path}, which only you can connect to "
                        "(Ctrl-C to stop)\n")
        mode = os.lstat(path)
        assert stat.S_ISSOCK(mode.st_mode) and stat.S_IMODE(mode.st_mode) == 0o600 and mode.st_uid == os.getuid()
        for _ in range(200):  # the line comes before uvicorn listens
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                try:
                    client.connect(str(path))
                except ConnectionRefusedError:
                    time.sleep(0.05)
                    continue
                client.settimeout(30)
                client.sendall(f"GET /runs/{run_id} HTTP/1.1\r\nHost: 127.0.0.1:8765\r\n"
                               "Connection: close\r\n\r\n".encode())
                answer = _answer(client)
                break
        assert _status(answer) == 200 and f"<h1>{run_id}</h1>".encode() in answer
    finally:
        process.send_signal(2)
        out, err = process.communicate(timeout=30)
    assert (process.returncode, out, err) == (0, "runlab monitor: stopped\n", "")
    assert not os.path.lexists(path)  # the socket is removed as the monitor stops


def test_a_socket_path_that_exists_is_never_replaced(tmp_path):
    taken = tmp_path / "taken.sock"
    taken.write_text("someone else's")
    with pytest.raises(ConfigError) as caught:
        private_socket(taken)
    assert str(caught.value).startswith(f"{taken} exists (a file)")
    assert taken.read_text() == "someone else's"
    done = subprocess.run([sys.executable, "-m", "runlab", "monitor", "--runs_root", str(tmp_path), "--socket",
                           str(taken)], cwd=REPO, env=_THIS_CODE, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"runlab: error: {taken} exists (a file); remove it if it is the socket of a monitor that is no longer "
        "running, or pass another --socket path"]


_CONNECT = """import socket, sys
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    client.connect(sys.argv[1])
    print("connected")
except OSError as exc:
    print(type(exc).__name__)
"""


@pytest.mark.skipif(os.getuid() != 0, reason="connects as the user nobody, which only root can become")
def test_another_user_of_the_machine_cannot_connect_to_the_socket():
    folder = Path(tempfile.mkdtemp(prefix="runlab-socket-"))  # a folder every user may pass through
    folder.chmod(0o755)
    path = folder / "monitor.sock"
    try:
        with private_socket(path) as listening:
            listening.listen()

            def as_nobody() -> str:
                done = subprocess.run(["/usr/bin/python3", "-c", _CONNECT, str(path)], user=65534, group=65534,
                                      capture_output=True, text=True, timeout=60, cwd="/")
                return done.stdout.strip()

            assert as_nobody() == "PermissionError"
            path.chmod(0o666)  # the mode uvicorn's own --uds gives a socket: anyone may connect
            assert as_nobody() == "connected"
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()
