"""Whether a run without --resume or --overwrite may write a results file: not one that
holds records."""

from __future__ import annotations

from batch.engine import count_lines

__all__ = ["refuse_new"]


def refuse_new(path: str) -> str | None:
    """Why a run without --resume or --overwrite must not write ``path`` (it holds records),
    or None. A --dry-run asks it too, to say what the real run would do."""
    try:
        records = _count_records(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    if records == 0:
        return None
    return (
        f"{path!r} already holds {records:,} record{'s' if records != 1 else ''}; "
        "pass --resume to continue it, or --overwrite to start it over "
        f"(its records are then kept in {path + '.prev'!r} until the new run finishes)"
    )


def _count_records(path: str) -> int:
    """Lines of a results file (records; a CSV's header is not one)."""
    with open(path, "rb") as handle:
        lines = count_lines(iter(lambda: handle.read(1 << 20), b""))
    return max(lines - 1, 0) if path.lower().endswith(".csv") else lines
