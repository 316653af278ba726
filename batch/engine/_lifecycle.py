"""The standard headers that announce an API's end: ``Deprecation`` and ``Sunset``. Pure.

- ``Deprecation`` (RFC 9745): a structured date, ``@`` and Unix seconds
  (``Deprecation: @1798761600``): the resource is, or will be, deprecated from then on.
  Drafts before the RFC sent an HTTP date, or ``true``; both are still met and read.
- ``Sunset`` (RFC 8594): an HTTP date (``Sunset: Sat, 01 Jan 2028 00:00:00 GMT``): the
  resource is expected to stop answering from then on.

Whatever a server sends, nothing here raises: a value that cannot be read is no date.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["DEPRECATION", "SUNSET", "end_of_life", "parse_deprecation", "parse_sunset"]

DEPRECATION = "Deprecation"
SUNSET = "Sunset"
_STRUCTURED_DATE = re.compile(r"@(-?[0-9]{1,12})")
#: the date a draft's ``Deprecation: true`` stands for: deprecated, since when unsaid
_UNSAID = datetime.min.replace(tzinfo=UTC)


def parse_deprecation(value: str | None) -> datetime | None:
    """The date of a ``Deprecation`` header, UTC; None if absent or unreadable. A bare
    ``true`` (older drafts) is `datetime.min`: deprecated, without a date."""
    if value is None:
        return None
    text = value.strip()
    found = _STRUCTURED_DATE.fullmatch(text)
    if found:
        try:
            return datetime.fromtimestamp(int(found.group(1)), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if text.lower() == "true":
        return _UNSAID
    return _http_date(text)


def parse_sunset(value: str | None) -> datetime | None:
    """The date of a ``Sunset`` header, UTC; None if absent or unreadable."""
    return None if value is None else _http_date(value.strip())


def end_of_life(headers: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    """(deprecated since, sunset) as an answer's standard headers say; None where absent."""
    return parse_deprecation(headers.get(DEPRECATION)), parse_sunset(headers.get(SUNSET))


def _http_date(text: str) -> datetime | None:
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
