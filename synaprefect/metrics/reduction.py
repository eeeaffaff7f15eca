"""Reduction metrics: ``Mean``, ``Sum`` and ``MeanMetricWrapper``."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from synaprefect.data_models.data_model import DataModel
from synaprefect.metrics.metric import (
    MaskedMetric,
    Metric,
    register_builtin_metric,
    validate_direction,
)
from synaprefect.rewards.reward import as_reward_value
from synaprefect.rewards.wrappers import FunctionWrapperMixin
from synaprefect.utils.async_utils import gather_or_cancel
from synaprefect.variables.variable import Variable

__all__ = ["Mean", "Sum", "MeanMetricWrapper", "MeanState", "SumState", "MeanStateMixin"]


class MeanState(DataModel):
    total: float = 0.0
    count: int = 0


class SumState(DataModel):
    total: float = 0.0


def _numbers(values: Any, owner: str) -> list[float]:
    items = values if isinstance(values, (list, tuple)) else [values]
    return [_number(value, owner) for value in items]


def _number(value: Any, owner: str) -> float:
    try:
        return as_reward_value(value, "value")
    except ValueError:
        raise ValueError(
            f"Metric '{owner}': update_state takes a number or a list of numbers, got "
            f"{value!r:.80}."
        ) from None


class MeanStateMixin:
    """Accumulate ``total``/``count`` in a ``MeanState`` variable."""

    if TYPE_CHECKING:  # what ``Metric`` provides

        @property
        def state(self) -> Variable: ...

    def _add(self, values: list[float]) -> None:
        # No `await` between the read and the write, so concurrent updates never race.
        state = self.state
        state.assign({"total": state["total"] + sum(values), "count": state["count"] + len(values)})

    # ``Metric.result``'s type: subclasses may report per-field scores (``FBetaScore``).
    def result(self) -> float | dict[str, float]:
        count = self.state["count"]
        return float(self.state["total"] / count) if count else 0.0


@register_builtin_metric
class Mean(MeanStateMixin, Metric):
    """The running mean of the numbers given to ``update_state``.

    ``update_state(values)`` takes one number or a list of numbers (this metric reduces
    numbers, it does not compare data models). ``direction`` is None unless given (e.g.
    ``"up"`` for a reward tracker).

    Example:
    ```python
    mean = synaprefect.metrics.Mean(name="reward", direction="up")
    await mean.update_state([1.0, 0.0])
    await mean.update_state(0.5)
    mean.result()   # 0.5
    ```
    """

    direction = None
    state_model = MeanState

    def __init__(self, name: str = "mean", direction: str | None = None):
        super().__init__(name=name)
        self.direction = validate_direction(direction)

    async def update_state(self, values: float | list[float]) -> None:
        """Add one number or a list of numbers."""
        self._add(_numbers(values, self.name))

    def get_config(self) -> dict:
        return {**super().get_config(), "direction": self.direction}


@register_builtin_metric
class Sum(Metric):
    """The running sum of the numbers given to ``update_state``.

    ``update_state(values)`` takes one number or a list of numbers.

    Example:
    ```python
    total = synaprefect.metrics.Sum(name="solved")
    await total.update_state([1, 0, 1])
    total.result()   # 2.0
    ```
    """

    direction = None
    state_model = SumState

    def __init__(self, name: str = "sum", direction: str | None = None):
        super().__init__(name=name)
        self.direction = validate_direction(direction)

    async def update_state(self, values: float | list[float]) -> None:
        """Add one number or a list of numbers."""
        values = _numbers(values, self.name)
        self.state.assign({"total": self.state["total"] + sum(values)})

    def result(self) -> float:
        return float(self.state["total"])

    def get_config(self) -> dict:
        return {**super().get_config(), "direction": self.direction}


class MeanMetricWrapper(FunctionWrapperMixin, MeanStateMixin, MaskedMetric):
    """The mean of ``fn(y_true, y_pred, **fn_kwargs)`` (sync or async) over samples.

    Both values are converted to ``JsonDataModel`` and masked (``in_mask`` then
    ``out_mask``) before ``fn`` sees them. ``update_state`` takes one sample or two lists
    of samples. ``direction`` is ``"up"``: the wrapped functions are usually rewards.

    Example:
    ```python
    metric = synaprefect.metrics.MeanMetricWrapper(synaprefect.rewards.exact_match,
                                                   in_mask=["answer"])
    await metric.update_state(Answer(answer="a"), Answer(answer="a"))
    metric.result()   # 1.0
    ```
    """

    direction = "up"
    state_model = MeanState
    _default_name = "mean_metric_wrapper"

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
        **fn_kwargs: Any,
    ):
        super().__init__(
            name=self._keep_function(fn, name, fn_kwargs), in_mask=in_mask, out_mask=out_mask
        )

    async def update_state(self, y_true: Any, y_pred: Any) -> None:
        """Score one sample, or two equal-length lists of samples."""
        samples = self.prepare_samples(y_true, y_pred)
        # One failing sample fails the update: cancel the others rather than let them run on.
        values = await gather_or_cancel(*(self._call_function(t, p) for t, p in samples))
        self._add(values)

    def clone(self) -> "MeanMetricWrapper":
        return MeanMetricWrapper(
            self.fn, name=self.name, in_mask=self.in_mask, out_mask=self.out_mask, **self.fn_kwargs
        )
