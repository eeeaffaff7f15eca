"""Training curves: the per-epoch logs of one or several ``fit`` calls as line plots.

Each function writes an image file and returns its path (see ``plotting.save_figure``).
"""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from synaprefect.utils.plotting import (
    as_history,
    distinct_colors,
    finish_axes,
    mean_and_std,
    new_figure,
    save_figure,
    select_metrics,
)

__all__ = [
    "plot_history",
    "plot_history_with_mean_and_std",
    "plot_history_comparison",
    "plot_history_comparison_with_mean_and_std",
    "history_figure",
]

_LINESTYLES = ["-", "--", "-.", ":"]
_DPI = 300


def history_figure(
    history: Any,
    xlabel: str | None = "Epochs",
    ylabel: str | None = "Scores",
    title: str | None = "Training history",
    grid: bool = True,
    metrics_filter: Sequence[str] | None = None,
    **kwargs,
):
    """The figure ``plot_history`` saves (a ``matplotlib.figure.Figure``), for callers
    that want the image in memory rather than in a file.

    Example: ``figure = history_figure(history, metrics_filter=["reward"])``
    """
    logs = as_history(history, "history")
    names = select_metrics(list(logs), metrics_filter, "metrics_filter")
    runs = {name: [logs[name]] for name in names}
    return _curves({"": runs}, xlabel, ylabel, title, grid, None, _LINESTYLES, kwargs, figsize=None)


def plot_history(
    history: Any,
    to_file: str = "training_history.png",
    to_folder: str | os.PathLike | None = None,
    xlabel: str | None = "Epochs",
    ylabel: str | None = "Scores",
    title: str | None = "Training history",
    grid: bool = True,
    metrics_filter: Sequence[str] | None = None,
    **kwargs,
) -> str:
    """Plot every metric of a ``History`` (one line per metric, epochs counted from 1)
    and save the image to ``to_folder/to_file``; returns the file's path.

    Extra keyword arguments go to matplotlib's ``Axes.plot`` (``marker="o"``...).

    Example:
    ```python
    history = await program.fit(x_train, y_train, epochs=5)
    path = synaprefect.utils.plot_history(history, to_folder="reports")
    ```
    """
    figure = history_figure(history, xlabel, ylabel, title, grid, metrics_filter, **kwargs)
    return save_figure(figure, to_file, to_folder, _DPI)


def plot_history_with_mean_and_std(
    history_list: list,
    to_file: str = "training_history_with_mean_and_std.png",
    to_folder: str | os.PathLike | None = None,
    xlabel: str | None = "Epochs",
    ylabel: str | None = "Scores",
    title: str | None = "Training history with mean and std",
    grid: bool = True,
    alpha: float = 0.2,
    metrics_filter: Sequence[str] | None = None,
    **kwargs,
) -> str:
    """Plot, for each metric, the mean over several ``History`` objects (runs of the same
    program) with a band of one standard deviation; runs are cut to the shortest one.
    Returns the file's path.

    Example:
    ```python
    histories = [await program.fit(x, y, epochs=3) for _ in range(4)]
    synaprefect.utils.plot_history_with_mean_and_std(histories)
    ```
    """
    runs = _runs_by_metric(_history_list(history_list, "history_list"), metrics_filter)
    figure = _curves(
        {"": runs}, xlabel, ylabel, title, grid, alpha, _LINESTYLES, kwargs, figsize=(10, 6)
    )
    return save_figure(figure, to_file, to_folder, _DPI)


def plot_history_comparison(
    history_dict: dict,
    to_file: str = "training_history_comparison.png",
    to_folder: str | os.PathLike | None = None,
    xlabel: str | None = "Epochs",
    ylabel: str | None = "Scores",
    title: str | None = "Training History Comparison",
    grid: bool = True,
    metrics_filter: Sequence[str] | None = None,
    linestyle_cycle: Sequence[str] | None = None,
    **kwargs,
) -> str:
    """Compare the histories of several programs or settings, ``{"name": History}``:
    one colour per metric, one line style per entry. Returns the file's path.

    Example:
    ```python
    synaprefect.utils.plot_history_comparison({"few-shot": history_a, "omega": history_b})
    ```
    """
    conditions = _conditions(history_dict, "history_dict", lambda h, f: [h])
    runs = {
        name: _runs_by_metric(histories, metrics_filter) for name, histories in conditions.items()
    }
    _same_metrics(runs, "history_dict")
    figure = _curves(
        runs,
        xlabel,
        ylabel,
        title,
        grid,
        None,
        linestyle_cycle or _LINESTYLES,
        kwargs,
        figsize=(12, 8),
    )
    return save_figure(figure, to_file, to_folder, _DPI)


