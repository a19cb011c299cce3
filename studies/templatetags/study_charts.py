"""The studies' charts and times in templates: ``{% load study_charts %}``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django import template
from django.utils.safestring import SafeString

from studies import charts
from studies.dashboard import Completions

register = template.Library()


@register.simple_tag
def score_histogram(
    scores: Sequence[float], *, title: str, mark: float | None = None
) -> SafeString:
    """``{% score_histogram block.scores title="..." mark=progress.score %}``"""
    return charts.histogram_svg(charts.histogram(scores), title=title, mark=mark)


@register.simple_tag
def completions_chart(completions: Completions) -> SafeString:
    return charts.cumulative_svg(
        completions.points,
        title="Completions over time",
        hourly=completions.hourly,
        y_label="Completed",
    )


@register.filter
def duration(value: timedelta | None) -> str:
    """1 h 5 min, 3 min 20 s, 42 s; a dash for none."""
    if value is None:
        return "-"
    seconds = round(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"
