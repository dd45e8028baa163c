"""The monitor serves the runs root and nothing else, and changes nothing: traversal (plain, percent- and
double-encoded), absolute paths, symbolic links out of the runs root, malformed run ids, unindexed files,
methods other than GET/HEAD and foreign Host headers, each sent to Starlette's TestClient and, byte for
byte as written, to a real uvicorn server; and the default bind address is 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from runlab.monitor import create_app
from runlab.monitor.serve import DEFAULT_HOST, DEFAULT_PORT, make_server
from runlab.record import read_record, utc_now, write_record
from runlab.store import RunStore

from tests.support.cli import REPO
from runlab.testing import finish, live_monitor, start_run
from tests.support.monitor import run_table

SECRET = b"TOP-SECRET-7f3a9c monitor must never serve this\n"
Fetch = Callable[..., tuple[int, bytes]]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A runs root with one good run and every way out of it that a runs root can hold."""
    base = tmp_path_factory.mktemp("hostile")
    (base / "secret.txt").write_bytes(SECRET)
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_bytes(SECRET)
    store = RunStore(base / "runs")
    good = start_run(store, "S01", {"good": 1})
    good.write_table("scores", {"a": [1, 2]})
    finish(good)
    run_dir = store.root / good.run_id
    (run_dir / "tables" / "unindexed.csv").write_text("a\n1\n")  # a real file the record does not index
    (run_dir / "tables" / "leak.csv").symlink_to(base / "secret.txt")
    (run_dir / "figs" / "dirlink").symlink_to(base / "outside", target_is_directory=True)
    record = read_record(run_dir)
    digest = hashlib.sha256(SECRET).hexdigest()
    record["artifact_index"] += [  # a record that indexes the links, as a tampered record could
        {"relative_path": path, "sha256": digest, "bytes": len(SECRET), "created_utc": utc_now()}
        for path in ("figs/dirlink/secret.txt", "tables/leak.csv")]
    write_record(run_dir, record)

    other = start_run(store, "S02", {"moved": 1})  # a whole run directory that is a link out of the root
    (store.root / other.run_id).rename(base / "outside" / other.run_id)
    (store.root / other.run_id).symlink_to(base / "outside" / other.run_id, target_is_directory=True)

    linked = start_run(store, "S03", {"linked_record": 1})  # a run whose record is a link out of the root
    (store.root / linked.run_id / "run_record.json").rename(base / "outside" / "run_record.json")
    (store.root / linked.run_id / "run_record.json").symlink_to(base / "outside" / "run_record.json")

    config_linked = start_run(store, "S04", {"linked_config": 1})
    (store.root / config_linked.run_id / "config_resolved.yaml").unlink()
    (store.root / config_linked.run_id / "config_resolved.yaml").symlink_to(base / "secret.txt")
    return {"root": store.root, "base": base, "good": good.run_id, "linked_dir": other.run_id,
            "linked_record": linked.run_id, "linked_config": config_linked.run_id}


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every path under ``root`` with its bytes (or link target): what a read-only server leaves as it was."""
    tree: dict[str, bytes | str] = {}
    for folder, names, files in os.walk(root):
        for name in names + files:
            path = Path(folder, name)
            tree[str(path.relative_to(root))] = (f"-> {os.readlink(path)}" if path.is_symlink()
                                                 else b"" if path.is_dir() else path.read_bytes())
    return tree


@pytest.fixture(scope="module")
def real_server(hostile) -> Iterator[str]:
    with live_monitor(hostile["root"]) as base:
        yield base


@pytest.fixture(params=["testclient", "uvicorn"])
def fetch(request, hostile) -> Fetch:
    """``fetch(method, raw_path, headers)`` -> (status, body), through TestClient or a real server."""
    if request.param == "testclient":
        client = TestClient(create_app(hostile["root"]), base_url="http://127.0.0.1")

        def through_testclient(method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
            response = client.request(method, path, headers=headers or {})
            return response.status_code, response.content

        return through_testclient
    base = request.getfixturevalue("real_server")
    host, port = base.removeprefix("http://").split(":")

    def through_uvicorn(method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request(method, path, headers=headers or {})  # the path goes out exactly as written
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    return through_uvicorn


def _escapes(hostile: dict[str, object]) -> list[str]:
    good, base = hostile["good"], hostile["base"]
    files = f"/runs/{good}/files"
    return [
        f"{files}/../../../secret.txt",
        f"{files}/tables/../../../secret.txt",
        f"{files}/tables/../run_record.json/../../../secret.txt",
        f"{files}/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        f"{files}/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
        f"{files}/..%2f..%2f..%2fsecret.txt",
        f"{files}/%252e%252e%252f%252e%252e%252f%252e%252e%252fsecret.txt",
        f"{files}/tables%2f..%2f..%2f..%2fsecret.txt",
        f"{files}/..%5c..%5c..%5csecret.txt",
        f"{files}//etc/passwd",
        f"{files}/%2Fetc%2Fpasswd",
        f"{files}/{base}/secret.txt",
        f"{files}/%00../../secret.txt",
        f"/runs/..%2f..%2fsecret.txt/files/x",
        "/runs/%2e%2e/files/secret.txt",
        "/runs/%2e%2e%2f%2e%2e%2fsecret.txt",
        f"/runs/{good}%2f..%2f..%2f/files/secret.txt",
        "/static/../../secret.txt",
        "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/static/..%2f..%2f..%2fapp.py",
        "/static/%2e%2e%2fapp.py",
        f"{files}/tables/leak.csv",  # indexed, but a symlink to a file outside the runs root
        f"{files}/figs/dirlink/secret.txt",  # indexed, below a symlinked folder
        f"{files}/tables/unindexed.csv",  # a real file the record does not index
        f"{files}/checkpoint/state.json",
        f"{files}/.checkpoint",
        f"/runs/{hostile['linked_dir']}",  # a run directory that is a symlink out of the root
        f"/runs/{hostile['linked_dir']}/files/run_record.json",
        f"/runs/{hostile['linked_record']}",  # a record that is a symlink
        f"/runs/{hostile['linked_record']}/files/run_record.json",
        f"/runs/{hostile['linked_config']}/files/config_resolved.yaml",  # a config that is a symlink
        "/runs/not_a_run",
        "/runs/RUN_s01_0123456789ab",
        "/runs/RUN_S01_0123456789AB",
        "/runs/RUN_S01_0123456789ab/files/run_record.json",  # well formed, absent
        "/runs/.runlab/files/locks",
    ]


def test_no_path_leaves_the_runs_root(hostile, fetch):
    before = _tree(hostile["base"])
    for path in _escapes(hostile):
        status, body = fetch("GET", path)
        assert status in (400, 404), (path, status)
        assert SECRET not in body and b"root:x:" not in body, path
    assert _tree(hostile["base"]) == before


def test_the_good_run_is_served_and_the_others_are_refused_or_unreadable(hostile, fetch):
    good = hostile["good"]
    status, body = fetch("GET", f"/runs/{good}/files/tables/scores.csv")
    assert status == 200 and body == (hostile["root"] / good / "tables" / "scores.csv").read_bytes()
    status, body = fetch("GET", f"/runs/{hostile['linked_config']}")  # its page, without the linked config
    assert status == 200 and SECRET not in body
    assert b"cannot show the resolved config: config_resolved.yaml is not a regular file" in body
    status, body = fetch("GET", f"/runs/{good}")  # its page, without the linked table
    assert status == 200 and SECRET not in body
    assert b"cannot read this table: leak.csv is not a regular file" in body
    status, body = fetch("GET", "/")
    rows = run_table(body.decode())
    assert hostile["linked_dir"] not in rows  # a linked run directory is not a run
    assert rows[hostile["linked_record"]]["status"] == (  # its record is not followed
        "unreadable record: run_record.json is a symbolic link (not followed)")
    assert rows[good]["status"] == "complete"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_get_and_head_are_allowed(hostile, fetch, method):
    before = _tree(hostile["base"])
    good = hostile["good"]
    for path in ["/", f"/runs/{good}", f"/runs/{good}/files/tables/scores.csv", f"/runs/{good}/files/run_record.json",
                 "/events", "/static/monitor.js"]:
        status, _ = fetch(method, path, {"Content-Length": "0"})
        assert status == 405, (method, path)
    assert _tree(hostile["base"]) == before


def test_a_foreign_host_header_is_refused(fetch):
    assert fetch("GET", "/", {"Host": "attacker.example"})[0] == 400  # DNS rebinding against a loopback server
    assert fetch("GET", "/", {"Host": "localhost:8765"})[0] == 200


def test_the_default_bind_is_loopback(tmp_path):
    server = make_server(tmp_path)
    assert (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 8765)
    assert (server.config.host, server.config.port) == ("127.0.0.1", 8765)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) of sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def _wait_listening(port: int) -> set[str]:
    """Addresses listening on ``port`` once there are any (10 s at most)."""
    deadline = time.monotonic() + 10
    while not _listening_addresses(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _listening_addresses(port)


def _start_cli(runs_root: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "runlab", "monitor", "--runs_root", str(runs_root), *extra],
                               cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    return process, process.stdout.readline()


def _stop(process: subprocess.Popen) -> tuple[int, str, str]:
    """Ctrl-C the monitor; its exit code, the rest of its output and its errors."""
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, out, err


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads the listening sockets from /proc/net/tcp")
def test_the_cli_listens_on_127_0_0_1_unless_told_otherwise(tmp_path):
    (tmp_path / "runs").mkdir()
    port = _free_port()
    process, line = _start_cli(tmp_path / "runs", "--port", str(port))
    try:
        assert line == f"runlab monitor: {tmp_path / 'runs'} on http://127.0.0.1:{port}/ (Ctrl-C to stop)\n"
        assert _wait_listening(port) == {"0100007F"}  # 127.0.0.1, and nothing else
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        assert _stop(process) == (0, "runlab monitor: stopped\n", "")  # at once, without a traceback


def test_another_address_is_taken_only_when_asked_and_warned_about(tmp_path):
    (tmp_path / "runs").mkdir()
    port = _free_port()
    process, line = _start_cli(tmp_path / "runs", "--host", "0.0.0.0", "--port", str(port))
    try:
        assert line.startswith("runlab monitor: warning: listening on 0.0.0.0, so anyone who can reach")
        assert process.stdout.readline().startswith(f"runlab monitor: {tmp_path / 'runs'} on http://0.0.0.0:{port}/")
        assert _wait_listening(port) == {"00000000"}
    finally:
        assert _stop(process)[0] == 0
