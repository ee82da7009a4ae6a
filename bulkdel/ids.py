"""Peer and interface IDs: canonical UUIDs only, the one shape that may reach a URL path."""

from __future__ import annotations

import re

UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = re.compile(UUID_PATTERN)


def canonical_uuid(value: str) -> str | None:
    """Return `value` as a lowercase canonical UUID, or None unless it is exactly one."""
    return value.lower() if _UUID.fullmatch(value) else None


def is_canonical_uuid(value: object) -> bool:
    """True only for a 36-character UUID string (either case)."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None
