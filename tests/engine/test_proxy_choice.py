"""Which proxy a run uses: curl's and requests' rules for the environment, as a table. Pure."""

from __future__ import annotations

import pytest

from batch import EngineOptions
from batch.engine import ConfigError, choose_proxy, parse_proxy, proxy_secrets, redact_url
from batch.engine._proxy import no_proxy_matches

API = "https://api.example.com/rest/v2"
V4, V6 = "https://10.1.2.3/x", "https://[fd00::5]/x"
P = "http://proxy.corp:3128"


@pytest.mark.parametrize(
    ("base_url", "explicit", "env", "label", "reason"),
    [
        # nothing set: direct
        (API, None, {}, "direct", "no proxy set"),
        # the variable for the base URL's scheme, lower case first (as curl and requests)
        (API, None, {"HTTPS_PROXY": P}, P, "HTTPS_PROXY"),
        (API, None, {"https_proxy": P}, P, "https_proxy"),
        (API, None, {"https_proxy": P, "HTTPS_PROXY": "http://other:1"}, P, "https_proxy"),
        # set but empty: no proxy, and the upper-case one is not consulted (curl)
        (API, None, {"https_proxy": "", "HTTPS_PROXY": P}, "direct", "https_proxy is empty"),
        # HTTP_PROXY is for http:// base URLs, not https:// ones
        (API, None, {"HTTP_PROXY": P}, "direct", "no proxy set"),
        (API, None, {"http_proxy": P}, "direct", "no proxy set"),
        # plain http (loopback only, see check_base_url) never goes through a proxy
        ("http://10.0.0.8/x", None, {"HTTP_PROXY": P}, "direct", "plain http"),
        ("http://10.0.0.8/x", None, {"HTTPS_PROXY": P}, "direct", "plain http"),
        # ALL_PROXY when the scheme's own is absent
        (API, None, {"ALL_PROXY": P}, P, "ALL_PROXY"),
        (API, None, {"all_proxy": P, "HTTPS_PROXY": "http://o:1"}, "http://o:1", "HTTPS_PROXY"),
        # scheme-less proxy means http://, curl's default port 1080 when none is given
        (API, None, {"HTTPS_PROXY": "proxy.corp:3128"}, P, "HTTPS_PROXY"),
        (API, None, {"HTTPS_PROXY": "http://proxy.corp"}, "http://proxy.corp:1080", "HTTPS_PROXY"),
        # TLS to the proxy itself: https://, port 443 by default
        (API, None, {"HTTPS_PROXY": "https://proxy.corp"}, "https://proxy.corp:443", "HTTPS_PROXY"),
        (
            API,
            None,
            {"HTTPS_PROXY": "HTTPS://proxy.corp:8443"},
            "https://proxy.corp:8443",
            "HTTPS_PROXY",
        ),
        (API, None, {"HTTPS_PROXY": "http://[fd00::1]:8/"}, "http://[fd00::1]:8", "HTTPS_PROXY"),
        # credentials never in the label
        (API, None, {"HTTPS_PROXY": "http://u:s3cret@proxy.corp:3128"}, P, "HTTPS_PROXY"),
        # NO_PROXY: names match the host and its subdomains, with or without a leading dot
        (API, None, {"HTTPS_PROXY": P, "NO_PROXY": "example.com"}, "direct", "NO_PROXY"),
        (API, None, {"HTTPS_PROXY": P, "NO_PROXY": ".example.com"}, "direct", "NO_PROXY"),
        (API, None, {"HTTPS_PROXY": P, "no_proxy": "api.example.com"}, "direct", "no_proxy"),
        (API, None, {"HTTPS_PROXY": P, "NO_PROXY": "ample.com"}, P, "HTTPS_PROXY"),
        (API, None, {"HTTPS_PROXY": P, "NO_PROXY": "other.org, EXAMPLE.COM"}, "direct", "NO_PROXY"),
        (API, None, {"HTTPS_PROXY": P, "NO_PROXY": "*"}, "direct", "NO_PROXY"),
        (API, None, {"HTTPS_PROXY": P, "NO_PROXY": ""}, P, "HTTPS_PROXY"),
        # lower-case no_proxy wins, even empty (curl reads the first one set)
        (API, None, {"HTTPS_PROXY": P, "no_proxy": "", "NO_PROXY": "*"}, P, "HTTPS_PROXY"),
        # host:port entries match that port only
        (API, None, {"HTTPS_PROXY": P, "NO_PROXY": "api.example.com:443"}, "direct", "NO_PROXY"),
        (API, None, {"HTTPS_PROXY": P, "NO_PROXY": "api.example.com:8443"}, P, "HTTPS_PROXY"),
        # IP addresses and CIDR ranges, v4 and v6
        (V4, None, {"HTTPS_PROXY": P, "NO_PROXY": "10.1.2.3"}, "direct", "NO_PROXY"),
        (V4, None, {"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "direct", "NO_PROXY"),
        (V4, None, {"HTTPS_PROXY": P, "NO_PROXY": "10.1.2.4"}, P, "HTTPS_PROXY"),
        (V6, None, {"HTTPS_PROXY": P, "NO_PROXY": "fd00::/8"}, "direct", "NO_PROXY"),
        (V6, None, {"HTTPS_PROXY": P, "NO_PROXY": "[fd00::5]"}, "direct", "NO_PROXY"),
        # loopback is never sent to a proxy from the environment (implicit NO_PROXY)
        ("http://127.0.0.1:8080/x", None, {"HTTP_PROXY": P}, "direct", "loopback host"),
        ("https://localhost:8443/x", None, {"HTTPS_PROXY": P}, "direct", "loopback host"),
        ("https://[::1]:8443/x", None, {"HTTPS_PROXY": P}, "direct", "loopback host"),
        ("https://127.8.9.10/x", None, {"HTTPS_PROXY": P}, "direct", "loopback host"),
        # an explicit proxy wins over the environment, NO_PROXY included
        (API, "http://explicit:8080", {"HTTPS_PROXY": P}, "http://explicit:8080", "--proxy"),
        (API, "http://explicit:8080", {"NO_PROXY": "*"}, "http://explicit:8080", "--proxy"),
        # but a loopback API is always direct, and plain http never goes through a proxy:
        # the org token would reach the proxy in clear text
        ("http://127.0.0.1:8080/x", P, {}, "direct", "loopback host"),
        ("https://localhost:8443/x", P, {}, "direct", "loopback host"),
        ("http://api.example.com/x", P, {"HTTP_PROXY": P}, "direct", "plain http"),
        # an empty explicit one is direct
        (API, "", {"HTTPS_PROXY": P}, "direct", "--proxy"),
    ],
)
def test_which_proxy(
    base_url: str, explicit: str | None, env: dict[str, str], label: str, reason: str
) -> None:
    choice = choose_proxy(base_url, explicit, env, "--proxy")
    assert (choice.label, choice.reason) == (label, reason)


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "matches"),
    [
        ("api.example.com", 443, "example.com", True),
        ("example.com", 443, ".example.com", True),
        ("badexample.com", 443, "example.com", False),
        ("api.example.com.", 443, "example.com", True),  # trailing dot of a FQDN
        ("api.example.com", 443, "example.com.", True),
        ("api.example.com", 443, "a.org b.org\texample.com", True),  # spaces separate too
        ("api.example.com", 443, " , ,", False),
        ("10.1.2.3", 443, "10.1.0.0/16", True),
        ("10.1.2.3", 443, "10.1.2.3:443", True),
        ("10.1.2.3", 443, "10.1.2.3:80", False),
        ("10.1.2.3", 443, "example.com", False),
        ("10.1.2.3", 443, "not-a-cidr/99", False),
        ("::1", 443, "::1", True),
        ("[fd00::5]", 443, "[fd00::5]:443", True),
    ],
)
def test_no_proxy_entries(host: str, port: int, no_proxy: str, matches: bool) -> None:
    assert no_proxy_matches(host, port, no_proxy) is matches


