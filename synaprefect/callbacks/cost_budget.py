"""``CostBudget``: stop a fit cleanly when LM spending reaches a limit."""

import logging

from synaprefect.callbacks.callback import Callback

__all__ = ["CostBudget"]

logger = logging.getLogger("synaprefect.callbacks")


class CostBudget(Callback):
    """Stop training once the program's language models (its modules, rewards and
    optimizer, every phase) reach ``max_cost`` USD, ``max_calls`` calls or
    ``max_tokens`` tokens since the fit started.

    The check runs after every batch, so the batch in flight finishes (its calls are paid
    for and kept); then the epoch stops, the optimizer keeps its best candidate, the
    reason goes into the fit's summary, and the program is saved to ``filepath`` if given.
    Cache hits cost nothing and do not count. A resumed fit also counts what its replayed
    steps cost when they first ran (calls of the interrupted step, answered again from
    the run's journal, count as free).

    Example:
    ```python
    budget = synaprefect.callbacks.CostBudget(max_cost=4.0, max_calls=10_000,
                                              filepath="stopped.json")
    await program.fit(x, y, epochs=20, callbacks=[budget])
    budget.reason   # None, or why training stopped
    ```
    """

    def __init__(self, max_cost: float | None = None, max_calls: int | None = None,
                 max_tokens: int | None = None, filepath: str | None = None):
        super().__init__()
        limits = {"max_cost": max_cost, "max_calls": max_calls, "max_tokens": max_tokens}
        if all(v is None for v in limits.values()):
            raise ValueError("CostBudget needs at least one of max_cost, max_calls, "
                             "max_tokens.")
        for name, value in limits.items():
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
        if filepath is not None and not str(filepath).endswith(".json"):
            raise ValueError(f"`filepath` must end with '.json', got {filepath!r}.")
        self.max_cost, self.max_calls, self.max_tokens = max_cost, max_calls, max_tokens
        self.filepath = filepath
        self.reason: str | None = None
        self._start: dict[str, float] = {}

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
        for key, limit, unit in (("cost", self.max_cost, "USD"),
                                 ("calls", self.max_calls, "LM calls"),
                                 ("tokens", self.max_tokens, "tokens")):
            if limit is not None and spent[key] >= limit:
                self.reason = (f"budget reached: {spent[key]:g} {unit} spent, limit "
                               f"{limit:g} ({spent['calls']:g} calls, "
                               f"{spent['tokens']:g} tokens, {spent['cost']:.4f} USD)")
                logger.warning("Stopping the fit of %s: %s", self.program.name, self.reason)
                self.program.stop_training = True
                self.program.stop_reason = self.reason
                return

    def on_train_end(self, logs=None) -> None:
        if self.reason is not None and self.filepath:
            self.program.save(self.filepath)
