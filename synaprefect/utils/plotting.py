"""What the plot functions share: headless figures, axes finishing, metric selection and
atomic image files.

Figures are ``matplotlib.figure.Figure`` objects drawn by the Agg canvas: no ``pyplot``,
no GUI backend, no window, whatever ``$MPLBACKEND`` says. matplotlib is imported on
first use only, so ``import synaprefect`` stays fast.
"""

import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synaprefect.utils.json_utils import atomic_write_bytes

__all__ = [
    "new_figure",
    "finish_axes",
    "save_figure",
    "figure_bytes",
    "distinct_colors",
    "select_metrics",
    "mean_and_std",
    "as_history",
]

# Formats the Agg canvas writes, by file extension.
_FORMATS = {
    "png": "png",
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "svg": "svg",
    "pdf": "pdf",
    "webp": "webp",
    "tif": "tiff",
    "tiff": "tiff",
    "eps": "eps",
    "ps": "ps",
}


def new_figure(figsize: tuple[float, float] | None = None, axes: bool = True):
    """``(figure, axes)``: a figure on the Agg canvas, never a window (``axes=False``:
    no axes, ``(figure, None)``, for drawings placed in inches)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure, figure.subplots() if axes else None


def figure_bytes(figure, fmt: str = "png", dpi: float = 100) -> bytes:
    """The figure rendered as an image file's bytes (``fmt`` as in ``savefig``)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


def save_figure(
    figure, to_file: str | os.PathLike, to_folder: str | os.PathLike | None, dpi: float
) -> str:
    """Write the figure to ``to_folder/to_file`` atomically; returns the path written.

    The format follows the extension (``.png``, ``.svg``, ``.pdf``...); a name without
    one is written as PNG, as Synalinks does.
    """
    if not isinstance(to_file, (str, os.PathLike)) or not str(to_file):
        raise ValueError(f"`to_file` must be a file name such as 'plot.png', got {to_file!r}.")
    path = Path(to_folder) / to_file if to_folder else Path(to_file)
    extension = path.suffix[1:].lower()
    if extension and extension not in _FORMATS:
        raise ValueError(
            f"`to_file` {str(path)!r} has the extension '.{extension}'; "
            f"expected one of {sorted('.' + e for e in _FORMATS)}."
        )
    atomic_write_bytes(path, figure_bytes(figure, _FORMATS.get(extension, "png"), dpi))
    return str(path)


def finish_axes(
    axes,
    *,
    xlabel: str | None,
    ylabel: str | None,
    title: str | None,
    grid: bool,
    values: Iterable[float],
    legend: bool = True,
    integer_x: bool = False,
) -> None:
    """Labels, title, grid and legend; the y axis spans 0 to at least 1 (scores), wider
    when a value lies outside."""
    if xlabel:
        axes.set_xlabel(xlabel)
    if ylabel:
        axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    if integer_x:
        from matplotlib.ticker import MaxNLocator

        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    finite = [v for v in (float(x) for x in values) if np.isfinite(v)]
    low = min([0.0, *finite])
    high = max([1.0, *finite])
    axes.set_ylim(low * 1.05 if low < 0 else 0.0, high * 1.05 if high > 1.0 else 1.0)
    axes.grid(grid)
    if legend and axes.get_legend_handles_labels()[0]:
        axes.legend()


def distinct_colors(count: int) -> list:
    """``count`` colours easy to tell apart: tab10/tab20, then evenly spaced hues."""
    from matplotlib import colormaps
    from matplotlib.colors import hsv_to_rgb

    if count <= 10:
        return [colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [colormaps["tab20"](i) for i in range(count)]
    return [tuple(hsv_to_rgb([i / count, 0.8, 0.75])) for i in range(count)]


def select_metrics(
    available: Sequence[str], requested: Sequence[str] | None, field: str
) -> list[str]:
    """``requested`` (all of ``available`` when None), checked against ``available``."""
    if requested is None:
        return list(available)
    if isinstance(requested, str) or not all(isinstance(m, str) for m in requested):
        raise ValueError(f"`{field}` must be a list of metric names, got {requested!r}.")
    missing = [m for m in requested if m not in available]
    if missing:
        raise ValueError(
            f"`{field}` names {missing}, which are not among the available "
            f"metrics {list(available)}."
        )
    return list(requested)


def mean_and_std(runs: Sequence[Sequence[float]] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per position, the mean over runs and the sample standard deviation (0 for one
    run)."""
    values = np.asarray(runs, dtype=float)
    std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1:])
    return values.mean(axis=0), std


def as_history(history: Any, field: str) -> dict[str, list[float]]:
    """The ``{metric: per-epoch values}`` of a ``History`` (or of such a dict)."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise ValueError(
            f"`{field}` must be a History returned by fit() (or its "
            f"`.history` dict), got {type(history).__name__}."
        )
    return logs
