"""Bar charts drawn on the server as inline SVG: nothing is loaded from the internet.

`bar_chart` draws one group of bars per label and one bar per series in each group, with the
value written on every bar, negative values below the axis baseline, a legend, and every piece
of text escaped. Geometry is integer pixels (values are integer cents; the scale is an integer
division), so no float is involved anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

BAR_WIDTH = 44
BAR_GAP = 6  # between the bars of one group
GROUP_GAP = 28  # between groups
SIDE_PAD = 16
LEGEND_HEIGHT = 26
VALUE_SPACE = 16  # room for a value label above (or below) the longest bar
PLOT_HEIGHT = 200
LABEL_SPACE = 30
MIN_WIDTH = 320
MAX_LABEL_CHARS = 14
ELLIPSIS = "…"
# Text and axis take the page's text colour, so the chart reads in the admin's dark theme too.
AXIS_COLOR = "currentColor"
TEXT_COLOR = "currentColor"


@dataclass(frozen=True)
class Series:
    """One series: a value (or None: no bar) per label, drawn in `color`; negative values in
    `negative_color` when given (a loss reads red)."""

    name: str
    values: Sequence[int | None]
    color: str
    negative_color: str | None = None

    def color_of(self, value: int) -> str:
        return self.negative_color if value < 0 and self.negative_color else self.color


@dataclass(frozen=True)
class _Scale:
    """Maps a value to a bar height; the baseline sits where 0 is."""

    span: int  # max positive + max |negative|, never 0
    baseline_y: int

    @classmethod
    def of(cls, values: Sequence[int]) -> _Scale:
        highest = max([0, *values])
        lowest = min([0, *values])
        span = (highest - lowest) or 1
        return cls(span, LEGEND_HEIGHT + VALUE_SPACE + PLOT_HEIGHT * highest // span)

    def height(self, value: int) -> int:
        pixels = abs(value) * PLOT_HEIGHT // self.span
        return max(pixels, 1) if value else 0


def short_label(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + ELLIPSIS


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    format_value: Callable[[int], str] = str,
) -> SafeString:
    """An inline `<svg>` bar chart of `series` over `labels` (values are integers, e.g. cents;
    `format_value` writes them on the bars). Long labels are shortened on the axis and shown
    whole in a tooltip. Everything the caller passes is escaped."""
    for one in series:
        if len(one.values) != len(labels):
            raise ValueError(
                f"series {one.name!r} has {len(one.values)} values for {len(labels)} labels"
            )
    group_width = len(series) * BAR_WIDTH + max(len(series) - 1, 0) * BAR_GAP
    step = group_width + GROUP_GAP
    width = max(MIN_WIDTH, 2 * SIDE_PAD + len(labels) * step)
    height = LEGEND_HEIGHT + 2 * VALUE_SPACE + PLOT_HEIGHT + LABEL_SPACE
    values = [value for one in series for value in one.values if value is not None]
    scale = _Scale.of(values)

    parts = [_legend(series)]
    if not values:
        parts.append(_note("Nothing to show for this period.", width))
    for index, label in enumerate(labels):
        left = SIDE_PAD + index * step + GROUP_GAP // 2
        for position, one in enumerate(series):
            value = one.values[index]
            if value is not None:
                x = left + position * (BAR_WIDTH + BAR_GAP)
                parts.append(_bar(x, value, label, one, scale, format_value))
        parts.append(_axis_label(left + group_width // 2, label))
    parts.append(
        format_html(
            '<line class="baseline" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" />',
            SIDE_PAD,
            scale.baseline_y,
            width - SIDE_PAD,
            scale.baseline_y,
            AXIS_COLOR,
        )
    )
    return format_html(
        '<svg class="bar-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        'aria-label="{}" viewBox="0 0 {} {}" width="{}" height="{}" '
        'font-family="sans-serif" style="max-width:100%;height:auto">'
        "<title>{}</title>{}</svg>",
        title,
        width,
        height,
        width,
        height,
        title,
        format_html_join("", "{}", ((part,) for part in parts)),
    )


def _bar(
    x: int,
    value: int,
    label: str,
    series: Series,
    scale: _Scale,
    format_value: Callable[[int], str],
) -> SafeString:
    bar_height = scale.height(value)
    top = scale.baseline_y - bar_height if value >= 0 else scale.baseline_y
    text_y = top - 4 if value >= 0 else scale.baseline_y + bar_height + 12
    shown = format_value(value)
    return format_html(
        '<g class="bar{}" data-label="{}" data-series="{}" data-value="{}">'
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>'
        '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="{}">{}</text></g>',
        " negative" if value < 0 else "",
        label,
        series.name,
        value,
        x,
        top,
        BAR_WIDTH,
        bar_height,
        series.color_of(value),
        label,
        series.name,
        shown,
        x + BAR_WIDTH // 2,
        text_y,
        TEXT_COLOR,
        shown,
    )


def _axis_label(center_x: int, label: str) -> SafeString:
    y = LEGEND_HEIGHT + 2 * VALUE_SPACE + PLOT_HEIGHT + LABEL_SPACE // 2
    return format_html(
        '<text class="axis-label" x="{}" y="{}" font-size="11" text-anchor="middle" fill="{}">'
        "<title>{}</title>{}</text>",
        center_x,
        y,
        TEXT_COLOR,
        label,
        short_label(label),
    )


def _legend(series: Sequence[Series]) -> SafeString:
    entries = []
    x = SIDE_PAD
    for one in series:
        entries.append(
            format_html(
                '<rect x="{}" y="8" width="12" height="12" fill="{}" />'
                '<text x="{}" y="18" font-size="11" fill="{}">{}</text>',
                x,
                one.color,
                x + 16,
                TEXT_COLOR,
                one.name,
            )
        )
        x += 16 + 7 * len(one.name) + 24
    return format_html_join("", "{}", ((entry,) for entry in entries))


def _note(text: str, width: int) -> SafeString:
    return format_html(
        '<text class="note" x="{}" y="{}" font-size="12" text-anchor="middle" fill="{}">{}</text>',
        width // 2,
        LEGEND_HEIGHT + VALUE_SPACE + PLOT_HEIGHT // 2,
        TEXT_COLOR,
        text,
    )
