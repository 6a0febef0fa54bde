"""`make serve`'s supervision (serve/devtools/stack.py: supervise) with two small stand-in services:
any stop signal stops both process groups, the bot first and given time to finish; a child that
dies stops the other with a message naming it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serve.core.engine import free_ports
from tests.serve.factories import REPO_ROOT

# A service that answers 200 on any path, keeps a grandchild in its process group (like vLLM's
# engine workers) and, on SIGTERM, takes `linger` seconds to finish its work before exiting.
SERVICE = """
import http.server, os, signal, subprocess, sys, threading, time
name, port, folder, linger = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
grandchild = subprocess.Popen(["sleep", "300"])
def note(line):
    with open(os.path.join(folder, "log"), "a") as f:
        f.write(line + "\\n")
def term(*_):
    note(name + " stopping")
    time.sleep(linger)
    note(name + " stopped")
    os._exit(0)
signal.signal(signal.SIGTERM, term)
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Ok)
threading.Thread(target=server.serve_forever, daemon=True).start()
with open(os.path.join(folder, name + ".pids"), "w") as f:
    f.write(f"{os.getpid()} {grandchild.pid}")
while True:
    time.sleep(1)
"""

# The launcher: stack.supervise over two stand-ins, "vllm" then "bot" (which lingers 0.5 s on SIGTERM).
LAUNCHER = """
import subprocess, sys
from serve.devtools.stack import Child, supervise
service, folder, vllm_port, bot_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def child(name, port, linger):
    argv = [sys.executable, service, name, str(port), folder, str(linger)]
    start = lambda: subprocess.Popen(argv, start_new_session=True)
    return Child(name, start, f"http://127.0.0.1:{port}/ready", 20, stop_timeout_s=5)
sys.exit(supervise([child("vllm", vllm_port, 0), child("bot", bot_port, 0.5)], poll_s=0.05))
"""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent that is gone counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_for(condition, within_s: float = 20.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def launched(tmp_path):
    """The launcher running two stand-ins; yields (launcher, {name: [pid, grandchild pid]}, folder)."""
    service = tmp_path / "service.py"
    service.write_text(SERVICE)
    ports = free_ports(2)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(service), str(tmp_path), *map(str, ports)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in launcher.stdout:  # until both answered their ready URL
        lines.append(line)
        if "all ready" in line:
            break
    assert "all ready" in "".join(lines), "".join(lines)
    pids = {name: [int(p) for p in (tmp_path / f"{name}.pids").read_text().split()] for name in ("vllm", "bot")}
    assert all(alive(p) for group in pids.values() for p in group)
    try:
        yield launcher, pids, tmp_path
    finally:
        for group in pids.values():  # whatever a failed test left behind
            for pid in group:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
        if launcher.poll() is None:
            launcher.kill()
        launcher.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stop_signal_stops_both_process_groups_bot_first(launched, sig):
    launcher, pids, folder = launched
    launcher.send_signal(sig)
    out, _ = launcher.communicate(timeout=30)
    assert launcher.returncode == 0, out
    assert f"{sig.name} received; stopping" in out
    assert not [p for group in pids.values() for p in group if alive(p)]  # no orphan holds a port
    # the bot finished its work (0.5 s) before vLLM was asked to stop
    assert (folder / "log").read_text().splitlines() == ["bot stopping", "bot stopped", "vllm stopping", "vllm stopped"]


def test_a_child_that_dies_stops_the_other_with_a_clear_message(launched):
    launcher, pids, _ = launched
    os.kill(pids["vllm"][0], signal.SIGKILL)  # vLLM dies; its engine worker (the grandchild) lives on
    out, _ = launcher.communicate(timeout=30)
    assert launcher.returncode == 1, out
    assert "vllm exited with code -9; stopping the others" in out
    assert wait_for(lambda: not any(alive(p) for group in pids.values() for p in group), 5)
