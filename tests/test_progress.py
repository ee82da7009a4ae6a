"""The progress bar's summary text and its off-terminal behaviour."""

from __future__ import annotations

import io
from collections import Counter

import pytest

from bulkdel.models import Outcome
from bulkdel.progress import progress_bar, summary_text


def test_summary_groups_outcomes() -> None:
    """Deleted and gone count as done; failed and protected are shown apart."""
    text = summary_text(
        Counter({"deleted": 3, "gone": 2, "failed": 1, "protected": 4, "deferred": 2})
    )
    assert text == "done 5 · failed 1 · protected 4 · other 2"


def test_disabled_bar_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """Off a terminal the callback is silent."""
    with progress_bar(3, enabled=False) as advance:
        advance(Outcome.DELETED)
    assert capsys.readouterr().err == ""


def test_enabled_bar_shows_counts_and_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the bar shows the summary and a rate."""
    buf = io.StringIO()
    monkeypatch.setattr("sys.stderr", buf)
    with progress_bar(2, enabled=True) as advance:
        advance(Outcome.DELETED)
        advance(Outcome.PROTECTED)
    out = buf.getvalue()
    assert "done 1 · failed 0 · protected 1" in out
    assert "/s" in out
