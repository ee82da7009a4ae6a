"""The servers the benchmarks talk to, each in its own process on 127.0.0.1, torn down after.

- nginx (Debian `nginx-light`), one worker, answering 204 to everything: the fastest honest
  server there is, so the client is what gets measured.
- the bulkdel simulator (`python -m benchmarks.simserver`): latency, AK/SK checks and
  server-side counters (`/__sim/stats`, e.g. the peak DELETEs in any sliding second).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NGINX_CONF = """\
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{ return 204; }}
    }}
}}
"""


@dataclass(frozen=True, slots=True)
class Server:
    """A running server: where it is and the credentials it accepts."""

    kind: str
    endpoint: str
    project_id: str
    token: str = field(repr=False)
    ak: str
    sk: str = field(repr=False)
    has_stats: bool

    def stats(self) -> dict[str, Any] | None:
        """The simulator's counters (None for nginx)."""
        if not self.has_stats:
            return None
        with urllib.request.urlopen(self.endpoint + "/__sim/stats", timeout=30) as resp:
            doc = json.load(resp)
        return doc if isinstance(doc, dict) else None

    def reset_stats(self) -> None:
        """Zero the simulator's counters before the next client."""
        if self.has_stats:
            req = urllib.request.Request(self.endpoint + "/__sim/reset-stats", method="POST")
            with urllib.request.urlopen(req, timeout=30) as resp:
                resp.read()


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def _stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def nginx_binary() -> str | None:
    """The nginx executable, if installed."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )


def nginx_version(binary: str) -> str:
    """`nginx/1.22.1`, from `nginx -v` (which prints on stderr)."""
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return (out.stderr or out.stdout).strip().split(":")[-1].strip() or "nginx"


@contextlib.contextmanager
def nginx(tmp: Path, project_id: str) -> Iterator[Server]:
    """nginx answering 204 to every request, config and pid in `tmp` (no root paths)."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed: apt-get install -y nginx-light")
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port), encoding="utf-8")
    cmd = [binary, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf)]
    proc = subprocess.Popen(
        [*cmd, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_listening(port, proc, "nginx", 10.0)
        yield Server(
            kind=nginx_version(binary) + " (1 worker, 204 to every DELETE)",
            endpoint=f"http://127.0.0.1:{port}",
            project_id=project_id,
            token="bench-token-" + "x" * 40,
            ak="BENCHAKBENCHAKBENCH1",
            sk="bench-sk-" + "y" * 31,
            has_stats=False,
        )
    finally:
        _stop(proc)
        if proc.stderr is not None:
            proc.stderr.close()


@contextlib.contextmanager
def simulator(state: Path, project_id: str, *, latency_ms: float = 0.0) -> Iterator[Server]:
    """The bulkdel simulator serving `state`, in its own process."""
    cmd = [sys.executable, "-m", "benchmarks.simserver", "--state", str(state)]
    cmd += ["--project-id", project_id, "--latency", str(latency_ms)]
    log = state.with_suffix(".simulator.log")
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=_repo_root())
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                proc.wait(10)
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the simulator exited ({proc.returncode}) early:\n{tail}")
            info = json.loads(line)
            yield Server(
                kind=f"bulkdel simulator ({latency_ms:g} ms latency, AK/SK verified)",
                endpoint=info["endpoint"],
                project_id=info["project_id"],
                token=info["token"],
                ak=info["ak"],
                sk=info["sk"],
                has_stats=True,
            )
        finally:
            _stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()


def _repo_root() -> str:
    return str(Path(__file__).resolve().parent.parent)
