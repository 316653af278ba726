"""The engine refuses options it cannot keep its promises with, whoever builds them."""

from __future__ import annotations

from typing import Any

import pytest

from batch import EngineOptions

GOOD: dict[str, Any] = {"base_url": "https://api.example.com/rest/v2", "token": "t0ken"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"base_url": "http://api.example.com"}, "plain http://"),
        ({"base_url": "ftp://x"}, "is not an http\\(s\\) URL"),
        ({"token": ""}, "the token is empty"),
        ({"token": "a\tb"}, "the token holds spaces or control characters"),
        ({"rate": 0.0}, "rate must be a number greater than 0"),
        ({"rate": float("nan")}, "rate must be a number greater than 0"),
        ({"timeout": float("inf")}, "timeout must be a number greater than 0"),
        ({"concurrency": 0}, "concurrency must be 1..1000"),
        ({"max_attempts": 101}, "max_attempts must be 1..100"),
    ],
)
def test_bad_options_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EngineOptions(**(GOOD | change))


def test_loopback_http_is_fine() -> None:
    assert EngineOptions(base_url="http://127.0.0.1:8080/rest/v2", token="t").rate == 5.0
