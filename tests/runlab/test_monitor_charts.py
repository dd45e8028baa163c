"""The geometry of the monitor's server-drawn line charts (``runlab.monitor.charts``) and its SVG."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from runlab.monitor.charts import Mark, Series, line_chart
from runlab.monitor.render import Pages


def test_points_map_onto_the_plot_area_with_the_axes_covering_errors_and_marks():
    chart = line_chart([Series("b", "b_tot", [(0.5, 0.8), (1.0, 1.2), (2.0, 1.6)], errors=[0.1, 0.0, 0.2])],
                       x_label="gain", x_marks=[Mark(2.5, "g*")], y_marks=[Mark(0.0, "zero")], width=300,
                       height=130)
    assert chart is not None
    (line,) = chart["lines"]
    # x spans 0.5..2.5 (the mark widens it) over 56..288 px; y spans 0..1.8, widened to its round ticks 0..2
    # (steps of 0.5), over 100..10 px
    y_low, y_high = 0.0, 2.0
    expected = [(56 + 232 * (x - 0.5) / 2.0, 10 + 90 * (1 - (y - y_low) / (y_high - y_low)))
                for x, y in [(0.5, 0.8), (1.0, 1.2), (2.0, 1.6)]]
    assert [(point["px"], point["py"]) for point in line["points"]] == [
        (round(px, 1), round(py, 1)) for px, py in expected]
    assert line["path"] == " ".join(f"{point['px']},{point['py']}" for point in line["points"])
    assert line["points"][1]["error"] is None
    top, bottom = line["points"][2]["error"]
    assert top < line["points"][2]["py"] < bottom and bottom - top == pytest.approx(2 * 0.2 * 90 / (y_high - y_low), abs=0.1)
    assert chart["x_marks"] == [{"at": 288.0, "label": "g*"}]
    assert chart["y_marks"] == [{"at": round(10 + 90 * (1 - (0 - y_low) / (y_high - y_low)), 1), "label": "zero"}]
    assert [text for _, text in chart["x_ticks"]] == ["0.5", "1", "2"]
    assert line["points"][2]["title"] == "gain 2: b_tot 1.6 ± 0.2"


@pytest.mark.parametrize("values", [(0.397, 0.396, 0.091, 0.229), (0.5391, 0.8422, 0.7557), (1e4, -7219.0),
                                    (0.98, 0.99), (-3.0, -3.0)])
def test_y_ticks_are_round_numbers_at_the_edges_of_the_axis(values):
    chart = line_chart([Series("a", "a", list(enumerate(values)))], x_label="generation", height=240)
    labels = [float(text) for _, text in chart["y_ticks"]]
    steps = {round(b - a, 12) for a, b in zip(labels, labels[1:])}
    assert len(steps) == 1 and 3 <= len(labels) <= 7
    (step,) = steps
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 9) in (1, 2, 2.5, 5) and all(round(label / step, 9).is_integer() for label in labels)
    assert labels[0] <= min(values) and labels[-1] >= max(values)
    assert chart["y_ticks"][0][0] == chart["bottom"] and chart["y_ticks"][-1][0] == chart["top"]


def test_non_finite_points_are_left_out_and_nothing_finite_gives_no_chart():
    chart = line_chart([Series("a", "a", [(0, 1.0), (1, math.nan), (2, math.inf), (3, 2.0)]),
                        Series("b", "b", [(0, None), (1, 3.0)])], x_label="generation")  # type: ignore[list-item]
    assert [len(line["points"]) for line in chart["lines"]] == [2, 1]
    assert line_chart([Series("a", "a", [(0, math.nan)])], x_label="x") is None
    assert line_chart([], x_label="x") is None


def test_series_take_distinct_colours_from_a_qualitative_map_or_a_ramp():
    many = [Series(f"s{index}", f"layer {index}", [(0, index), (1, index)]) for index in range(12)]
    cycled = [line["colour"] for line in line_chart(many, x_label="x")["lines"]]
    assert cycled[0] == "#1f77b4" and cycled[10] == cycled[0] and len(set(cycled)) == 10
    ramp = [line["colour"] for line in line_chart(many, x_label="x", palette="viridis")["lines"]]
    assert len(set(ramp)) == 12 and ramp[0] == "#440154"
    assert all(re.fullmatch(r"#[0-9a-f]{6}", colour) for colour in cycled + ramp)


def test_the_macro_draws_one_circle_per_point_and_colours_as_attributes(tmp_path: Path):
    (tmp_path / "page.html").write_text('{% from "chart.html" import line_chart %}{{ line_chart(chart, "c", "a chart") }}')
    chart = line_chart([Series("a", "first", [(0, 1.0), (1, 2.0)], dash="6 4"), Series("b", "second", [(0, 3.0)])],
                       x_label="generation", y_marks=[Mark(1.5, "b = 1")])
    svg = Pages(tmp_path).render_from(tmp_path, "page.html", chart=chart)
    assert svg.count("<circle") == 3 and 'stroke-dasharray="6 4"' in svg and 'data-mark="b = 1"' in svg
    assert "style=" not in svg  # the monitor's Content-Security-Policy refuses inline styles
    assert re.findall(r'data-series="(\w+)"', svg) == ["a", "b"]
