"""``Reward`` base class, reductions, masking helpers and the reward registry.

A reward scores ONE sample: ``await reward(y_true, y_pred) -> float``. Rewards are
maximised (``direction = "up"``) and usually lie in ``[0, 1]``. A list of per-sample
rewards becomes one number with ``reduce_rewards(rewards, reward.reduction)``.
"""

import json
import math
import numbers
from typing import Any

from synaprefect.data_models import schema as schema_ops
from synaprefect.data_models.data_model import DataModel
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.saving.registry import NamedRegistry
from synaprefect.utils.async_utils import gather_or_cancel
from synaprefect.utils.identity_cache import IdentityCache
from synaprefect.utils.naming import to_snake_case, validate_name

__all__ = [
    "Reward",
    "REDUCTIONS",
    "validate_reduction",
    "reduce_rewards",
    "to_json_data_model",
    "apply_masks",
    "check_mask",
    "flatten_fields",
    "field_text",
    "as_reward_value",
    "get",
    "serialize",
    "deserialize",
    "register_builtin_reward",
]

REDUCTIONS = ("sum", "mean", "min", "max", "none", None)

# ---- reductions ------------------------------------------------------------------------


def validate_reduction(reduction: Any) -> str | None:
    """Return ``reduction`` if it is one of ``REDUCTIONS``, else raise ``ValueError``."""
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid reduction {reduction!r}: expected one of "
            "'sum', 'mean', 'min', 'max', 'none' or None."
        )
    return reduction


def reduce_rewards(rewards: list[float], reduction: str | None = "mean") -> float:
    """Reduce per-sample rewards to one number.

    An empty list gives ``0.0``. ``"none"`` and ``None`` keep the rewards per sample for
    consumers that want them, so a scalar consumer gets their mean.

    Example:
    ```python
    reduce_rewards([1.0, 0.0, 0.5], "mean")   # 0.5
    reduce_rewards([1.0, 0.0, 0.5], "max")    # 1.0
    ```
    """
    validate_reduction(reduction)
    values = [float(value) for value in rewards]
    if not values:
        return 0.0
    if reduction == "sum":
        return float(sum(values))
    if reduction == "min":
        return min(values)
    if reduction == "max":
        return max(values)
    return float(sum(values) / len(values))