def plot_history_comparison_with_mean_and_std(
    history_comparison_dict: dict,
    to_file: str = "training_history_comparison_with_mean_and_std.png",
    to_folder: str | os.PathLike | None = None,
    xlabel: str | None = "Epochs",
    ylabel: str | None = "Scores",
    title: str | None = "Training History Comparison with Mean and Std",
    grid: bool = True,
    alpha: float = 0.2,
    metrics_filter: Sequence[str] | None = None,
    linestyle_cycle: Sequence[str] | None = None,
    **kwargs,
) -> str:
    """Compare settings that were each run several times, ``{"name": [History, ...]}``:
    per setting and metric, the mean curve and a one-standard-deviation band. Returns
    the file's path.

    Example:
    ```python
    synaprefect.utils.plot_history_comparison_with_mean_and_std(
        {"few-shot": histories_a, "omega": histories_b})
    ```
    """
    conditions = _conditions(history_comparison_dict, "history_comparison_dict", _history_list)
    runs = {
        name: _runs_by_metric(histories, metrics_filter) for name, histories in conditions.items()
    }
    _same_metrics(runs, "history_comparison_dict")
    figure = _curves(
        runs,
        xlabel,
        ylabel,
        title,
        grid,
        alpha,
        linestyle_cycle or _LINESTYLES,
        kwargs,
        figsize=(12, 8),
    )
    return save_figure(figure, to_file, to_folder, _DPI)


# ---- helpers ---------------------------------------------------------------------------


def _history_list(history_list: Any, field: str) -> list[dict]:
    if not isinstance(history_list, list) or not history_list:
        raise ValueError(
            f"`{field}` must be a non-empty list of History objects, got {history_list!r:.80}."
        )
    return [as_history(h, f"{field}[{i}]") for i, h in enumerate(history_list)]


def _conditions(mapping: Any, field: str, to_list) -> dict[str, list[dict]]:
    if not isinstance(mapping, dict) or not mapping:
        raise ValueError(
            f"`{field}` must be a non-empty dict of name -> histories, got {mapping!r:.80}."
        )
    return {
        str(name): [as_history(h, f"{field}[{name!r}]") for h in to_list(value, field)]
        for name, value in mapping.items()
    }


def _runs_by_metric(histories: list[dict], metrics_filter) -> dict[str, list[list[float]]]:
    """``{metric: [values of run 1, run 2, ...]}``, every run cut to the shortest."""
    names = select_metrics(list(histories[0]), metrics_filter, "metrics_filter")
    for index, logs in enumerate(histories):
        missing = [name for name in names if name not in logs]
        if missing:
            raise ValueError(
                f"History {index} has no {missing}: every history must hold "
                f"the same metrics ({names})."
            )
    length = min(len(logs[name]) for logs in histories for name in names)
    return {name: [list(logs[name][:length]) for logs in histories] for name in names}


def _same_metrics(conditions: dict[str, dict], field: str) -> None:
    expected = list(next(iter(conditions.values())))
    for name, runs in conditions.items():
        if list(runs) != expected:
            raise ValueError(
                f"`{field}[{name!r}]` has the metrics {list(runs)}, the first "
                f"entry has {expected}: compare histories of the same metrics."
            )


def _curves(
    conditions: dict[str, dict[str, list[list[float]]]],
    xlabel,
    ylabel,
    title,
    grid,
    alpha,
    linestyles,
    kwargs,
    figsize,
):
    """Lines (mean over runs when ``alpha`` is set, with a std band) per condition and
    metric: colour by metric, line style by condition."""
    metrics = list(next(iter(conditions.values())))
    colors = distinct_colors(len(metrics))
    kwargs = {"marker": "o", "markersize": 4, **kwargs}  # a one-epoch fit is a point
    figure, axes = new_figure(figsize)
    shown: list[float] = []
    for style_index, (condition, runs) in enumerate(conditions.items()):
        for color, metric in zip(colors, metrics):
            mean, std = mean_and_std(runs[metric])
            epochs = np.arange(1, len(mean) + 1)
            label = f"{condition} - {metric}" if condition else metric
            axes.plot(
                epochs,
                mean,
                label=label + (" (mean)" if alpha and not condition else ""),
                color=color,
                linestyle=linestyles[style_index % len(linestyles)],
                **kwargs,
            )
            if alpha:
                axes.fill_between(
                    epochs,
                    mean - std,
                    mean + std,
                    color=color,
                    alpha=alpha,
                    label=f"{metric} (±std)" if not condition else None,
                )
            shown += [*(mean + std), *(mean - std)] if alpha else list(mean)
    finish_axes(
        axes, xlabel=xlabel, ylabel=ylabel, title=title, grid=grid, values=shown, integer_x=True
    )
    return figure
