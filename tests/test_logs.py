"""Log set-up: secrets are masked wherever they appear in an event."""

from __future__ import annotations

import json

import pytest
import structlog

from bulkdel.logs import REDACTOR, Redactor, configure


def test_redactor_masks_nested_values() -> None:
    """Strings, lists, dicts and exceptions inside an event are all masked."""
    red = Redactor(["tok-SECRET-123"])
    event = red(
        None,
        "info",
        {
            "event": "x",
            "a": "Bearer tok-SECRET-123",
            "b": ["tok-SECRET-123"],
            "c": {"d": "x tok-SECRET-123"},
            "e": ValueError("bad tok-SECRET-123"),
        },
    )
    assert "tok-SECRET-123" not in json.dumps(event)
    assert event["e"] == "ValueError: bad ***"


def test_short_values_are_not_treated_as_secrets() -> None:
    """Values under four characters are ignored so ordinary words survive."""
    red = Redactor(["ab"])
    assert red(None, "info", {"event": "ab cd"})["event"] == "ab cd"


def test_configured_logger_writes_masked_json(capsys: pytest.CaptureFixture[str]) -> None:
    """A configured JSON logger never prints a registered secret."""
    configure("json", "info")
    REDACTOR.add("very-secret-token-value")
    structlog.get_logger("t").info("auth.used", header="X-Auth-Token: very-secret-token-value")
    err = capsys.readouterr().err
    assert "very-secret-token-value" not in err
    assert json.loads(err.strip().splitlines()[-1])["event"] == "auth.used"
