"""What every Deel API job shares: the shape of its IDs."""

from __future__ import annotations

import re

__all__ = ["UUID"]

#: A worker or profile ID: a UUID, 8-4-4-4-12 hex digits, either case.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
