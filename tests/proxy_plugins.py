"""proxy.py plugins for the tests' forward proxy (loaded by the proxy process, by name).

- `ResolveTestNames`: the proxy alone resolves names under ``.test`` (to 127.0.0.1), as a
  corporate proxy alone resolves the outside world: a client that ignores the proxy and
  connects directly cannot even find the API.
- `RefuseTunnels`: answers every request with 403 Forbidden (a proxy whose policy forbids
  the destination).
"""

from __future__ import annotations

from proxy.common.types import HostPort
from proxy.http.exception import HttpRequestRejected
from proxy.http.parser import HttpParser
from proxy.http.proxy import HttpProxyBasePlugin

__all__ = ["RefuseTunnels", "ResolveTestNames"]


class ResolveTestNames(HttpProxyBasePlugin):
    def resolve_dns(self, host: str, port: int) -> tuple[str | None, HostPort | None]:
        if host.lower().rstrip(".").endswith(".test"):
            return "127.0.0.1", None
        return None, None


class RefuseTunnels(HttpProxyBasePlugin):
    def before_upstream_connection(self, request: HttpParser) -> HttpParser | None:
        raise HttpRequestRejected(status_code=403, reason=b"Forbidden", body=b"Forbidden by policy")
