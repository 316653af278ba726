"""Which forward proxy a run uses, decided once from (base URL, explicit setting, environment).

Pure: the environment is passed in, nothing is read or resolved here. The rules are
curl's and requests' (the table in tests/engine/test_proxy_choice.py):

- an explicit setting (``--proxy URL``, the library's ``proxy=``) wins over the
  environment, NO_PROXY included; an empty one (``--proxy ''``, ``--no-proxy``) is direct;
- otherwise ``https_proxy`` / ``HTTPS_PROXY`` for https base URLs, ``http_proxy`` /
  ``HTTP_PROXY`` for http ones, then ``all_proxy`` / ``ALL_PROXY``; the lower-case name is
  read first, and a variable that is set but empty means "no proxy" (as in curl);
- ``no_proxy`` / ``NO_PROXY``: comma- or space-separated host names (matching the host and
  its subdomains, with or without a leading dot), IP addresses, CIDR ranges, ``host:port``
  entries, or ``*`` for everything; names compare case-insensitively, trailing dot ignored;
- a loopback API (localhost, 127.0.0.0/8, ::1) is always direct, whatever the setting:
  an implicit NO_PROXY entry, as in Go's net/http and browsers, so that a shell's
  HTTPS_PROXY does not break local tests; and plain ``http://`` (allowed for loopback
  only) never goes through a proxy, explicit or not: the API token would cross the
  network in clear text, to a proxy that has no business with a local API.

A proxy URL is ``http://[USER:PASSWORD@]HOST[:PORT]`` (scheme-less means http, port 1080
by default as in curl), or ``https://`` for TLS to the proxy itself (port 443; verified
like the API's certificate, so SSL_CERT_FILE serves both). Credentials never leave this module but in the Proxy-Authorization
header of the CONNECT request: every text made here shows the URL without them.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from batch.engine._errors import ConfigError
from batch.engine._urls import is_loopback, redact_url

__all__ = [
    "Proxy",
    "ProxyChoice",
    "choose_proxy",
    "no_proxy_matches",
    "parse_proxy",
    "proxy_secrets",
    "redact_url",
]

DEFAULT_PORTS = {"http": 1080, "https": 443}  # curl's default proxy ports
_PROXY_VARIABLES = frozenset({"https_proxy", "http_proxy", "all_proxy"})


@dataclass(frozen=True, slots=True)
class Proxy:
    """A forward proxy: ``url`` has no credentials; they are kept apart, out of every repr."""

    url: str
    user: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def authorization(self) -> str | None:
        """The Proxy-Authorization header value (Basic), or None without credentials."""
        if not self.user and not self.password:
            return None
        raw = f"{self.user}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def secrets(self) -> list[str]:
        """What a log line must never hold: the password in its forms, and the header value."""
        if not self.password:
            return []
        found = {self.password, urllib.parse.quote(self.password, safe="")}
        if self.authorization:
            found.add(self.authorization.split()[1])
        return sorted(found)


@dataclass(frozen=True, slots=True)
class ProxyChoice:
    """The proxy a run goes through (None: direct) and the setting that decided it."""

    proxy: Proxy | None
    reason: str

    @property
    def label(self) -> str:
        """For logs: the proxy URL without credentials, or ``direct``."""
        return self.proxy.url if self.proxy else "direct"


def parse_proxy(text: str, source: str) -> Proxy:
    """A proxy URL as curl takes it; ConfigError (without the credentials) if unusable."""
    raw = text.strip()
    shown = redact_url(raw if "://" in raw else f"http://{raw}")
    if "://" not in raw:
        raw = f"http://{raw}"
    try:
        parts = urllib.parse.urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(f"{source} {shown!r} is not a proxy URL (http://HOST:PORT)") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ConfigError(
            f"{source} {shown!r}: only http:// and https:// proxies are supported (HTTPS "
            "goes through them encrypted end to end, in a CONNECT tunnel)"
        )
    if not parts.hostname:
        raise ConfigError(f"{source} {shown!r} has no host (http://HOST:PORT)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{source} {shown!r} must be just http://HOST:PORT")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Proxy(
        url=f"{scheme}://{host}:{port or DEFAULT_PORTS[scheme]}",
        user=urllib.parse.unquote(parts.username or ""),
        password=urllib.parse.unquote(parts.password or ""),
    )


def choose_proxy(
    base_url: str,
    explicit: str | None,
    environ: Mapping[str, str],
    source: str = "the proxy setting",
) -> ProxyChoice:
    """The proxy for requests to ``base_url``: direct for a loopback or plain-http API;
    else ``explicit`` if given (``''``: direct), else the environment's, unless NO_PROXY
    says direct. ``source`` names the explicit setting in the front end's words
    (``--proxy``, ``the proxy argument``)."""
    parts = urllib.parse.urlsplit(base_url)
    if explicit is not None and not explicit.strip():
        return ProxyChoice(None, source)  # asked for direct: said as asked
    if is_loopback(parts.hostname or ""):
        return ProxyChoice(None, "loopback host")
    if parts.scheme.lower() == "http":
        return ProxyChoice(None, "plain http")
    if explicit is not None:
        return ProxyChoice(parse_proxy(explicit, source), source)
    return _from_environment(base_url, environ)


def _from_environment(base_url: str, environ: Mapping[str, str]) -> ProxyChoice:
    """The proxy the environment sets for ``base_url``, as curl reads it (see above)."""
    parts = urllib.parse.urlsplit(base_url)
    scheme = parts.scheme.lower()
    found = _first_set(environ, f"{scheme}_proxy", "all_proxy")
    if found is None:
        return ProxyChoice(None, "no proxy set")
    name, value = found
    if not value.strip():
        return ProxyChoice(None, f"{name} is empty")
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    no_proxy = _first_set(environ, "no_proxy")
    if no_proxy is not None and no_proxy_matches(host, port, no_proxy[1]):
        return ProxyChoice(None, no_proxy[0])
    return ProxyChoice(parse_proxy(value, name), name)


def proxy_secrets(explicit: str | None, environ: Mapping[str, str]) -> list[str]:
    """The passwords of the explicit proxy and of every proxy variable, for log redaction
    (a malformed one too, as far as it can be read)."""
    found: set[str] = set()
    texts = [explicit or ""] + [
        value for name, value in environ.items() if name.lower() in _PROXY_VARIABLES
    ]
    for text in texts:
        try:
            found.update(parse_proxy(text, "proxy").secrets())
        except ConfigError:
            match = re.search(r"://[^/@\s:]*:([^/@\s]+)@", text)
            if match:
                found.update({match.group(1), urllib.parse.unquote(match.group(1))})
    return sorted(found)


def no_proxy_matches(host: str, port: int, no_proxy: str) -> bool:
    """True if ``host:port`` is listed in a NO_PROXY value."""
    host = host.strip("[]").rstrip(".").lower()
    address = _address(host)
    for entry in _entries(no_proxy):
        if entry == "*":
            return True
        name, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            if _address_matches(address, name):
                return True
            continue
        name = name.lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


# -- internals ----------------------------------------------------------------


def _first_set(environ: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    """The first of each name's lower- then upper-case form present in ``environ``."""
    for name in names:
        for candidate in (name, name.upper()):
            if candidate in environ:
                return candidate, environ[candidate]
    return None


def _entries(no_proxy: str) -> Iterable[str]:
    for entry in re.split(r"[,\s]+", no_proxy):
        if entry:
            yield entry.lower()


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port``, ``v6`` (several colons: no port), ``cidr``."""
    if entry.startswith("["):
        inside, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return inside, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, int(port) if port.isdigit() else None
    return entry, None


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _address_matches(address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    try:
        if "/" in entry:
            return address in ipaddress.ip_network(entry, strict=False)
        return address == ipaddress.ip_address(entry)
    except ValueError:
        return False