def as_reward_value(value: Any, source: str) -> float:
    """``value`` as a finite float, or a ``ValueError`` naming ``source``."""
    if not isinstance(value, numbers.Real):
        raise ValueError(
            f"{source} must return a number, got {type(value).__name__} ({value!r:.80})."
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{source} returned {value}, which is not a finite number.")
    return value


# ---- data preparation -------------------------------------------------------------------


def to_json_data_model(value: Any, role: str = "value") -> JsonDataModel | None:
    """Turn a ``DataModel`` instance into a ``JsonDataModel``; ``None`` stays ``None``.

    Plain dicts are refused: without a schema the masks could not be applied reliably.
    """
    if value is None or isinstance(value, JsonDataModel):
        return value
    if isinstance(value, DataModel):
        return value.to_json_data_model()
    if isinstance(value, dict):
        raise TypeError(
            f"`{role}` is a plain dict; pass a data model instead, e.g. "
            "`Answer(**d)` or `JsonDataModel(json=d, schema=Answer.get_schema())`."
        )
    raise TypeError(
        f"`{role}` must be a DataModel instance, a JsonDataModel or None, got "
        f"{type(value).__name__}."
    )


def check_mask(mask: Any, what: str) -> list[str] | None:
    if mask is None:
        return None
    if (
        isinstance(mask, str)
        or not isinstance(mask, (list, tuple))
        or not all(isinstance(key, str) for key in mask)
    ):
        raise ValueError(f"`{what}` must be a list of field names, got {mask!r}.")
    return list(mask)


def _check_pattern(pattern: Any, what: str) -> str | None:
    if pattern is not None and not isinstance(pattern, str):
        raise ValueError(f"`{what}` must be a regular expression string, got {pattern!r}.")
    return pattern


def apply_masks(
    value: JsonDataModel | None,
    in_mask: list[str] | None = None,
    out_mask: list[str] | None = None,
    in_mask_pattern: str | None = None,
    out_mask_pattern: str | None = None,
) -> JsonDataModel | None:
    """Keep the in-mask fields, then drop the out-mask fields (value and schema alike)."""
    if value is None:
        return None
    in_mask, out_mask = check_mask(in_mask, "in_mask"), check_mask(out_mask, "out_mask")
    keep_in, keep_out = bool(in_mask or in_mask_pattern), bool(out_mask or out_mask_pattern)
    if not (keep_in or keep_out):
        return value
    json_value = value.get_json()
    if keep_in:
        json_value = schema_ops.in_mask_json(json_value, in_mask, in_mask_pattern)
    if keep_out:
        json_value = schema_ops.out_mask_json(json_value, out_mask, out_mask_pattern)
    schema = _masked_schemas.get(
        value.get_schema(),
        tuple(in_mask or ()),
        in_mask_pattern,
        tuple(out_mask or ()),
        out_mask_pattern,
    )
    return JsonDataModel(schema=schema, json=json_value)


def _masked_schema(
    schema: dict,
    in_mask: tuple[str, ...],
    in_mask_pattern: str | None,
    out_mask: tuple[str, ...],
    out_mask_pattern: str | None,
) -> dict:
    if in_mask or in_mask_pattern:
        schema = schema_ops.in_mask_schema(schema, list(in_mask), in_mask_pattern)
    if out_mask or out_mask_pattern:
        schema = schema_ops.out_mask_schema(schema, list(out_mask), out_mask_pattern)
    return schema


# A batch's values share their schema: each is masked once, not once per sample.
_masked_schemas = IdentityCache(_masked_schema)


def field_text(value: Any) -> str:
    """The text of a leaf value: strings as they are, ``None`` as ``""``, others as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple))


def flatten_fields(value: Any, prefix: str = "") -> dict[str, str]:
    """The leaf fields of a JSON value as ``{path: text}``, in key order.

    Nested objects give dotted paths (``details.answer``); a list of plain values is one
    field whose text is its items joined by spaces; a list holding objects or lists
    recurses with the index in the path (``items.0.answer``).

    Example:
    ```python
    flatten_fields({"answer": "Paris", "tags": ["a", "b"], "n": 3})
    # {"answer": "Paris", "tags": "a b", "n": "3"}
    ```
    """
    fields: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if _is_scalar(item):
                fields[path] = field_text(item)
            else:
                fields.update(flatten_fields(item, path))
    elif isinstance(value, (list, tuple)):
        if all(_is_scalar(item) for item in value):
            fields[prefix or "value"] = " ".join(field_text(item) for item in value)
        else:
            for index, item in enumerate(value):
                path = f"{prefix}.{index}" if prefix else str(index)
                if _is_scalar(item):
                    fields[path] = field_text(item)
                else:
                    fields.update(flatten_fields(item, path))
    else:
        fields[prefix or "value"] = field_text(value)
    return fields


# ---- the base class ---------------------------------------------------------------------


class Reward:
    """Base class of rewards: subclasses implement ``async call(y_true, y_pred) -> float``.

    ``__call__`` converts both sides to ``JsonDataModel`` (``None`` stays ``None``), keeps
    the ``in_mask`` fields, drops the ``out_mask`` fields, then awaits ``call``.

    Example:
    ```python
    class LengthMatch(synaprefect.rewards.Reward):
        async def call(self, y_true, y_pred):
            if y_true is None or y_pred is None:
                return 0.0
            return float(len(y_true["answer"]) == len(y_pred["answer"]))

    reward = LengthMatch(in_mask=["answer"])
    await reward(Answer(answer="abc"), Answer(answer="xyz"))   # 1.0
    ```
    """

    direction = "up"

    def __init__(
        self,
        name: str | None = None,
        reduction: str | None = "mean",
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
        in_mask_pattern: str | None = None,
        out_mask_pattern: str | None = None,
    ):
        self.name = (
            validate_name(name, "Reward")
            if name is not None
            else to_snake_case(type(self).__name__)
        )
        self.reduction = validate_reduction(reduction)
        self.in_mask = check_mask(in_mask, "in_mask")
        self.out_mask = check_mask(out_mask, "out_mask")
        self.in_mask_pattern = _check_pattern(in_mask_pattern, "in_mask_pattern")
        self.out_mask_pattern = _check_pattern(out_mask_pattern, "out_mask_pattern")

    def prepare(self, value: Any, role: str = "value") -> JsonDataModel | None:
        """Convert ``value`` to a ``JsonDataModel`` and apply this reward's masks."""
        return apply_masks(
            to_json_data_model(value, role),
            self.in_mask,
            self.out_mask,
            self.in_mask_pattern,
            self.out_mask_pattern,
        )

    async def __call__(self, y_true: Any, y_pred: Any) -> float:
        """The reward of one sample (``y_true``: the target, ``y_pred``: the prediction)."""
        y_true = self.prepare(y_true, "y_true")
        y_pred = self.prepare(y_pred, "y_pred")
        return as_reward_value(await self.call(y_true, y_pred), f"Reward '{self.name}'")

    async def call(self, y_true: JsonDataModel | None, y_pred: JsonDataModel | None) -> float:
        raise NotImplementedError(
            f"{type(self).__name__} must implement `async def call(self, y_true, y_pred) -> float`."
        )

    async def compute_batch(self, y_true: list, y_pred: list) -> list[float]:
        """One reward per sample, computed concurrently."""
        if len(y_true) != len(y_pred):
            raise ValueError(
                f"Reward '{self.name}': got {len(y_true)} targets but {len(y_pred)} "
                "predictions; pass one of each per sample."
            )
        # One failing sample fails the batch: cancel the others (judges may call an LM).
        return await gather_or_cancel(*(self(true, pred) for true, pred in zip(y_true, y_pred)))

    def reduce(self, rewards: list[float]) -> float:
        """Reduce per-sample rewards with this reward's ``reduction``."""
        return reduce_rewards(rewards, self.reduction)

    def get_config(self) -> dict:
        """The constructor arguments (JSON only)."""
        return {
            "name": self.name,
            "reduction": self.reduction,
            "in_mask": self.in_mask,
            "out_mask": self.out_mask,
            "in_mask_pattern": self.in_mask_pattern,
            "out_mask_pattern": self.out_mask_pattern,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Reward":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


# ---- registry ---------------------------------------------------------------------------


def _wrap_function(function):
    from synaprefect.rewards.wrappers import RewardFunctionWrapper

    return RewardFunctionWrapper(function)


_REGISTRY = NamedRegistry("reward", Reward, _wrap_function)
register_builtin_reward = _REGISTRY.register
serialize = _REGISTRY.serialize
deserialize = _REGISTRY.deserialize
get = _REGISTRY.get
