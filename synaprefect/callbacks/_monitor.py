"""What the stopping and saving callbacks share: the watched metric, and when to save.

``MonitoredMetric`` reads a value from the logs, knows which way is better and compares.
``SaveSchedule`` says whether a save is due ("epoch" or every N batches).
"""

import numbers
import warnings
from typing import Any

__all__ = ["MonitoredMetric", "SaveSchedule"]

_MODES = ("auto", "min", "max")
_HIGHER_IS_BETTER = ("reward", "acc", "f1", "score")
_LOWER_IS_BETTER = ("loss", "cost", "latency", "error")


def _direction_from_name(monitor: str) -> str | None:
    """ "max" or "min" guessed from the metric's name; None when unknown or ambiguous."""
    name = monitor.lower()
    higher = any(word in name for word in _HIGHER_IS_BETTER)
    lower = any(word in name for word in _LOWER_IS_BETTER)
    if higher == lower:
        return None
    return "max" if higher else "min"


class MonitoredMetric:
    """The metric a callback watches (``monitor``), and which direction is better.

    ``mode`` is "min", "max" or "auto". "auto" asks ``program.metric_direction(monitor)``
    ("up" / "down"), then falls back on the name ("reward", "acc", "f1", "score" are
    maximised; "loss", "cost", "latency", "error" minimised).
    """

    def __init__(self, monitor: str, mode: str, min_delta: float, owner: str):
        if mode not in _MODES:
            raise ValueError(
                f"{owner}: unknown mode={mode!r}. Use 'max' when higher values of "
                f"{monitor!r} are better, 'min' when lower values are, or 'auto' to infer it."
            )
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.owner = owner
        self._resolved: str | None = None if mode == "auto" else mode

    def resolve(self, program: Any) -> str:
        """Work out the direction ("max" or "min") now; raises if "auto" cannot tell."""
        if self.mode != "auto":
            return self.mode
        direction = None
        metric_direction = getattr(program, "metric_direction", None)
        if metric_direction is not None:
            direction = {"up": "max", "down": "min"}.get(metric_direction(self.monitor))
        direction = direction or _direction_from_name(self.monitor)
        if direction is None:
            raise ValueError(
                f"{self.owner} cannot tell whether higher or lower values of "
                f"{self.monitor!r} are better: no compiled metric of that name declares a "
                "direction and the name does not say. Pass mode='max' (higher is better) "
                "or mode='min' (lower is better)."
            )
        self._resolved = direction
        return direction

    def value(self, logs: dict | None) -> float | None:
        """The monitored value from ``logs``; warns and returns None when it is missing."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        if value is None:
            problem = "is not in the logs" if self.monitor not in logs else "is None"
        else:
            problem = f"is not a number (got {type(value).__name__})"
        warnings.warn(
            f"{self.owner} monitors {self.monitor!r}, which {problem}; available keys: "
            f"{sorted(logs) or 'none'}. Skipping it for this step. Pass `monitor=` one of "
            "the available keys (validation keys such as 'val_reward' need validation "
            "data).",
            stacklevel=3,
        )
        return None

    def is_better(self, current: float, reference: float | None) -> bool:
        """Whether ``current`` beats ``reference`` by more than ``min_delta``."""
        if reference is None:
            return True
        if self._direction() == "max":
            return current > reference + self.min_delta
        return current < reference - self.min_delta

    def reached(self, current: float, target: float) -> bool:
        """Whether ``current`` is at or beyond ``target`` in the better direction."""
        if self._direction() == "max":
            return current >= target
        return current <= target

    def _direction(self) -> str:
        if self._resolved is None:
            raise RuntimeError(
                f"{self.owner}: call on_train_begin() before on_epoch_end() so that the "
                "direction of the monitored metric is known."
            )
        return self._resolved


class SaveSchedule:
    """``save_freq``: "epoch" (save at each epoch end) or a positive number of batches."""

    def __init__(self, save_freq: str | int, owner: str):
        if save_freq != "epoch" and not (
            isinstance(save_freq, int) and not isinstance(save_freq, bool) and save_freq > 0
        ):
            raise ValueError(
                f"{owner}: save_freq must be 'epoch' or a positive number of batches, got "
                f"{save_freq!r}. For example save_freq='epoch' or save_freq=10."
            )
        self.save_freq = save_freq
        self._batches = 0

    @property
    def per_epoch(self) -> bool:
        return self.save_freq == "epoch"

    def batch_done(self) -> bool:
        """Count one batch; True when a save is due (the count then restarts)."""
        if not isinstance(self.save_freq, int):  # "epoch"
            return False
        self._batches += 1
        if self._batches < self.save_freq:
            return False
        self._batches = 0
        return True

    def restart(self) -> None:
        self._batches = 0
