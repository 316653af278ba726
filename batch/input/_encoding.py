"""Which encoding a text input is read in: given, a BOM's, UTF-8, or detected from its start.

The decision is made on the first bytes of the input (`SAMPLE`, the 64 KiB `open_binary`
peeks), never on the whole file: a 1M-row export costs the same as a 10-row one.

- ``--encoding`` wins; then a BOM (UTF-8, UTF-16 LE/BE); UTF-16 without a BOM is refused.
- A sample that is valid UTF-8 (ASCII included) is read as UTF-8.
- Otherwise charset-normalizer proposes encodings. Its best proposals are often a family of
  single-byte code pages that tie (cp1252, cp1250, iso8859-16 … for a Western export): the
  encoding is taken only when every proposal within `TIE` of the best reads the sample as
  the same text (then the most common of them is named: cp1252 before the others). When they
  read it differently (``0xF1`` is ``ñ`` in cp1252 but ``ń`` in cp1250) the run is refused
  with the byte and its readings, so the user passes ``--encoding`` knowingly: a guess would
  put garbled names into the records. No value of the file is quoted (names are personal).

Whatever the encoding, a byte it does not decode further on stops the reading at its line
(`batch.input._formats.Undecodable`): a file whose start was UTF-8 but whose line 40,000 is
not is never read as UTF-8 past that line, and the records of the lines before it stand.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from batch.engine import InputError

__all__ = ["SAMPLE", "Encoding", "decide_encoding", "not_utf8_at"]

SAMPLE = 1 << 16
"""Bytes of the input's start the encoding is decided on."""

TIE = 0.01
"""Proposals whose mess ratio is within this of the best one's are as likely as it."""

MAX_CHAOS = 0.1
"""A best proposal messier than this (10% odd characters) is no reading of the text."""

#: the encodings exports come in (charset-normalizer tries only these): the Windows and ISO
#: code pages, the old Mac and DOS ones, and the East Asian multi-byte ones
LIKELY = (
    *(f"cp{page}" for page in range(1250, 1259)),
    *("latin_1", "iso8859_2", "iso8859_5", "iso8859_7", "iso8859_9", "iso8859_15"),
    *("mac_roman", "cp437", "cp850", "cp852", "cp866", "koi8_r"),
    *("shift_jis", "cp932", "euc_jp", "gb18030", "big5", "euc_kr", "cp949"),
)

#: among proposals that read the sample the same, the one named (and used for what follows)
PREFERRED = ("cp1252", "cp1250", "cp1251", "iso8859-15", "iso8859-1", "mac-roman", "cp850")

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 with BOM"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE with BOM"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE with BOM"),
)
_HIGH = re.compile(rb"[\x80-\xff]")


@dataclass(frozen=True, slots=True)
class Encoding:
    """The codec to decode with, how to name it to a person, and whether it was detected."""

    codec: str
    shown: str
    detected: bool = False

    @property
    def utf8(self) -> bool:
        return self.codec in ("utf-8", "utf-8-sig")

    @property
    def described(self) -> str:
        return f"{self.shown} (detected)" if self.detected else self.shown


def decide_encoding(first: bytes, given: str | None, label: str) -> Encoding:
    """The encoding of a text input starting with `first` (see the module docstring)."""
    if given:
        try:
            name = codecs.lookup(given).name
        except LookupError:
            raise InputError(
                f"unknown encoding {given!r} (examples: utf-8, cp1252, utf-16-le)"
            ) from None
        return Encoding(name, given)
    for bom, codec, shown in _BOMS:
        if first.startswith(bom):
            return Encoding(codec, shown)
    _refuse_utf16_without_bom(first, label)
    sample = first[:SAMPLE]
    bad = not_utf8_at(sample)
    return Encoding("utf-8", "UTF-8") if bad is None else _detect(sample, bad, label)


def not_utf8_at(sample: bytes) -> int | None:
    """Where the first byte of `sample` that is not UTF-8 is (None: it all is, but for a
    character the end of the sample may cut)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError as err:
        return err.start
    return None


def _refuse_utf16_without_bom(first: bytes, label: str) -> None:
    sample = first[:512]
    if len(sample) < 4:
        return
    odd_nuls = sample[1::2].count(0) / (len(sample) // 2)
    even_nuls = sample[0::2].count(0) / ((len(sample) + 1) // 2)
    for nuls, other, endian in ((odd_nuls, even_nuls, "le"), (even_nuls, odd_nuls, "be")):
        if nuls > 0.5 and other < 0.1:
            raise InputError(
                f"cannot read {label}: it looks like UTF-16 without a BOM; "
                f"pass --encoding utf-16-{endian}"
            )


def _detect(sample: bytes, bad: int, label: str) -> Encoding:
    """The encoding charset-normalizer finds for a sample that is not UTF-8 (its byte `bad`
    is the first that is not), when it can tell; else InputError with what it cannot tell."""
    from charset_normalizer import from_bytes  # noqa: PLC0415 - only non-UTF-8 text pays for it

    matches = list(from_bytes(sample, cp_isolation=list(LIKELY)))
    if not matches or matches[0].chaos > MAX_CHAOS:
        line = sample.count(b"\n", 0, bad) + 1
        raise InputError(
            f"cannot tell the encoding of {label}: it is not UTF-8 (line {line:,} holds the "
            f"byte 0x{sample[bad]:02X}) and reads as text in no other encoding; pass "
            "--encoding with its encoding if it is text"
        )
    best = matches[0].chaos
    tied = [m for m in matches if m.chaos <= best + TIE]
    if len({str(m) for m in tied}) == 1:
        chosen = _named([name for m in tied for name in m.could_be_from_charset])
        return Encoding(chosen, chosen, detected=True)
    names = [_named(m.could_be_from_charset) for m in tied]
    names.sort(key=lambda name: PREFERRED.index(name) if name in PREFERRED else len(PREFERRED))
    raise InputError(
        f"cannot tell the encoding of {label}: it is not UTF-8, and {_readings(sample, names)}; "
        f"pass --encoding with the right one (e.g. --encoding {names[0]})"
    )


def _named(same: list[str]) -> str:
    """The name to give encodings that read the sample the same: the most common one."""
    names = [codecs.lookup(name).name for name in same]
    return next((name for name in PREFERRED if name in names), names[0])


def _readings(sample: bytes, names: list[str]) -> str:
    """Where the encodings `names` read the sample differently: "its byte 0xF1 (line 2) is
    'ñ' in cp1252, 'ń' in cp1250" (three readings at most)."""
    looked: set[int] = set()
    for match in _HIGH.finditer(sample):
        byte = match.group()
        if byte[0] in looked:
            continue
        looked.add(byte[0])
        readings: dict[str, str] = {}
        for name in names:
            char = byte.decode(name, errors="replace")
            shown = (
                f"'{char}'" if char.isprintable() and char != "\ufffd" else "part of a character"
            )
            readings.setdefault(shown, name)
        if len(readings) > 1:
            line = sample.count(b"\n", 0, match.start()) + 1
            told = ", ".join(f"{shown} in {name}" for shown, name in list(readings.items())[:3])
            return f"its byte 0x{byte[0]:02X} (line {line:,}) is {told}"
    return "it reads differently in " + ", ".join(names[:3])
