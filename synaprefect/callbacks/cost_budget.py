"""``CostBudget`` and ``BudgetStopping``: stop a fit cleanly when a budget is spent."""

import logging
import time

from synaprefect.callbacks.callback import Callback

__all__ = ["CostBudget", "BudgetStopping"]

logger = logging.getLogger("synaprefect.callbacks")

# Constructor argument -> (key of ``spent()``, unit used in the stop reason).
_LM_LIMITS = {
    "max_cost": ("cost", "USD"),
    "max_calls": ("calls", "LM calls"),
    "max_tokens": ("tokens", "tokens"),
}


class CostBudget(Callback):
    """Stop training once the program's language models (its modules, rewards and
    optimizer, every phase) reach ``max_cost`` USD, ``max_calls`` calls or
    ``max_tokens`` tokens since the fit started.

    The check runs after every batch, so the batch in flight finishes (its calls are paid
    for and kept); then the epoch stops, the optimizer keeps its best candidate, the
    reason goes into the fit's summary, and the program is saved to ``filepath`` if given.
    Cache hits cost nothing and do not count; a call that failed counts as a call, and
    the tokens and cost of a malformed answer count too (a provider bills it). A resumed
    fit also counts what its replayed work cost when it first ran: its finished steps,
    and the calls of an interrupted step answered again from the run's journal.

    Example:
    ```python
    budget = synaprefect.callbacks.CostBudget(max_cost=4.0, max_calls=10_000,
                                              filepath="stopped.json")
    await program.fit(x, y, epochs=20, callbacks=[budget])
    budget.reason   # None, or why training stopped
    ```
    """

    _limits = _LM_LIMITS

    def __init__(
        self,
        max_cost: float | None = None,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        filepath: str | None = None,
    ):
        super().__init__()
        self.max_cost, self.max_calls, self.max_tokens = max_cost, max_calls, max_tokens
        self._check_limits(filepath)
        self.filepath = filepath
        self.reason: str | None = None
        self._start: dict[str, float] = {}

    def _check_limits(self, filepath: str | None) -> None:
        values = {name: getattr(self, name) for name in self._limits}
        if all(v is None for v in values.values()):
            raise ValueError(f"{type(self).__name__} needs at least one of {', '.join(values)}.")
        for name, value in values.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
            ):
                raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
        if filepath is not None and not str(filepath).endswith(".json"):
            raise ValueError(f"`filepath` must end with '.json', got {filepath!r}.")

    def spent(self) -> dict[str, float]:
        """Cost (USD), calls and tokens since the fit started."""
        now = self.program.spent_totals()
        return {key: now[key] - self._start.get(key, 0.0) for key in now}

    def on_train_begin(self, logs=None) -> None:
        self.reason = None
        self._start = self.program.spent_totals()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if self.reason is not None:
            return
        spent = self.spent()
        for name, (key, unit) in self._limits.items():
            limit = getattr(self, name)
            if limit is not None and spent[key] >= limit:
                self.reason = (
                    f"budget reached: {spent[key]:g} {unit} spent, limit "
                    f"{limit:g} ({spent['calls']:g} calls, "
                    f"{spent['tokens']:g} tokens, {spent['cost']:.4f} USD)"
                )
                logger.warning("Stopping the fit of %s: %s", self.program.name, self.reason)
                self.program.stop_training = True
                self.program.stop_reason = self.reason
                return

    def on_train_end(self, logs=None) -> None:
        if self.reason is not None and self.filepath:
            self.program.save(self.filepath)


class BudgetStopping(CostBudget):
    """Stop training when a budget of LM calls, tokens, cost (USD) or wall-clock time
    (``max_time``, seconds since this fit started) is spent.

    ``CostBudget`` with a time limit: the same checks after every batch, the same clean
    stop (the batch in flight finishes, the best candidate is kept, ``reason`` says
    which budget ran out) and the optional save to ``filepath``. A resumed fit restarts
    the clock but counts what its replayed steps cost.

    Example:
    ```python
    stop = synaprefect.callbacks.BudgetStopping(max_calls=500, max_time=600)
    history = await program.fit(x, y, epochs=50, callbacks=[stop])
    stop.reason   # None, or e.g. "budget reached: 504 LM calls spent, limit 500 (...)"
    ```
    """

    _limits = {**_LM_LIMITS, "max_time": ("seconds", "seconds")}

    def __init__(
        self,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost: float | None = None,
        max_time: float | None = None,
        filepath: str | None = None,
    ):
        self.max_time = max_time
        super().__init__(
            max_cost=max_cost, max_calls=max_calls, max_tokens=max_tokens, filepath=filepath
        )
        self._started = time.monotonic()

    def spent(self) -> dict[str, float]:
        """Cost (USD), calls, tokens and seconds since the fit started."""
        return {**super().spent(), "seconds": time.monotonic() - self._started}

    def on_train_begin(self, logs=None) -> None:
        super().on_train_begin(logs)
        self._started = time.monotonic()
