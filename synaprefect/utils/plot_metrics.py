"""Evaluation scores: the metrics dicts returned by ``evaluate`` as bar charts, alone,
averaged over runs, or side by side.

Each function writes an image file and returns its path (see ``plotting.save_figure``).
"""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from synaprefect.utils.plotting import (
    distinct_colors,
    finish_axes,
    mean_and_std,
    new_figure,
    save_figure,
    select_metrics,
)

__all__ = [
    "plot_metrics",
    "plot_metrics_with_mean_and_std",
    "plot_metrics_comparison",
    "plot_metrics_comparison_with_mean_and_std",
]

_DPI = 300


def plot_metrics(
    metrics: dict,
    to_file: str = "evaluation_metrics.png",
    to_folder: str | os.PathLike | None = None,
    xlabel: str | None = "Metrics",
    ylabel: str | None = "Scores",
    title: str | None = "Evaluation metrics",
    grid: bool = True,
    metrics_filter: Sequence[str] | None = None,
    **kwargs,
) -> str:
    """One bar per metric of an evaluation; returns the path of the image written.

    Extra keyword arguments go to matplotlib's ``Axes.bar``.

    Example:
    ```python
    scores = await program.evaluate(x_test, y_test)
    synaprefect.utils.plot_metrics(scores, to_folder="reports")
    ```
    """
    runs = _runs({"": [metrics]}, "metrics", metrics_filter)
    figure = _bars(runs, xlabel, ylabel, title, grid, False, None, 0.8, kwargs)
    return save_figure(figure, to_file, to_folder, _DPI)


def plot_metrics_with_mean_and_std(
    metrics_list: list,
    to_file: str = "evaluation_metrics_with_mean_and_std.png",
    to_folder: str | os.PathLike | None = None,
    xlabel: str | None = "Metrics",
    ylabel: str | None = "Scores",
    title: str | None = "Evaluation metrics with mean and std",
    grid: bool = True,
    show_values: bool = False,
    capsize: float = 5,
    metrics: Sequence[str] | None = None,
    **kwargs,
) -> str:
    """The mean of each metric over several evaluations, with one-standard-deviation
    error bars (``show_values`` writes ``mean±std`` above each bar). ``metrics`` picks
    the metrics to show (Synalinks' name for this one argument). Returns the file's path.

    Example:
    ```python
    runs = [await program.evaluate(x_test, y_test) for _ in range(5)]
    synaprefect.utils.plot_metrics_with_mean_and_std(runs, show_values=True)
    ```
    """
    if not isinstance(metrics_list, list) or not metrics_list:
        raise ValueError(
            "`metrics_list` must be a non-empty list of metrics dicts "
            f"(from evaluate()), got {metrics_list!r:.80}."
        )
    runs = _runs({"": metrics_list}, "metrics_list", metrics)
    figure = _bars(runs, xlabel, ylabel, title, grid, show_values, capsize, 0.8, kwargs)
    return save_figure(figure, to_file, to_folder, _DPI)


def plot_metrics_comparison(
    metrics_dict: dict,
    to_file: str = "evaluation_metrics_comparison.png",
    to_folder: str | os.PathLike | None = None,
    xlabel: str | None = "Metrics",
    ylabel: str | None = "Scores",
    title: str | None = "Metrics Comparison",
    grid: bool = True,
    metrics_filter: Sequence[str] | None = None,
    bar_width: float = 0.35,
    **kwargs,
) -> str:
    """Grouped bars comparing the evaluations of several programs or settings,
    ``{"name": metrics dict}``; returns the file's path.

    Example:
    ```python
    synaprefect.utils.plot_metrics_comparison({"before": before, "after": after})
    ```
    """
    runs = _runs(
        {name: [m] for name, m in _non_empty(metrics_dict, "metrics_dict").items()},
        "metrics_dict",
        metrics_filter,
    )
    figure = _bars(runs, xlabel, ylabel, title, grid, False, None, bar_width, kwargs)
    return save_figure(figure, to_file, to_folder, _DPI)


