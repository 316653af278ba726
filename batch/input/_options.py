"""How an input is to be read: what `open_rows` was asked, in one value the readers share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from batch.input._rows import Format

__all__ = ["ReadOptions"]


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """What `open_rows` was asked, and what it knows of the input before reading it.

    `source` is the path ("-": standard input) and `label` how messages name it; `fmt` is the
    format given or announced by the name (None: decided from the content);
    `given` whether it was given (``--input-format``), `guessed` whether nothing said it.
    `parse_key` is the job's: it tells a key from another value (a list of IDs without
    header starts with one), raising ValueError for what is not a key.
    """

    source: str
    label: str
    id_field: str
    fmt: Format | None = None
    given: bool = False
    guessed: bool = False
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    header_row: int | None = None
    keep: tuple[str, ...] = ()
    parse_key: Callable[[str], object] | None = None

    @property
    def key_test(self) -> Callable[[str], bool] | None:
        """`is_key`, or None without `parse_key` (nothing is known of keys)."""
        return None if self.parse_key is None else self.is_key

    def is_key(self, value: str) -> bool:
        """Whether the job takes `value` for a key (never, without `parse_key`)."""
        if self.parse_key is None:
            return False
        try:
            self.parse_key(value)
        except ValueError:
            return False
        return True
