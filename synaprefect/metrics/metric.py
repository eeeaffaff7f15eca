"""``Metric`` base class, the masked-metric base and the metric registry.

A metric accumulates state over samples (``await update_state(...)``), reports it
(``result()``) and starts again (``reset_state()``). Its state lives in ONE non-trainable
``Variable`` named ``<metric name>_state``, so it can be inspected and saved like any other
variable. ``direction`` says whether higher is better (``"up"``), lower is better
(``"down"``) or neither (``None``); callbacks and tuners use it.
"""

from typing import Any

from synaprefect.data_models.data_model import DataModel
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.rewards.reward import apply_masks, check_mask, to_json_data_model
from synaprefect.saving.registry import NamedRegistry
from synaprefect.utils.naming import to_snake_case, validate_name
from synaprefect.variables.variable import Variable

__all__ = [
    "Metric",
    "MaskedMetric",
    "DIRECTIONS",
    "validate_direction",
    "iterate_samples",
    "register_builtin_metric",
    "get",
    "serialize",
    "deserialize",
]

DIRECTIONS = ("up", "down", None)


def validate_direction(direction: Any) -> str | None:
    if direction not in DIRECTIONS:
        raise ValueError(
            f"Invalid direction {direction!r}: expected 'up' (higher is better), 'down' "
            "(lower is better) or None."
        )
    return direction


def iterate_samples(y_true: Any, y_pred: Any) -> list[tuple[Any, Any]]:
    """``[(y_true, y_pred)]`` for one sample, or the pairs of two equal-length lists."""
    true_is_list = isinstance(y_true, (list, tuple))
    pred_is_list = isinstance(y_pred, (list, tuple))
    if true_is_list != pred_is_list:
        raise ValueError(
            "Pass either one sample (`y_true`, `y_pred`) or two lists of samples; got "
            f"{type(y_true).__name__} and {type(y_pred).__name__}."
        )
    if not true_is_list:
        return [(y_true, y_pred)]
    if len(y_true) != len(y_pred):
        raise ValueError(
            f"Got {len(y_true)} targets but {len(y_pred)} predictions; pass one of each per sample."
        )
    return list(zip(y_true, y_pred))


class Metric:
    """Base class of metrics.

    Subclasses set ``state_model`` (a ``DataModel`` whose fields all have defaults) and
    implement ``async update_state(...)`` and ``result()``.

    Example:
    ```python
    class CountState(synaprefect.DataModel):
        count: int = 0

    class Count(synaprefect.metrics.Metric):
        state_model = CountState
        direction = None

        async def update_state(self, y_true, y_pred):
            self.state.update({"count": self.state["count"] + 1})

        def result(self):
            return float(self.state["count"])
    ```
    """

    direction: str | None = "up"
    state_model: type[DataModel] | None = None

    def __init__(self, name: str | None = None):
        self.name = (
            validate_name(name, "Metric")
            if name is not None
            else to_snake_case(type(self).__name__)
        )
        self._state = Variable(
            data_model=self._state_data_model(), trainable=False, name=f"{self.name}_state"
        )

    def _state_data_model(self) -> type[DataModel]:
        if self.state_model is None:
            raise NotImplementedError(
                f"{type(self).__name__} must set `state_model` to a DataModel whose fields "
                "all have defaults (the metric's state)."
            )
        return self.state_model

    @property
    def state(self) -> Variable:
        """The variable holding the metric's state."""
        return self._state

    @property
    def variables(self) -> list[Variable]:
        return [self._state]

    async def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} must implement `async def update_state(...)`."
        )

    def result(self) -> float | dict[str, float]:
        raise NotImplementedError(f"{type(self).__name__} must implement `result()`.")

    def reset_state(self) -> None:
        """Put the state back to its defaults."""
        self._state.assign(self._state_data_model()().get_json())

    def get_config(self) -> dict:
        """The constructor arguments (JSON only)."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def clone(self) -> "Metric":
        """A metric of the same configuration with fresh state."""
        return type(self).from_config(self.get_config())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class MaskedMetric(Metric):
    """A metric comparing data models after keeping ``in_mask`` / dropping ``out_mask``
    fields (like rewards); ``prepare_samples`` does the conversion and the masking.

    Example:
    ```python
    class SameLength(synaprefect.metrics.MaskedMetric):
        state_model = synaprefect.metrics.reduction.MeanState

        async def update_state(self, y_true, y_pred):
            for true, pred in self.prepare_samples(y_true, y_pred):
                same = pred is not None and len(str(true.get_json())) == len(
                    str(pred.get_json()))
                self.state.update({"total": self.state["total"] + same,
                                   "count": self.state["count"] + 1})

        def result(self):
            return self.state["total"] / max(1, self.state["count"])
    ```
    """

    def __init__(
        self,
        name: str | None = None,
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
    ):
        super().__init__(name=name)
        self.in_mask = check_mask(in_mask, "in_mask")
        self.out_mask = check_mask(out_mask, "out_mask")

    def prepare(self, value: Any, role: str = "value") -> JsonDataModel | None:
        """Convert ``value`` to a ``JsonDataModel`` (``None`` stays) and apply the masks."""
        return apply_masks(to_json_data_model(value, role), self.in_mask, self.out_mask)

    def prepare_samples(
        self, y_true: Any, y_pred: Any
    ) -> list[tuple[JsonDataModel | None, JsonDataModel | None]]:
        return [
            (self.prepare(true, "y_true"), self.prepare(pred, "y_pred"))
            for true, pred in iterate_samples(y_true, y_pred)
        ]

    def get_config(self) -> dict:
        return {**super().get_config(), "in_mask": self.in_mask, "out_mask": self.out_mask}


# ---- registry ---------------------------------------------------------------------------


def _wrap_function(function):
    from synaprefect.metrics.reduction import MeanMetricWrapper

    return MeanMetricWrapper(function)


_REGISTRY = NamedRegistry("metric", Metric, _wrap_function)
register_builtin_metric = _REGISTRY.register
serialize = _REGISTRY.serialize
deserialize = _REGISTRY.deserialize
get = _REGISTRY.get
