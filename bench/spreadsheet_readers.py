"""python-calamine against openpyxl's read-only mode (python -m bench.spreadsheet_readers).

The choice behind batch/input/_sheets.py: each library reads every row of the same 200k-row,
3-column .xlsx (written by openpyxl, shared strings as Excel writes them) in its own process;
wall time from inside, peak RSS (VmHWM) polled from outside, as for every bench figure.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from bench._common import MIB, OUT, PYTHON, Figure, median, run_child, uuids

ROWS = int(os.environ.get("BENCH_SHEET_ROWS", "200000"))
REPEATS = int(os.environ.get("BENCH_SHEET_REPEATS", "2"))


def big_xlsx(path: Path, rows: int, seed: int) -> Path:
    """Generate (once per size) a workbook: Name, Profile ID, Email; `rows` data rows."""
    if path.exists() and path.stat().st_size > 0:
        return path
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Export")
    sheet.append(["Name", "Profile ID", "Email"])
    for i, pid in enumerate(uuids(rows, seed)):
        sheet.append([f"Worker {i}", pid, f"worker{i}@example.com"])
    tmp = path.with_suffix(".tmp.xlsx")
    book.save(tmp)
    tmp.replace(path)
    return path


def _read(which: str, path: str) -> None:
    """In the child: read every row, print rows and seconds."""
    start = time.perf_counter()
    count = 0
    if which == "calamine":
        import python_calamine

        sheet = python_calamine.load_workbook(path).get_sheet_by_index(0)
        for _row in sheet.iter_rows():
            count += 1
    else:
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        for _row in book.worksheets[0].iter_rows(values_only=True):
            count += 1
    print(count, time.perf_counter() - start)


def run() -> tuple[list[Figure], dict[str, object]]:
    path = big_xlsx(OUT / f"sheet-{ROWS}.xlsx", ROWS, seed=21)
    figures: list[Figure] = []
    details: dict[str, object] = {"rows": ROWS, "bytes": path.stat().st_size}
    for which in ("calamine", "openpyxl"):
        rates, peaks = [], []
        for _ in range(REPEATS):
            cmd = [PYTHON, "-m", "bench.spreadsheet_readers", "--child", which, str(path)]
            child = run_child(cmd)
            child.check()
            peaks.append(child.maxrss_kib * 1024 / MIB)
            rates.append((ROWS + 1) / child.wall_s)
        details[which] = {"rows_per_s": rates, "peak_mib": peaks}
        figures.append(
            Figure(
                "3",
                f"{which}: {ROWS:,}-row .xlsx, every row (whole process)",
                median(rates),
                "rows/s",
                None,
                f"peak RSS {max(peaks):.0f} MiB",
            )
        )
    return figures, details


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _read(sys.argv[2], sys.argv[3])
    else:
        from bench._common import table

        figs, d = run()
        print(table(figs))
        print(d)
