"""The inline SVG bar chart: bars, negative bars below the baseline, labels, escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from analytics.charts import MAX_LABEL_CHARS, Series, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def bars(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "bar" in g.get("class", "").split()]


def baseline_y(root: ET.Element) -> int:
    (line,) = [el for el in root.iter(f"{SVG}line") if el.get("class") == "baseline"]
    return int(line.get("y1"))


def test_positive_bars_stand_on_the_baseline_and_negative_ones_hang_below_it():
    svg = bar_chart(
        title="Margin per tenant",
        labels=["acme", "globex"],
        series=[Series("Margin", [300, -100], "#0a0", negative_color="#a00")],
        format_value=lambda cents: f"{cents / 100:.2f}",
    )
    root = parse(svg)
    base = baseline_y(root)
    up, down = bars(root)
    up_rect, down_rect = up.find(f"{SVG}rect"), down.find(f"{SVG}rect")
    assert int(up_rect.get("y")) + int(up_rect.get("height")) == base
    assert int(down_rect.get("y")) == base
    assert int(up_rect.get("height")) == 3 * int(down_rect.get("height"))
    assert (up_rect.get("fill"), down_rect.get("fill")) == ("#0a0", "#a00")
    assert "negative" in down.get("class")
    assert [bar.find(f"{SVG}text").text for bar in (up, down)] == ["3.00", "-1.00"]
    assert root.find(f"{SVG}title").text == "Margin per tenant"


def test_two_series_share_one_scale_and_none_draws_no_bar():
    svg = bar_chart(
        title="Revenue vs COGS",
        labels=["plan_base", "DO droplet"],
        series=[Series("Revenue", [5000, None], "#00f"), Series("COGS", [None, 2500], "#f80")],
    )
    drawn = bars(parse(svg))
    assert [(bar.get("data-label"), bar.get("data-series")) for bar in drawn] == [
        ("plan_base", "Revenue"),
        ("DO droplet", "COGS"),
    ]
    heights = [int(bar.find(f"{SVG}rect").get("height")) for bar in drawn]
    assert heights[0] == 2 * heights[1]


def test_text_is_escaped_and_long_labels_are_shortened():
    label = '<script>alert("x")</script> & a very long tenant name'
    svg = bar_chart(title="T & <b>", labels=[label], series=[Series("<i>s</i>", [1], "#000")])
    assert "<script>" not in svg and "<b>" not in svg and "<i>" not in svg
    root = parse(svg)  # well-formed XML despite the hostile text
    (axis_label,) = [t for t in root.iter(f"{SVG}text") if t.get("class") == "axis-label"]
    assert axis_label.find(f"{SVG}title").text == label
    assert len("".join(axis_label.itertext()).replace(label, "")) == MAX_LABEL_CHARS


def test_an_empty_chart_says_so():
    root = parse(bar_chart(title="Nothing", labels=[], series=[Series("Margin", [], "#000")]))
    assert bars(root) == []
    assert "Nothing to show" in "".join(root.itertext())


def test_values_and_labels_must_line_up():
    with pytest.raises(ValueError, match="2 values for 1 labels"):
        bar_chart(title="x", labels=["a"], series=[Series("s", [1, 2], "#000")])


def test_geometry_is_integers():
    svg = bar_chart(title="x", labels=["a", "b", "c"], series=[Series("s", [7, 3, -11], "#000")])
    numbers = re.findall(r' (?:x|y|width|height|x1|x2|y1|y2)="([^"]*)"', svg)
    assert numbers and all(re.fullmatch(r"-?\d+", value) for value in numbers)