def test_credentials_are_decoded_and_kept_apart() -> None:
    proxy = parse_proxy("http://jane%40corp:p%3Ass@proxy.corp:3128", "HTTPS_PROXY")
    assert (proxy.url, proxy.user, proxy.password) == (P, "jane@corp", "p:ss")
    assert proxy.authorization == "Basic amFuZUBjb3JwOnA6c3M="  # base64 of jane@corp:p:ss
    assert "p:ss" not in repr(proxy)
    assert parse_proxy(P, "x").authorization is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("socks5://u:hunter22@proxy:1080", "only http:// and https:// proxies are supported"),
        ("socks5h://u:hunter22@proxy", "only http:// and https:// proxies are supported"),
        ("http://u:hunter22@proxy:99999", "is not a proxy URL"),
        ("http://u:hunter22@:3128", "has no host"),
        ("http://u:hunter22@proxy:3128/path", "must be just http://HOST:PORT"),
    ],
)
def test_unusable_proxy_urls_are_named_without_credentials(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_proxy(text, "HTTPS_PROXY")
    assert "hunter22" not in str(caught.value)
    assert "***@" in str(caught.value)
    assert str(caught.value).startswith("HTTPS_PROXY ")


def test_a_malformed_variable_is_a_config_error_when_it_is_used() -> None:
    with pytest.raises(ConfigError, match="HTTPS_PROXY 'socks5://proxy:1080'"):
        choose_proxy(API, None, {"HTTPS_PROXY": "socks5://proxy:1080"})
    # not used: not an error (curl too only reads the variable it needs)
    assert choose_proxy(API, None, {"HTTP_PROXY": "socks5://proxy:1080"}).label == "direct"


def test_engine_options_refuse_a_bad_proxy_with_a_value_error() -> None:
    with pytest.raises(ValueError, match="only http:// and https:// proxies"):
        EngineOptions(base_url=API, token="t0ken", proxy="socks5://u:pw12345@p:1080")
    options = EngineOptions(base_url=API, token="t0ken", proxy="http://u:pw12345@p:3128")
    assert "pw12345" not in repr(options)


def test_secrets_to_redact_cover_every_variable_and_form() -> None:
    env = {
        "HTTPS_PROXY": "http://u:p%2Fw-1@proxy:3128",
        "http_proxy": "http://v:second-pw@proxy:3128",
        "ALL_PROXY": "socks5://w:third-pw@proxy:1080",  # malformed for us: still redacted
        "PATH": "/usr/bin",
    }
    secrets = proxy_secrets("http://x:fourth-pw@proxy:3128", env)
    for expected in ("p/w-1", "p%2Fw-1", "second-pw", "third-pw", "fourth-pw"):
        assert expected in secrets
    assert proxy_secrets(None, {"HTTPS_PROXY": P}) == []


def test_redact_url() -> None:
    assert redact_url("go via http://u:pw@proxy:3128 now") == "go via http://***@proxy:3128 now"
    assert redact_url(P) == P
