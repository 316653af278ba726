"""A `.json` file holding a top-level array of objects, streamed element by element (ijson).

ijson's C backend (yajl2_c) parses the bytes as they come, so memory holds one element, never
the array: `line` is the element's 1-based position. An element that is not an object gets a
problem and reading goes on; an array cut short or broken stops the run like a truncated gzip
(the rows before the break are kept), with the element reached in the message.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import IO

from batch.engine import InputError
from batch.input._formats import READ_ERRORS, Row, reason
from batch.input._jsonl import JsonKeys, json_row

__all__ = ["json_array_rows"]


def json_array_rows(stream: IO[bytes], keys: JsonKeys, label: str) -> Generator[Row, None, None]:
    """Rows of the array's elements; InputError from the iterator when the array breaks."""
    import ijson  # type: ignore[import-untyped]  # noqa: PLC0415 - only JSON arrays pay for it

    position = 0
    try:
        for element in ijson.items(stream, "item", use_float=True):
            position += 1
            yield json_row(element, position, keys)
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
