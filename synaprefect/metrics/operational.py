"""Operational metrics: calls, failures, error rate, tokens, cost and latency.

They are read, not fed: bound to language (or embedding) models with ``bind_models``,
they report the growth of the models' counters since the last ``reset_state()``.
A model is anything with ``counters(phase: str | None = None) -> dict[str, float]``
holding ``calls``, ``failed_calls``, ``prompt_tokens``, ``completion_tokens``,
``total_tokens``, ``cost``, ``latency_s`` (summed seconds) and ``cache_hits``.
"""

from typing import Any

from synaprefect.data_models.data_model import DataModel
from synaprefect.metrics.metric import Metric, register_builtin_metric
from synaprefect.utils.naming import to_snake_case

__all__ = [
    "OperationalMetric",
    "OperationalState",
    "PHASES",
    "Calls",
    "FailedCalls",
    "ErrorRate",
    "TotalTokens",
    "Cost",
    "AvgLatency",
]

PHASES = ("inference", "reward", "optimizer", None)


class OperationalState(DataModel):
    """The counters of each bound model when the state was last reset (the baseline)."""

    baselines: list[dict[str, float]] = []


def _read(model: Any, phase: str | None) -> dict[str, float]:
    counters = model.counters(phase)
    if not isinstance(counters, dict):
        raise TypeError(
            f"{type(model).__name__}.counters() must return a dict of numbers, got "
            f"{type(counters).__name__}."
        )
    return {
        key: float(value)
        for key, value in counters.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


class OperationalMetric(Metric):
    """Base class: the counters of the bound models since the last ``reset_state()``.

    ``phase`` selects the counters of one phase (``"inference"``, the default,
    ``"reward"`` or ``"optimizer"``) or of all phases (``None``). The default name is the
    metric's name prefixed by the phase when it is not ``"inference"``
    (``reward_total_tokens``, ``all_total_tokens``...). If a model's counters were reset
    since the baseline (they went down), that model counts from zero.

    A subclass names the ``counter`` it reports (divided by the calls when ``per_call``;
    0.0 without calls), or implements ``compute(totals) -> float`` for anything else.

    Example:
    ```python
    class CacheHits(synaprefect.metrics.OperationalMetric):
        direction = "up"
        counter = "cache_hits"

    hits = CacheHits(phase=None)   # named all_cache_hits
    hits.bind_models([language_model])
    ```
    """

    direction: str | None = "down"
    state_model = OperationalState
    counter: str | None = None
    per_call = False

    def __init__(self, name: str | None = None, phase: str | None = "inference"):
        if phase not in PHASES:
            raise ValueError(
                f"Invalid phase {phase!r}: expected 'inference', 'reward', 'optimizer' or "
                "None (every phase)."
            )
        self.phase = phase
        if name is None:
            base = to_snake_case(type(self).__name__)
            name = base if phase == "inference" else f"{phase or 'all'}_{base}"
        super().__init__(name=name)
        self._models: list[Any] = []

    @property
    def models(self) -> list[Any]:
        """The bound models."""
        return list(self._models)

    def bind_models(self, models: list[Any]) -> None:
        """Read the counters of ``models`` from now on (this also resets the baseline)."""
        models = list(models)
        for model in models:
            if not callable(getattr(model, "counters", None)):
                raise TypeError(
                    f"Metric '{self.name}' can only be bound to models with a "
                    f"`counters(phase)` method, got {type(model).__name__}."
                )
        self._models = models
        self.reset_state()

    def reset_state(self) -> None:
        """Record the bound models' current counters as the new baseline."""
        self.state.assign({"baselines": [_read(model, self.phase) for model in self._models]})

    async def update_state(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to do: operational metrics read the models' counters."""

    def totals(self) -> dict[str, float]:
        """Counter growth since the baseline, summed over the bound models."""
        baselines = self.state["baselines"]
        totals: dict[str, float] = {}
        for index, model in enumerate(self._models):
            current = _read(model, self.phase)
            baseline = baselines[index] if index < len(baselines) else {}
            if any(current.get(key, 0.0) < value for key, value in baseline.items()):
                baseline = {}  # the model's counters were reset: count from zero
            for key, value in current.items():
                totals[key] = totals.get(key, 0.0) + value - baseline.get(key, 0.0)
        return totals

    def compute(self, totals: dict[str, float]) -> float:
        if self.counter is None:
            raise NotImplementedError(
                f"{type(self).__name__} must set `counter` or implement `compute(totals)`."
            )
        value = totals.get(self.counter, 0.0)
        if not self.per_call:
            return value
        calls = totals.get("calls", 0.0)
        return value / calls if calls else 0.0

    def result(self) -> float:
        return float(self.compute(self.totals()))

    def get_config(self) -> dict:
        return {**super().get_config(), "phase": self.phase}


@register_builtin_metric
class Calls(OperationalMetric):
    """The number of model calls (cache hits included).

    Example:
    ```python
    calls = synaprefect.metrics.Calls()
    calls.bind_models([language_model])
    ...   # run the program
    calls.result()   # calls made since bind_models / reset_state
    ```
    """

    direction = None
    counter = "calls"


@register_builtin_metric
class FailedCalls(OperationalMetric):
    """The number of model calls that failed after their retries.

    Example:
    ```python
    failed = synaprefect.metrics.FailedCalls(phase=None)   # every phase
    failed.bind_models([language_model])
    failed.result()
    ```
    """

    counter = "failed_calls"


@register_builtin_metric
class ErrorRate(OperationalMetric):
    """Failed calls / calls (0.0 when there was no call).

    Example:
    ```python
    error_rate = synaprefect.metrics.ErrorRate()
    error_rate.bind_models([language_model])
    error_rate.result()   # e.g. 0.05
    ```
    """

    counter = "failed_calls"
    per_call = True


@register_builtin_metric
class TotalTokens(OperationalMetric):
    """Prompt plus completion tokens.

    Example:
    ```python
    tokens = synaprefect.metrics.TotalTokens(phase="reward")   # named reward_total_tokens
    tokens.bind_models([judge_model])
    tokens.result()
    ```
    """

    counter = "total_tokens"


@register_builtin_metric
class Cost(OperationalMetric):
    """The cost of the calls, in the currency of the models' price map (usually USD).

    Example:
    ```python
    cost = synaprefect.metrics.Cost()
    cost.bind_models([language_model])
    cost.result()
    ```
    """

    counter = "cost"


@register_builtin_metric
class AvgLatency(OperationalMetric):
    """Mean seconds per call (0.0 when there was no call).

    Example:
    ```python
    latency = synaprefect.metrics.AvgLatency()
    latency.bind_models([language_model])
    latency.result()   # e.g. 1.3
    ```
    """

    counter = "latency_s"
    per_call = True
