"""Line charts for study pages, drawn on the server as SVG: this module computes the geometry in pixels,
the template macro ``line_chart`` in ``templates/chart.html`` draws it. No script, no inline style: colours
are SVG attributes, which the monitor's Content-Security-Policy allows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.ticker import MaxNLocator

__all__ = ["Mark", "Series", "line_chart"]

_MAX_X_TICKS = 10
_Y_TICKS = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])  # matplotlib's choice of round tick values
_QUALITATIVE_MAX = 20  # a colormap with at most this many colours is a list to cycle, not a ramp to sample


@dataclass(frozen=True)
class Series:
    """One line: ``points`` are (x, y) in data units, ``errors`` (when given) a ± half-width per point;
    points whose x, y or error is not finite are left out."""

    key: str
    label: str
    points: Sequence[tuple[float, float]]
    errors: Sequence[float] | None = None
    dash: str | None = None  # an SVG stroke-dasharray, e.g. "6 4"


@dataclass(frozen=True)
class Mark:
    """A reference line across the chart at ``value`` (an x for a vertical mark, a y for a horizontal one)."""

    value: float
    label: str


@dataclass(frozen=True)
class _Frame:
    """Data ranges mapped onto the plot area ``left..right`` × ``top..bottom`` (pixels, y downwards)."""

    x_range: tuple[float, float]
    y_range: tuple[float, float]
    left: float
    right: float
    top: float
    bottom: float

    def x(self, value: float) -> float:
        low, high = self.x_range
        return round(self.left + (self.right - self.left) * ((value - low) / (high - low) if high > low else 0.5), 1)

    def y(self, value: float) -> float:
        low, high = self.y_range
        return round(self.top + (self.bottom - self.top) * (1 - (value - low) / (high - low)), 1)


def _finite(*values: float | None) -> bool:
    return all(value is not None and math.isfinite(value) for value in values)


def _kept(series: Series) -> list[tuple[float, float, float]]:
    """The finite (x, y, error) of ``series``; error 0 when it has none."""
    errors = series.errors if series.errors is not None else [0.0] * len(series.points)
    return [(float(x), float(y), float(error)) for (x, y), error in zip(series.points, errors)
            if _finite(x, y, error)]


def _colours(palette: str, count: int) -> list[str]:
    """``count`` colours of the matplotlib colormap ``palette``: cycled for a qualitative one (tab10),
    evenly sampled (ends kept) for a ramp (viridis), so a series' position reads as its colour."""
    colormap = colormaps[palette]
    if colormap.N <= _QUALITATIVE_MAX:
        return [to_hex(colormap(index % colormap.N)) for index in range(count)]
    return [to_hex(colormap(index / max(count - 1, 1) * 0.9)) for index in range(count)]


def line_chart(series: Sequence[Series], *, x_label: str, y_label: str = "", x_marks: Sequence[Mark] = (),
               y_marks: Sequence[Mark] = (), palette: str = "tab10", width: int = 640,
               height: int = 240) -> dict[str, Any] | None:
    """The geometry of ``series`` on shared axes, for ``templates/chart.html``: per series its colour, dash,
    polyline and points (pixel position, value, tooltip, error bar), the ticks of both axes, and the marks.
    The ranges cover every point, error bar and mark. None when no series has a finite point."""
    kept = [_kept(line) for line in series]
    xs = [x for points in kept for x, _, _ in points]
    if not xs:
        return None
    ys = [value for points in kept for _, y, error in points for value in (y - error, y + error)]
    ys += [mark.value for mark in y_marks if _finite(mark.value)]
    xs_marked = xs + [mark.value for mark in x_marks if _finite(mark.value)]
    y_low, y_high = min(ys), max(ys)
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    y_ticks = [float(value) for value in _Y_TICKS.tick_values(y_low, y_high)]  # round numbers spanning the data
    frame = _Frame((min(xs_marked), max(xs_marked)), (y_ticks[0], y_ticks[-1]), left=56, right=width - 12,
                   top=10, bottom=height - 30)
    lines = []
    for line, points, colour in zip(series, kept, _colours(palette, len(series))):
        drawn = [{"px": frame.x(x), "py": frame.y(y), "title": f"{x_label} {x:g}: {line.label} {y:.4g}"
                  + (f" ± {error:.2g}" if error else ""),
                  "error": (frame.y(y + error), frame.y(y - error)) if error else None}
                 for x, y, error in points]
        lines.append({"key": line.key, "label": line.label, "colour": colour, "dash": line.dash, "points": drawn,
                      "path": " ".join(f"{point['px']},{point['py']}" for point in drawn)})
    distinct = sorted(set(xs))
    stride = max(1, math.ceil(len(distinct) / _MAX_X_TICKS))
    return {
        "width": width, "height": height, "left": frame.left, "right": frame.right, "top": frame.top,
        "bottom": frame.bottom, "x_label": x_label, "y_label": y_label, "lines": lines,
        "x_ticks": [(frame.x(x), f"{x:g}") for x in distinct[::stride]],
        "y_ticks": [(frame.y(value), f"{round(value, 12):g}") for value in y_ticks],
        "x_marks": [{"at": frame.x(mark.value), "label": mark.label} for mark in x_marks if _finite(mark.value)],
        "y_marks": [{"at": frame.y(mark.value), "label": mark.label} for mark in y_marks if _finite(mark.value)],
    }
