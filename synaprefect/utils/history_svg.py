"""``history_svg``: a ``History``'s curves per epoch as a small SVG document, written
directly (matplotlib only picks the colours, the same as ``plot_history``'s).

The plots artifact of a tracked fit embeds it: drawing the same curves with matplotlib
took about 60 ms at the end of every fit, most of it laying out text; this takes about
0.2 ms. It draws what ``plot_history`` draws (a line with markers per metric, the
y axis from 0 to at least 1, epochs counted from 1, a legend), without its options.
"""

import math
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from synaprefect.utils.plotting import as_history, distinct_colors

__all__ = ["history_svg"]

_WIDTH, _HEIGHT = 560, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 176, 14, 42  # margins around the plot area
_LEGEND_ROW = 18
_MAX_LABEL = 24  # characters of a legend entry before it is cut
_MAX_X_LABELS = 10


def history_svg(history: Any) -> str:
    """The curves of ``history`` (a ``History`` or its ``.history`` dict) as an SVG
    document: a line per metric over the epochs.

    Example: ``svg = history_svg(await program.fit(x, y, epochs=3))``
    """
    logs = as_history(history, "history")
    series = {name: [_number(v) for v in values] for name, values in logs.items()}
    epochs = max((len(values) for values in series.values()), default=0)
    finite = [v for values in series.values() for v in values if v is not None]
    low, high = min([0.0, *finite]), max([1.0, *finite])
    if low < 0:
        low *= 1.05
    if high > 1:
        high *= 1.05
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM

    def x_of(epoch: int) -> float:  # epochs 1..n in the middle of n equal slots
        return _LEFT + (epoch - 0.5) / max(epochs, 1) * plot_w

    def y_of(value: float) -> float:
        return _TOP + (high - value) / (high - low) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="white"/>',
    ]
    for tick in _ticks(low, high):
        y = y_of(tick)
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_w}" y2="{y:.1f}" '
            f'stroke="#dddddd"/><text x="{_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{tick:g}</text>'
        )
    stride = math.ceil(epochs / _MAX_X_LABELS) if epochs else 1
    for epoch in range(1, epochs + 1, stride):
        x = x_of(epoch)
        bottom = _TOP + plot_h
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#333333"/>'
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{epoch}</text>'
        )
    parts += [
        f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="#333333"/>',
        f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_HEIGHT - 8}" text-anchor="middle" '
        f'font-size="12">Epochs</text>',
        f'<text transform="translate(14 {_TOP + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" font-size="12">Scores</text>',
    ]
    from matplotlib.colors import to_hex  # imported by distinct_colors already

    colors = [to_hex(color) for color in distinct_colors(len(series))]
    for row, ((name, values), color) in enumerate(zip(series.items(), colors)):
        for segment in _segments(values):
            points = " ".join(f"{x_of(e):.1f},{y_of(v):.1f}" for e, v in segment)
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
            parts += [
                f'<circle cx="{x_of(e):.1f}" cy="{y_of(v):.1f}" r="3" fill="{color}"/>'
                for e, v in segment
            ]
        y = _TOP + 10 + row * _LEGEND_ROW
        x = _LEFT + plot_w + 14
        label = escape(name)
        if len(name) > _MAX_LABEL:  # cut, with the whole name on hover
            label = f"{escape(name[: _MAX_LABEL - 1])}\u2026<title>{label}</title>"
        parts.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 20}" y2="{y}" stroke="{color}" '
            f'stroke-width="2"/><text x="{x + 26}" y="{y + 4}">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _segments(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Runs of consecutive epochs with a value (a missing value breaks the line)."""
    segments: list[list[tuple[int, float]]] = [[]]
    for epoch, value in enumerate(values, start=1):
        if value is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append((epoch, value))
    return [segment for segment in segments if segment]


def _ticks(low: float, high: float) -> list[float]:
    """Round values from ``low`` to ``high``, about five intervals apart."""
    raw = (high - low) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    count = int(math.floor((high - first) / step + 1e-9)) + 1
    return [round(first + i * step, 10) for i in range(count)]
