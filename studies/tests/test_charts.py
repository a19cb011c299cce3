"""The charts drawn on the server: bins a reader can add up, and the participant's mark."""

from __future__ import annotations

from datetime import UTC, datetime

from studies import charts


def test_whole_scores_over_a_short_range_get_a_bin_each() -> None:
    data = charts.histogram([0, 1, 1, 3, -2])
    assert data.edges == [-2, -1, 0, 1, 2, 3, 4]
    assert data.counts == [1, 0, 1, 2, 0, 1]
    assert data.label(3) == "1"


def test_a_wide_range_gets_round_bins_that_hold_every_score() -> None:
    data = charts.histogram([-21, -3, 0, 14, 21])
    assert data.width == 5 and data.edges[0] == -25 and data.edges[-1] >= 21
    assert data.total == 5 and len(data.counts) <= 12
    assert data.label(0) == "-25 to -20"


def test_fractional_scores_get_fractional_bins() -> None:
    data = charts.histogram([0.1, 0.2, 0.3, 0.35, 0.9])
    assert data.edges[:3] == [0.1, 0.2, 0.3] and data.total == 5
    assert data.counts[:3] == [1, 1, 2]  # 0.3 and 0.35 share the bin from 0.3
    assert data.label(2) == "0.3 to 0.4" and data.bin_of(0.9) == len(data.counts) - 1


def test_one_score_is_one_bin() -> None:
    data = charts.histogram([7, 7, 7])
    assert data.counts == [3] and data.edges == [7, 8]


def test_the_participants_bar_and_mark_are_drawn_apart() -> None:
    svg = str(charts.histogram_svg(charts.histogram([1, 2, 2, 5]), title="Pong", mark=2))
    assert svg.count(f'fill="{charts.MINE}"><title>2: 2</title>') == 1
    assert 'class="chart-mark"' in svg and "You: 2" in svg
    assert "<title>Pong</title>" in svg and 'role="img"' in svg


def test_text_in_a_chart_is_escaped() -> None:
    svg = str(charts.histogram_svg(charts.histogram([1]), title="<b>block</b>"))
    assert "<b>" not in svg and "&lt;b&gt;block&lt;/b&gt;" in svg


def test_completions_rise_as_a_step_line_through_each_hour() -> None:
    points = [
        (datetime(2025, 3, 1, 9, tzinfo=UTC), 2),
        (datetime(2025, 3, 1, 11, tzinfo=UTC), 5),
    ]
    svg = str(charts.cumulative_svg(points, title="Completions", hourly=True, y_label="Done"))
    assert "<title>01 Mar 09:00: 2</title>" in svg and "<title>01 Mar 11:00: 5</title>" in svg
    assert "5 by 01 Mar 11:00, from 01 Mar 09:00." in svg
