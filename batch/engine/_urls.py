"""Hosts and URLs as the engine judges and shows them: loopback or not, credentials hidden."""

from __future__ import annotations

import ipaddress
import re

__all__ = ["is_loopback", "redact_url"]

#: Names that mean this host (a trailing dot, the fully qualified form, is the same name).
_LOOPBACK_NAMES = frozenset({"localhost"})
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1), with or without
    ``[]``, in any case, with or without the trailing dot of a fully qualified name."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(text: str) -> str:
    """``text`` with the ``user:password@`` of any URL in it replaced by ``***@``."""
    return _USERINFO.sub("***@", text)
