"""Which sample of a batch a call belongs to, and where training-mode predictions go.

The trainer opens a ``PredictionRecorder`` around a training batch; modules record into
the current one. Outside such a block nothing is kept, so a module called directly (a
serving process) holds no memory per call.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from synaprefect.utils.context import bound

__all__ = ["sample_scope", "current_sample", "PredictionRecorder", "recording", "current_recorder"]

_sample: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "synaprefect_sample", default=None
)
_recorder: contextvars.ContextVar[PredictionRecorder | None] = contextvars.ContextVar(
    "synaprefect_recorder", default=None
)


def current_sample() -> int | None:
    return _sample.get()


def sample_scope(index: int) -> AbstractContextManager[int | None]:
    """Calls in the block belong to sample ``index`` of the batch."""
    return bound(_sample, index)


class PredictionRecorder:
    """Predictions by owner (a variable path) and sample, in the order calls started."""

    def __init__(self) -> None:
        self._slots: dict[str, dict[Any, list]] = {}
        self._children: list[PredictionRecorder] = []

    def reserve(self, owner: str, sample: Any) -> Callable[[dict], None]:
        """Take the next place of ``(owner, sample)`` now (calls start in a deterministic
        order, LM answers do not); returns the function that fills it."""
        slots = self._slots.setdefault(owner, {}).setdefault(sample, [])
        slots.append(None)
        index = len(slots) - 1

        def fill(prediction: dict) -> None:
            slots[index] = prediction

        return fill

    def open_child(self) -> PredictionRecorder:
        """A recorder for one attempt of a task, placed now (attempts start in a
        deterministic order); ``drop_child`` forgets a failed one."""
        child = PredictionRecorder()
        self._children.append(child)
        return child

    def drop_child(self, child: PredictionRecorder) -> None:
        self._children.remove(child)

    def _all_slots(self) -> dict[str, dict[Any, list]]:
        merged = {
            owner: {sample: list(slots) for sample, slots in samples.items()}
            for owner, samples in self._slots.items()
        }
        for child in self._children:
            for owner, samples in child._all_slots().items():
                for sample, slots in samples.items():
                    merged.setdefault(owner, {}).setdefault(sample, []).extend(slots)
        return merged

    def take(self) -> dict[str, dict[Any, list[dict]]]:
        """Every filled prediction, ``{owner: {sample: [prediction, ...]}}``."""
        taken = {
            owner: {
                sample: [p for p in slots if p is not None] for sample, slots in samples.items()
            }
            for owner, samples in self._all_slots().items()
        }
        return {owner: {s: p for s, p in samples.items() if p} for owner, samples in taken.items()}


def recording(recorder: PredictionRecorder | None) -> AbstractContextManager[Any]:
    """Record training-mode predictions of the block into ``recorder``."""
    return bound(_recorder, recorder)


def current_recorder() -> PredictionRecorder | None:
    return _recorder.get()
