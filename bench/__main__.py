"""`python -m bench` (`make bench`): run every benchmark, print the figures against their targets,
write bench/results.json and draw bench/pacing.png. Generated inputs go to bench/out/ (ignored).

Select benchmarks with arguments: `python -m bench overhead quota input memory compaction ratehigh shared neighbour`
(`python -m bench.neighbour foreign|recovery|fair|cost` runs one part of the last).
"""

from __future__ import annotations

import datetime as dt
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


def main(argv: list[str]) -> int:
    wanted = [a for a in argv if not a.startswith("-")] or list(ALL)
    unknown = set(wanted) - set(ALL)
    if unknown:
        print(f"unknown benchmarks {sorted(unknown)}; choose from {ALL}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    figures: list[Figure] = []
    details: dict[str, object] = {"machine": machine()}

    if "overhead" in wanted:
        from bench import overhead

        with timed("1. engine overhead"):
            figs, d = overhead.run()
        figures += figs
        details["overhead"] = d

    if "quota" in wanted:
        from bench import pacing, quota

        with timed("2. quota fidelity"):
            figs, d, runs = quota.run()
        figures += figs
        details["quota"] = d
        with timed("5. pacing plot (--rate 5 run)"):
            rate5 = quota.run_rate5()
            details["pacing_rate5"] = quota._describe(rate5)
            pacing.plot([rate5, runs["rate200"]], BENCH / "pacing.png")
        figures.append(
            Figure(
                "5",
                "--rate 5, 50 ms: achieved/limit (server, steady)",
                rate5.steady_rate / 5,
                "",
                None,
                f"window 429s {rate5.window_429}; plot: bench/pacing.png",
            )
        )

    if "input" in wanted:
        from bench import input_speed

        with timed("3. input speed and memory"):
            figs, d = input_speed.run()
        figures += figs
        details["input"] = d

    if "memory" in wanted:
        from bench import memory_run

        with timed("4. memory during a real run"):
            figs, d = memory_run.run()
        figures += figs
        details["memory"] = d

    if "compaction" in wanted:
        from bench import compaction

        with timed("6. compaction of results files"):
            figs, d = compaction.run()
        figures += figs
        details["compaction"] = d

    if "ratehigh" in wanted:
        from bench import rate_too_high

        with timed("7. a --rate set too high"):
            figs, d = rate_too_high.run()
        figures += figs
        details["rate_too_high"] = d

    if "shared" in wanted:
        from bench import shared_quota

        with timed("8. one organization, one quota"):
            figs, d = shared_quota.run()
        figures += figs
        details["shared_quota"] = d

    if "neighbour" in wanted:
        from bench import neighbour

        with timed("9. a good neighbour on the organization's quota"):
            figs, d = neighbour.run()
        figures += figs
        details["neighbour"] = d

    order = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "8": 7, "9": 8}
    figures.sort(key=lambda f: order.get(f.bench, 9))
    elapsed = time.perf_counter() - started
    details["elapsed_s"] = round(elapsed, 1)
    details["figures"] = [
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
    if set(wanted) == set(ALL):
        with open(BENCH / "results.json", "w") as fh:
            json.dump(details, fh, indent=1, default=str)
            fh.write("\n")
    else:
        with open(OUT / "results-partial.json", "w") as fh:
            json.dump(details, fh, indent=1, default=str)
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
    for name in os.listdir(OUT):
        if name.endswith(".jsonl"):
            os.unlink(OUT / name)
    shutil.rmtree(OUT / "tmp", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
