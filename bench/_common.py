"""Shared helpers: input files, measured child processes, the simulated API (own process or a
thread of the bench), and the figures table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"  # generated inputs, outputs and logs; git-ignored
PYTHON = sys.executable
MIB = 1024 * 1024


def deel_batch() -> list[str]:
    """The command that runs the tool: the venv's console script, else `python -m batch`."""
    script = Path(PYTHON).parent / "deel-batch"
    if script.exists():
        return [str(script)]
    found = shutil.which("deel-batch")
    return [found] if found else [PYTHON, "-m", "batch"]


def client_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DEEL_API_TOKEN"] = "bench"
    env.pop("DEEL_API_BASE_URL", None)
    env["PYTHONHASHSEED"] = "0"
    return env


# -- inputs ----------------------------------------------------------------------------------


def uuids(count: int, seed: int) -> list[str]:
    """`count` distinct random version-4 UUIDs in canonical form, reproducible from `seed`."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[int] = set()
    while len(out) < count:
        n = rng.getrandbits(128)
        if n in seen:
            continue
        seen.add(n)
        out.append(str(uuid.UUID(int=n, version=4)))
    return out


def write_csv(path: Path, ids: Sequence[str] | Iterator[str]) -> int:
    """An HR-export-like CSV: profile_id,name,email. Returns the number of data rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("profile_id,name,email\n")
        buf: list[str] = []
        for i, pid in enumerate(ids):
            buf.append(f"{pid},Worker {i},worker{i}@example.com\n")
            if len(buf) >= 10000:
                f.write("".join(buf))
                buf.clear()
            rows += 1
        f.write("".join(buf))
    return rows


def big_csv(path: Path, rows: int, seed: int, distinct: bool = True) -> Path:
    """Generate (once per size) a CSV of `rows` rows; distinct IDs, or one ID repeated."""
    if path.exists() and path.stat().st_size > 0:
        return path
    tmp = path.with_suffix(".tmp")
    if distinct:
        write_csv(tmp, uuids(rows, seed))
    else:
        one = uuids(1, seed)[0]
        write_csv(tmp, (one for _ in range(rows)))
    tmp.replace(path)
    return path


# -- measured children -----------------------------------------------------------------------


@dataclass
class Child:
    """What one child process cost: wall and CPU seconds, peak RSS, exit code, its stderr."""

    cmd: list[str]
    wall_s: float
    user_s: float
    sys_s: float
    maxrss_kib: int
    rc: int
    stderr: str

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def maxrss_mib(self) -> float:
        return self.maxrss_kib / 1024

    def last_event(self, name: str) -> dict[str, Any] | None:
        """The last JSON log line with `event == name` on the child's stderr."""
        for raw in reversed(self.stderr.splitlines()):
            line = raw.strip()
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == name:
                return event
        return None

    def check(self, ok_codes: Sequence[int] = (0,)) -> Child:
        if self.rc not in ok_codes:
            tail = "\n".join(self.stderr.splitlines()[-15:])
            raise RuntimeError(f"exit code {self.rc} from: {' '.join(self.cmd)}\n{tail}")
        return self


def _vm_hwm_kib(pid: int) -> int | None:
    """The process's peak resident set (VmHWM) so far, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def run_child(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> Child:
    """Run `cmd`, measuring that process alone: wall time, CPU (wait4) and peak RSS.

    Peak RSS is the child's VmHWM from /proc, polled every few ms until it exits (the high-water
    mark only rises, so the last reading is the peak up to a few ms before exit). wait4's
    ru_maxrss cannot be used: Linux carries the RSS high-water mark across fork and exec, so a
    child would report at least the RSS this bench process had when it was spawned.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    err_path = OUT / f"child-{os.getpid()}-{time.monotonic_ns()}.stderr"
    with open(err_path, "w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env
        )
        deadline = start + timeout
        peak = 0
        while True:
            hwm = _vm_hwm_kib(proc.pid)
            if hwm is not None:
                peak = max(peak, hwm)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.003)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    err_path.unlink()
    return Child(cmd, wall, usage.ru_utime, usage.ru_stime, peak, proc.returncode, stderr)


# -- the simulated API -----------------------------------------------------------------------


class SimulatorProcess:
    """`deel-batch simulate-api` in its own process (so the measured client is alone in its)."""

    def __init__(self, *args: str) -> None:
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.summary = ""

    def __enter__(self) -> SimulatorProcess:
        cmd = [*deel_batch(), "simulate-api", "--port", "0", *self.args]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline().decode()
        found = re.search(r"(http://\S+/rest/v2)", line)
        if not found:
            self.proc.kill()
            rest = self.proc.stderr.read().decode()
            raise RuntimeError(f"simulate-api did not start: {' '.join(cmd)}\n{line}{rest}")
        self.base_url = found.group(1)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        assert self.proc.stderr is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, rest = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, rest = self.proc.communicate()
        self.summary = rest.decode().strip()


class ThreadedSimulator:
    """The simulated API served by an event loop in a thread of this process, so its `stats`
    (arrivals, window_429, max_in_window) can be read. Arrival times are `time.monotonic()`."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.api: Any = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        from jobs._simulator import serve

        async with serve(self.config) as api:
            self.api = api
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ThreadedSimulator:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None or self.api is None:
            raise RuntimeError(f"simulator did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


# -- figures ---------------------------------------------------------------------------------


@dataclass
class Figure:
    """One reported figure; `target` is text such as '<= 1.2', None for context figures."""

    bench: str
    name: str
    value: float
    unit: str = ""
    target: str | None = None
    note: str = ""
    passed: bool | None = field(default=None)

    def __post_init__(self) -> None:
        if self.target is not None and self.passed is None:
            op, _, bound = self.target.partition(" ")
            limit = float(bound)
            self.passed = {
                "<=": self.value <= limit,
                ">=": self.value >= limit,
                "==": self.value == limit,
            }[op]

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return ""
        return "PASS" if self.passed else "MISS"

    def shown(self) -> str:
        v = self.value
        if abs(v) >= 1000:
            text = f"{v:,.0f}"
        elif (float(v).is_integer() and abs(v) >= 10) or abs(v) >= 100:
            text = f"{v:.0f}"
        elif abs(v) >= 10:
            text = f"{v:.1f}"
        else:
            text = f"{v:.3g}" if v else "0"
        return f"{text} {self.unit}".strip()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(figures: Sequence[Figure]) -> str:
    rows = ["| # | figure | measured | target | result | note |", "|---|---|---|---|---|---|"]
    for f in figures:
        target = f.target.replace("<=", "≤").replace(">=", "≥") if f.target else "—"
        if f.target and f.unit:
            target += f" {f.unit}"
        rows.append(f"| {f.bench} | {f.name} | {f.shown()} | {target} | {f.verdict} | {f.note} |")
    return "\n".join(rows)


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    start = time.perf_counter()
    print(f"[bench] {label} ...", file=sys.stderr, flush=True)
    try:
        yield
    finally:
        print(f"[bench] {label}: {time.perf_counter() - start:.1f}s", file=sys.stderr, flush=True)
