"""A real forward proxy for the tests: proxy.py, run as its own process on 127.0.0.1.

proxy.py (PyPI ``proxy.py``) tunnels HTTPS with CONNECT, checks Basic credentials
(``--basic-auth``), takes plugins (tests/proxy_plugins.py) and writes one access-log
line per connection (``CONNECT host:port``) when it closes: what the tests read.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0


@dataclass
class ForwardProxy:
    port: int
    log_path: Path
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tunnels(self) -> list[str]:
        """The ``CONNECT host:port`` targets of the access log, one per closed tunnel."""
        return re.findall(r" - CONNECT (\S+) - ", self.log())

    def wait_for_tunnels(self, n: int, timeout: float = 10.0) -> list[str]:
        """The access log is written when a tunnel closes: wait until ``n`` are there."""
        deadline = time.monotonic() + timeout
        while len(found := self.tunnels()) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return found


@contextmanager
def forward_proxy(
    tmp: Path,
    *,
    basic_auth: str | None = None,
    plugins: tuple[str, ...] = (),
    tls: tuple[Path, Path] | None = None,
) -> Iterator[ForwardProxy]:
    """Start proxy.py on 127.0.0.1 (a free port) for the block's length; with ``tls``
    (certificate chain, key), it speaks TLS itself: an https:// proxy."""
    tmp.mkdir(parents=True, exist_ok=True)
    port_file, log_path = tmp / "proxy.port", tmp / "proxy.log"
    args = [
        sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
        "--port-file", str(port_file), "--num-acceptors", "1", "--num-workers", "1",
        "--log-file", str(log_path), "--log-level", "INFO",
        "--plugins", ",".join(("tests.proxy_plugins.ResolveTestNames", *plugins)),
    ]  # fmt: skip
    if basic_auth:
        args += ["--basic-auth", basic_auth]
    if tls:
        args += ["--cert-file", str(tls[0]), "--key-file", str(tls[1])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        env.pop(name, None)
    # Its own process group: proxy.py forks acceptor and worker processes, which a
    # SIGTERM to the parent alone may leave behind (still holding the port) if it
    # arrives early; the whole group is stopped at the end.
    process = subprocess.Popen(
        args,
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"proxy.py did not start: {process.stderr!r}")
            time.sleep(0.02)
        scheme = "https" if tls else "http"
        yield ForwardProxy(int(port_file.read_text().split()[0]), log_path, scheme)
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the proxy's process group, SIGKILL what is left after a while."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.monotonic() + wait
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not _group_alive(process.pid):
            break
    if process.stderr:
        process.stderr.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