def plot_metrics_comparison_with_mean_and_std(
    metrics_comparison_dict: dict,
    to_file: str = "evaluation_metrics_comparison_with_mean_and_std.png",
    to_folder: str | os.PathLike | None = None,
    xlabel: str | None = "Metrics",
    ylabel: str | None = "Scores",
    title: str | None = "Metrics Comparison with Mean and Std",
    grid: bool = True,
    show_values: bool = False,
    capsize: float = 5,
    metrics_filter: Sequence[str] | None = None,
    bar_width: float = 0.35,
    **kwargs,
) -> str:
    """Grouped bars of the mean of each metric per setting, ``{"name": [metrics dict,
    ...]}``, with one-standard-deviation error bars; returns the file's path.

    Example:
    ```python
    synaprefect.utils.plot_metrics_comparison_with_mean_and_std(
        {"baseline": baseline_runs, "trained": trained_runs}, show_values=True)
    ```
    """
    conditions = _non_empty(metrics_comparison_dict, "metrics_comparison_dict")
    for name, value in conditions.items():
        if not isinstance(value, list) or not value:
            raise ValueError(
                f"`metrics_comparison_dict[{name!r}]` must be a non-empty list "
                f"of metrics dicts, got {value!r:.80}."
            )
    runs = _runs(conditions, "metrics_comparison_dict", metrics_filter)
    figure = _bars(runs, xlabel, ylabel, title, grid, show_values, capsize, bar_width, kwargs)
    return save_figure(figure, to_file, to_folder, _DPI)


# ---- helpers ---------------------------------------------------------------------------


def _non_empty(mapping: Any, field: str) -> dict:
    if not isinstance(mapping, dict) or not mapping:
        raise ValueError(
            f"`{field}` must be a non-empty dict of name -> metrics, got {mapping!r:.80}."
        )
    return {str(name): value for name, value in mapping.items()}


def _runs(
    conditions: dict[str, list], field: str, selected: Sequence[str] | None
) -> dict[str, dict[str, list[float]]]:
    """``{condition: {metric: [value per run]}}``, every run holding the same metrics."""
    first = next(iter(conditions.values()))[0]
    if not isinstance(first, dict):
        raise ValueError(
            f"`{field}` must hold metrics dicts (from evaluate()), got {type(first).__name__}."
        )
    expected = list(first)
    names = select_metrics(
        expected, selected, "metrics_filter" if field != "metrics_list" else "metrics"
    )
    for condition, run_list in conditions.items():
        for index, run in enumerate(run_list):
            if not isinstance(run, dict) or set(run) != set(expected):
                where = f"[{condition!r}]" if condition else ""
                raise ValueError(
                    f"`{field}`{where} entry {index} must be a metrics dict with the keys "
                    f"{expected}, got {run!r:.120}."
                )
    return {
        condition: {name: [float(run[name]) for run in run_list] for name in names}
        for condition, run_list in conditions.items()
    }


def _bars(
    conditions: dict[str, dict[str, list[float]]],
    xlabel,
    ylabel,
    title,
    grid,
    show_values: bool,
    capsize,
    bar_width: float,
    kwargs,
):
    """Bars of the mean per metric, one colour per metric when there is one condition,
    one per condition otherwise; error bars when ``capsize`` is set."""
    metrics = list(next(iter(conditions.values())))
    positions = np.arange(len(metrics))
    figure, axes = new_figure()
    single = len(conditions) == 1
    colors = distinct_colors(len(metrics) if single else len(conditions))
    shown: list[float] = []
    for index, (condition, runs) in enumerate(conditions.items()):
        # rows: runs, columns: metrics
        mean, std = mean_and_std(np.array([runs[m] for m in metrics], dtype=float).T)
        offset = 0.0 if single else (index - len(conditions) / 2 + 0.5) * bar_width
        bars = axes.bar(
            positions + offset,
            mean,
            bar_width,
            color=colors if single else colors[index],
            label=None if single else condition,
            **({"yerr": std, "capsize": capsize} if capsize is not None else {}),
            **kwargs,
        )
        if show_values:
            for bar, m, s in zip(bars, mean, std):
                axes.text(
                    bar.get_x() + bar.get_width() / 2,
                    m + s + 0.01,
                    f"{m:.3f}±{s:.3f}",
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    rotation=90 if len(conditions) > 2 else 0,
                )
        shown += list(mean + std) + ([1.1 * max(mean + std)] if show_values else [])
    axes.set_xticks(positions)
    rotate = len(metrics) > 5
    axes.set_xticklabels(metrics, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    finish_axes(
        axes, xlabel=xlabel, ylabel=ylabel, title=title, grid=grid, values=shown, legend=not single
    )
    return figure
