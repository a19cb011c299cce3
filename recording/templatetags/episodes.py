"""How the player's pages write an episode's figures."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    """timedelta(seconds=125) -> "2 min 05 s"; an hour and more -> "1 h 02 min"."""
    if value is None:
        return "\u2013"  # an en dash, as the table writes "none"
    seconds = max(0, int(value.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"
