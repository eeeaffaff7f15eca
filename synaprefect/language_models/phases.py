"""Which phase of training a language-model call belongs to, for per-phase accounting."""

import contextlib
import contextvars

from synaprefect.utils.context import bound

__all__ = ["PHASES", "current_phase", "phase_scope"]

PHASES = ("inference", "reward", "optimizer")
_phase: contextvars.ContextVar[str] = contextvars.ContextVar(
    "synaprefect_phase", default="inference"
)


def current_phase() -> str:
    return _phase.get()


@contextlib.contextmanager
def phase_scope(phase: str):
    """Count the calls made inside the block under ``phase``.

    Example:
    ```python
    with phase_scope("reward"):
        score = await judge(y_true, y_pred)
    ```
    """
    if phase not in PHASES:
        raise ValueError(f"Unknown phase {phase!r}; expected one of {PHASES}.")
    with bound(_phase, phase):
        yield
