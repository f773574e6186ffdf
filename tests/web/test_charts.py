"""The inline SVG charts of the pages."""

from __future__ import annotations

from datetime import UTC, datetime

from webhook_app.web import charts


def test_a_sparkline_of_one_point_draws_a_dot() -> None:
    """Was: an hour with attempts among 23 without drew nothing (a line needs two points)."""
    one = str(charts.sparkline([None] * 10 + [4.0] + [None] * 13, "attempts"))
    assert "<circle" in one and "no data" not in one
    two = str(charts.sparkline([1.0, 2.0], "attempts"))
    assert "<circle" not in two and "<polyline" in two


def test_chart_text_is_not_stretched() -> None:
    """Was: preserveAspectRatio="none" stretched the axis labels with the bars."""
    hours = [datetime(2026, 12, 1, h, tzinfo=UTC) for h in range(3)]
    svg = str(charts.stacked_bars("events", hours, {"a": [1, 2, 3]}, {"a": "#000"}))
    assert "preserveAspectRatio" not in svg and "<text" in svg
