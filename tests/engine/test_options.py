"""The engine refuses options it cannot keep its promises with, whoever builds them."""

from __future__ import annotations

from typing import Any

import pytest

from batch import EngineOptions
from batch.engine import (
    ConfigError,
    check_base_url,
    choose_proxy,
    count_lines,
    is_loopback,
    redact_url,
)
from batch.engine._errors import reason_of

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


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        # The fully qualified form: the proxy rules always took it as loopback, the
        # plain-http check did not (two copies of is_loopback that had drifted apart).
        ("localhost.", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("[::1]", True),
        ("::1", True),
        ("localhost.example", False),
        ("10.0.0.1", False),
        ("api.letsdeel.com", False),
    ],
)
def test_one_loopback_rule_for_plain_http_and_proxies(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    url = f"http://{host if ':' not in host or host.startswith('[') else f'[{host}]'}:8080/rest/v2"
    if loopback:
        assert check_base_url(url, "--base-url") == url
        assert choose_proxy(url, None, {"HTTP_PROXY": "http://proxy:3128"}, "--proxy").proxy is None
    else:
        with pytest.raises(ConfigError, match="plain http"):
            check_base_url(url, "--base-url")


def test_one_way_to_hide_credentials_in_a_url() -> None:
    # The quota store's safe_url kept the user name and the proxy's redact_url did not;
    # the one rule now hides the whole user-info part wherever a URL is shown.
    assert redact_url("redis://admin:hunter2@db:6379/1") == "redis://***@db:6379/1"
    assert redact_url("via http://u:pw@proxy:3128 now") == "via http://***@proxy:3128 now"
    assert redact_url("redis://db:6379/1") == "redis://db:6379/1"


def test_reason_of_prefers_the_operating_systems_words() -> None:
    assert reason_of(OSError(111, "Connection refused")) == "Connection refused"
    assert reason_of(ValueError("first line\nsecond")) == "first line"
    assert reason_of(ValueError()) == "ValueError"
    assert len(reason_of(ValueError("x" * 500))) == 200


def test_count_lines_counts_a_last_line_without_its_newline() -> None:
    # One counter for the progress bar's total and the results file's record count.
    assert count_lines([]) == 0
    assert count_lines([b"a\nb\n"]) == 2
    assert count_lines([b"a\nb"]) == 2
    assert count_lines([b"a\n", b"", b"b"]) == 2
    assert count_lines([b"a", b"\n"]) == 1
