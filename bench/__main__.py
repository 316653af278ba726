"""`python -m bench` (`make bench`): run every benchmark, print the figures against their targets,
write bench/results.json and draw bench/pacing.png. Generated inputs go to bench/out/ (ignored).

Select benchmarks with arguments: `python -m bench overhead quota input memory compaction ratehigh shared neighbour`
(`python -m bench.neighbour foreign|recovery|fair|cost` runs one part of the last).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time

from bench._common import BENCH, OUT, Figure, table, timed

ALL = ("overhead", "quota", "input", "memory", "compaction", "ratehigh", "shared", "neighbour")


def machine() -> dict[str, object]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(BENCH.parent), "describe", "--always", "--dirty", "--exclude", "*"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit or "unknown",
        "nproc": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


#: name → (its title, its details key, the module that runs it); the quota benchmark is the
#: one with more to do (the pacing plot), in `_quota`.
_SIMPLE = {
    "overhead": ("1. engine overhead", "overhead", "overhead"),
    "input": ("3. input speed and memory", "input", "input_speed"),
    "memory": ("4. memory during a real run", "memory", "memory_run"),
    "compaction": ("6. compaction of results files", "compaction", "compaction"),
    "ratehigh": ("7. a --rate set too high", "rate_too_high", "rate_too_high"),
    "shared": ("8. one organization, one quota", "shared_quota", "shared_quota"),
    "neighbour": ("9. a good neighbour on the organization's quota", "neighbour", "neighbour"),
}


def _quota(details: dict[str, object]) -> list[Figure]:
    from bench import pacing, quota

    with timed("2. quota fidelity"):
        figures, details["quota"], runs = quota.run()
    with timed("5. pacing plot (--rate 5 run)"):
        rate5 = quota.run_rate5()
        details["pacing_rate5"] = quota._describe(rate5)
        pacing.plot([rate5, runs["rate200"]], BENCH / "pacing.png")
    note = f"window 429s {rate5.window_429}; plot: bench/pacing.png"
    figures.append(
        Figure(
            "5",
            "--rate 5, 50 ms: achieved/limit (server, steady)",
            rate5.steady_rate / 5,
            "",
            None,
            note,
        )
    )
    return figures


def _run(name: str, details: dict[str, object]) -> list[Figure]:
    if name == "quota":
        return _quota(details)
    title, key, module = _SIMPLE[name]
    with timed(title):
        figures, details[key] = importlib.import_module(f"bench.{module}").run()
    return list(figures)


def _as_json(figures: list[Figure]) -> list[dict[str, object]]:
    return [
        {
            "bench": f.bench,
            "name": f.name,
            "value": f.value,
            "unit": f.unit,
            "target": f.target,
            "result": f.verdict or None,
            "note": f.note,
        }
        for f in figures
    ]


def _report(details: dict[str, object], figures: list[Figure], elapsed: float) -> None:
    m = details["machine"]
    assert isinstance(m, dict)
    print()
    print(
        f"{m['date']} · commit {m['commit']} · {m['nproc']} x {m['cpu']} · "
        f"Python {m['python']} · {elapsed:.0f} s"
    )
    print(table(figures))
    missed = [f for f in figures if f.passed is False]
    print(
        f"\n{len(figures)} figures, {sum(f.passed is True for f in figures)} PASS, {len(missed)} MISS"
    )


def main(argv: list[str]) -> int:
    wanted = [a for a in argv if not a.startswith("-")] or list(ALL)
    unknown = set(wanted) - set(ALL)
    if unknown:
        print(f"unknown benchmarks {sorted(unknown)}; choose from {ALL}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    details: dict[str, object] = {"machine": machine()}
    figures = [f for name in ALL if name in wanted for f in _run(name, details)]
    figures.sort(key=lambda f: int(f.bench) if f.bench.isdigit() else 10)
    elapsed = time.perf_counter() - started
    details["elapsed_s"] = round(elapsed, 1)
    details["figures"] = _as_json(figures)
    target = BENCH / "results.json" if set(wanted) == set(ALL) else OUT / "results-partial.json"
    with open(target, "w") as fh:
        json.dump(details, fh, indent=1, default=str)
        fh.write("\n")
    _report(details, figures, elapsed)
    for name in os.listdir(OUT):
        if name.endswith(".jsonl"):
            os.unlink(OUT / name)
    shutil.rmtree(OUT / "tmp", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
