"""A file that is not valid UTF-8 is never read as UTF-8: its encoding is detected from its
first 64 KiB and named, or refused with what could not be told; later bytes never decode
silently."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import charset_normalizer
import pytest

from batch.engine import InputError
from batch.input import open_rows
from batch.input._encoding import SAMPLE
from tests.helpers import read_jsonl, run_cli

GERMAN = ["Jürgen Groß", "Björn Schäfer", "Renée Müller", "Käthe Böhm"]
SPANISH = ["José Núñez", "Ana Peña"]
POLISH = ["Łukasz Żółć", "Małgorzata Wąsik", "Paweł Świątek", "Grzegorz Brzęczyszczykiewicz"]


def export(tmp_path: Path, names: list[str], encoding: str, rows: int = 20) -> Path:
    path = tmp_path / "export.csv"
    lines = ["Profile ID;Name"] + [
        f"{uuid.UUID(int=n + 1, version=4)};{names[n % len(names)]}" for n in range(rows)
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def names_read(path: Path, encoding: str | None = None) -> tuple[str | None, list[object]]:
    with open_rows(
        str(path), fmt=None, id_field="profile_id", keep_columns=("Name",), encoding=encoding
    ) as rows:
        return rows.info.encoding, [row.columns["Name"] for row in rows if row.columns]


def test_an_encoding_that_can_be_told_is_detected_and_named(tmp_path: Path) -> None:
    encoding, names = names_read(export(tmp_path, GERMAN, "cp1252"))
    assert encoding == "cp1252 (detected)"
    assert names[:4] == GERMAN


def test_central_european_and_cyrillic_exports_are_detected(tmp_path: Path) -> None:
    assert names_read(export(tmp_path, POLISH, "cp1250"))[0] == "cp1250 (detected)"
    cyrillic = export(tmp_path, ["Иван Петров", "Мария Иванова"], "cp1251")
    assert names_read(cyrillic) == ("cp1251 (detected)", ["Иван Петров", "Мария Иванова"] * 10)


def test_an_encoding_that_cannot_be_told_is_refused_with_the_readings(tmp_path: Path) -> None:
    path = export(tmp_path, SPANISH, "cp1252")
    with pytest.raises(InputError) as caught:
        names_read(path)
    assert str(caught.value) == (
        f"cannot tell the encoding of '{path}': it is not UTF-8, and its byte 0xFA (line 2) is "
        "'ú' in cp1252, 'ś' in cp1257; pass --encoding with the right one (e.g. --encoding cp1252)"
    )
    assert names_read(path, encoding="cp1252") == ("cp1252", SPANISH * 10)


def test_bytes_that_are_no_text_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"profile_id\n" + bytes(range(128, 256)) * 40)
    with pytest.raises(InputError) as caught:
        names_read(path)
    assert str(caught.value) == (
        f"cannot tell the encoding of '{path}': it is not UTF-8 (line 2 holds the byte 0x80) and "
        "reads as text in no other encoding; pass --encoding with its encoding if it is text"
    )


def test_detection_reads_the_first_64_kib_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    detect = charset_normalizer.from_bytes

    def from_bytes(sample: bytes, **options: object) -> charset_normalizer.CharsetMatches:
        seen.append(len(sample))
        return detect(sample, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(charset_normalizer, "from_bytes", from_bytes)
    path = export(tmp_path, GERMAN, "cp1252", rows=50_000)
    assert path.stat().st_size > 30 * SAMPLE
    assert names_read(path)[0] == "cp1252 (detected)"
    assert seen == [SAMPLE]


def test_utf8_stays_utf8(tmp_path: Path) -> None:
    assert names_read(export(tmp_path, SPANISH, "utf-8")) == ("UTF-8", SPANISH * 10)


def test_a_json_array_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(
        json.dumps([{"profile_id": "x", "n": "é"}]).encode().replace(b"\\u00e9", b"\xe9")
    )
    with pytest.raises(InputError, match="a JSON array is read as UTF-8"):
        names_read(path)


def test_the_written_records_are_utf8_whatever_the_input(tmp_path: Path) -> None:
    """A Windows export with --keep-columns: the JSONL and CSV results hold the names right."""
    path = export(tmp_path, SPANISH, "cp1252", rows=2)
    for out in (tmp_path / "t.jsonl", tmp_path / "t.csv"):
        res = run_cli(
            "worker-tokens",
            str(path),
            "--encoding",
            "cp1252",
            "--keep-columns",
            "Name",
            "--simulate",
            "-o",
            str(out),
            "--rate",
            "1000",
            "--log-format",
            "json",
        )
        assert res.exit_code == 0, res.stderr
        text = out.read_bytes().decode("utf-8")  # strict: a stray byte fails here
        assert "José Núñez" in text
        assert "\ufffd" not in text
    assert [r["input"]["Name"] for r in read_jsonl(tmp_path / "t.jsonl")] == SPANISH
