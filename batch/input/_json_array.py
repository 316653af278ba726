"""A `.json` file holding a top-level array of objects, streamed element by element (ijson).

ijson's C backend (yajl2_c) parses the bytes as they come, so memory holds one element, never
the array: `line` is the element's 1-based position. An element that is not an object gets a
problem and reading goes on; an array cut short or broken stops the run like a truncated gzip
(the rows before the break are kept), with the element reached in the message.

The elements are built here from ijson's `basic_parse` events, not by `ijson.items`: `items`
tracks a dotted prefix for every event, whose length grows with the nesting, so memory grows
with the square of the depth (an array nested 20,000 deep took 1 GB, 200,000 deep (400 KB of
brackets) 24 GB). Here nesting is bounded (`MAX_DEPTH`): deeper is refused, naming the file,
after reading no more than the brackets that went too deep.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import IO

from batch.engine import InputError
from batch.input._formats import READ_ERRORS, Row, reason
from batch.input._jsonl import JsonKeys, json_row

__all__ = ["MAX_DEPTH", "json_array_rows"]

#: Arrays and objects nested deeper than this (the top-level array is level 1) are refused.
#: An element is an object with an ID in it: a few levels; 64 is far beyond any export.
MAX_DEPTH = 64


class _TooDeep(Exception):
    pass


def json_array_rows(stream: IO[bytes], keys: JsonKeys, label: str) -> Generator[Row, None, None]:
    """Rows of the array's elements; InputError from the iterator when the array breaks."""
    import ijson  # type: ignore[import-untyped]  # noqa: PLC0415 - only JSON arrays pay for it

    position = 0
    try:
        for element in _elements(ijson.basic_parse(stream, use_float=True)):
            position += 1
            yield json_row(element, position, keys)
    except _TooDeep:
        raise InputError(
            f"cannot read {label}: arrays or objects nested more than {MAX_DEPTH} deep "
            f"(in element {position + 1}); it must be an array of objects, one per ID"
        ) from None
    except ijson.IncompleteJSONError as err:
        first = str(err).splitlines()[0] if str(err) else "cut short"
        if "premature EOF" in first:
            why = "the JSON array is cut short"
        elif "invalid bytes in UTF8" in first:
            why = "it is not valid UTF-8, as JSON must be (convert it with iconv -t utf-8)"
        else:
            why = f"not valid JSON ({first})"
        raise InputError(f"cannot read {label}: {why} (after element {position})") from None
    except ijson.JSONError as err:
        first = str(err).splitlines()[0]
        raise InputError(
            f"cannot read {label}: not valid JSON ({first}) (after element {position})"
        ) from None
    except READ_ERRORS as err:
        raise InputError(f"cannot read {label}: {reason(err)} (after element {position})") from None


def _elements(events: Iterator[tuple[str, object]]) -> Iterator[object]:
    """The elements of a top-level array, built from ``basic_parse`` events (a document
    that is not an array has none; the events are read to the end all the same, so that
    what follows the array is checked as JSON)."""
    first = next(events, None)
    if first is None or first[0] != "start_array":
        _drain(events)
        return
    for event, value in events:
        if event == "start_map":
            yield _object(events, 2)
        elif event == "start_array":
            yield _array(events, 2)
        elif event == "end_array":  # the top-level array ended: the rest must be nothing
            _drain(events)
            return
        else:
            yield value  # a scalar element: json_row says it is not an object


def _object(events: Iterator[tuple[str, object]], depth: int) -> dict[str, object]:
    """The object whose ``start_map`` was just read, at nesting ``depth``."""
    if depth > MAX_DEPTH:
        raise _TooDeep
    made: dict[str, object] = {}
    key = ""
    for event, value in events:
        if event == "map_key":
            key = str(value)
        elif event == "end_map":
            break
        elif event == "start_map":
            made[key] = _object(events, depth + 1)
        elif event == "start_array":
            made[key] = _array(events, depth + 1)
        else:
            made[key] = value
    return made


def _array(events: Iterator[tuple[str, object]], depth: int) -> list[object]:
    """The array whose ``start_array`` was just read, at nesting ``depth``."""
    if depth > MAX_DEPTH:
        raise _TooDeep
    made: list[object] = []
    for event, value in events:
        if event == "end_array":
            break
        if event == "start_map":
            made.append(_object(events, depth + 1))
        elif event == "start_array":
            made.append(_array(events, depth + 1))
        else:
            made.append(value)
    return made


def _drain(events: Iterator[tuple[str, object]]) -> None:
    for _ in events:
        pass
