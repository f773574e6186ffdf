"""`/ui/`: what needs attention now, and the charts of the window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import render_template, request

from webhook_app.services import services
from webhook_app.usecases.stats import OUTCOMES, WINDOWS, stats
from webhook_app.web import charts
from webhook_app.web.pages.core import bp, provider_panels, signed_in


@bp.get("/")
@signed_in
def dashboard() -> str:
    """Events and delivery outcomes over the window, and what needs attention now."""
    ctx = services()
    window = request.args.get("window", "24h")
    window = window if window in WINDOWS else "24h"
    data = stats(ctx.store, window, now=ctx.clock.now(), providers=ctx.provider_classes)
    step = timedelta(seconds=data["bucket_seconds"])
    buckets = [data["since"] + step * i for i in range(int(WINDOWS[window][0] / step))]
    index = {start: i for i, start in enumerate(buckets)}

    def per_bucket(rows: list[dict[str, Any]], name: str, field: str) -> list[int]:
        counts = [0] * len(buckets)
        for row in rows:
            if row.get("type", row.get("route")) == name and row["bucket_start"] in index:
                counts[index[row["bucket_start"]]] += row[field]
        return counts

    types = sorted({row["type"] for row in data["events"]})
    label = "%H:%M" if window == "24h" else "%b %d"
    events_chart = charts.stacked_bars(
        f"Events per type, last {window}",
        buckets,
        {kind: per_bucket(data["events"], kind, "count") for kind in types},
        charts.colours_for(types),
        label,
    )
    route_charts = {
        route: charts.stacked_bars(
            f"Deliveries to {route}, last {window}",
            buckets,
            {outcome: per_bucket(data["deliveries"], route, outcome) for outcome in OUTCOMES},
            charts.OUTCOME_COLOURS,
            label,
        )
        for route in sorted({row["route"] for row in data["deliveries"]})
    }
    return render_template(
        "ui/dashboard.html",
        window=window,
        windows=list(WINDOWS),
        stats=data,
        events_chart=events_chart,
        route_charts=route_charts,
        latency={row["route"]: row for row in data["routes"]},
        attention_panels=provider_panels("attention", attention=data["attention"]),
        dashboard_panels=provider_panels("dashboard", stats=data),
    )
