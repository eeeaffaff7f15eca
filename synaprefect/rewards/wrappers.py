"""Rewards built from other things: a function, a judge program, a batch scorer.

Also the explicit registry of reward functions that saved configs may refer to: code is
never imported from a file unless it lives in ``synaprefect`` or was registered.
"""

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.rewards.reward import Reward, as_reward_value
from synaprefect.utils.async_utils import maybe_await
from synaprefect.utils.imports import defined_in_synaprefect, import_object
from synaprefect.utils.serialization import (
    custom_object_scope,
    deserialize_object,
    get_registered_name,
    get_registered_object,
)

__all__ = [
    "FunctionWrapperMixin",
    "RewardFunctionWrapper",
    "ProgramAsJudge",
    "BatchReward",
    "register_reward_function",
    "function_reference",
    "resolve_function",
    "check_json_kwargs",
    "function_name",
]

logger = logging.getLogger("synaprefect.rewards")

_JSON_SCALARS = (str, int, float, bool, type(None))
_REWARD_FUNCTIONS: dict[str, Callable[..., Any]] = {}


# ---- function registry --------------------------------------------------------------------


def _natural_key(fn: Callable[..., Any]) -> str | None:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None  # a lambda, a local function or a callable object
    return f"{module}:{qualname}"


def register_reward_function(
    fn: Callable[..., Any] | None = None, *, name: str | None = None
) -> Any:
    """Allow saved rewards and metrics to refer to ``fn`` (as a decorator or a call).

    Functions are saved as ``"module:qualname"`` (or ``name``) and found again through this
    registry on loading; register the function before loading.

    Example:
    ```python
    @synaprefect.rewards.register_reward_function
    async def length_match(y_true, y_pred):
        return float(len(y_true["answer"]) == len(y_pred["answer"]))
    ```
    """

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(function):
            raise TypeError(f"Only callables can be registered, got {function!r:.80}.")
        key = name or _natural_key(function)
        if key is None:
            raise ValueError(
                f"{function!r:.80} is a lambda or a local function: register it with an "
                "explicit `name=`, e.g. register_reward_function(fn, name='my_reward')."
            )
        _REWARD_FUNCTIONS[key] = function
        return function

    return register(fn) if fn is not None else register


def function_reference(fn: Callable[..., Any]) -> str:
    """How a config refers to ``fn``; ``NotImplementedError`` if it could not be reloaded."""
    for key, registered in _REWARD_FUNCTIONS.items():
        if registered is fn:
            return key
    registered_name = get_registered_name(fn)  # ``@register_synalinks_serializable()`` functions
    if get_registered_object(registered_name) is fn:
        return registered_name
    natural = _natural_key(fn)
    if natural is not None and natural.split(":")[0].split(".")[0] == "synaprefect":
        return natural
    raise NotImplementedError(
        f"The function {getattr(fn, '__qualname__', fn)!r} cannot be saved: only "
        "synaprefect's own functions and functions registered with "
        "`synaprefect.rewards.register_reward_function` can be (lambdas and local "
        "functions need `name=`). Register it, or rebuild the object when loading."
    )


def resolve_function(reference: str) -> Callable[..., Any]:
    """The function a config refers to (registered, or from a ``synaprefect`` module)."""
    if reference in _REWARD_FUNCTIONS:
        return _REWARD_FUNCTIONS[reference]
    registered = get_registered_object(reference)
    if callable(registered) and not isinstance(registered, type):
        return registered
    module_name, _, qualname = str(reference).partition(":")
    if qualname and (module_name == "synaprefect" or module_name.startswith("synaprefect.")):
        try:
            target = import_object(reference)
        except (ImportError, AttributeError):
            target = None
        if callable(target) and defined_in_synaprefect(target):
            return target
    raise ValueError(
        f"Unknown reward function {reference!r} in the saved config. Register it with "
        "`synaprefect.rewards.register_reward_function(fn)` before loading."
    )


def check_json_kwargs(kwargs: dict, owner: str) -> None:
    """``NotImplementedError`` if a keyword argument is not a plain JSON value."""

    def is_json(value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return all(is_json(v) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and is_json(v) for k, v in value.items())
        return isinstance(value, _JSON_SCALARS)

    bad = sorted(key for key, value in kwargs.items() if not is_json(value))
    if bad:
        raise NotImplementedError(
            f"{owner} cannot be saved: the keyword arguments {bad} are not JSON values."
        )


def function_name(fn: Callable[..., Any], default: str) -> str:
    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and name and "<" not in name and "/" not in name:
        return name
    return default


# ---- RewardFunctionWrapper ----------------------------------------------------------------


if TYPE_CHECKING:

    class _WrappedHost:
        """What the reward or metric class after ``FunctionWrapperMixin`` provides."""

        name: str

        def __init__(self, *args: Any, **kwargs: Any) -> None: ...
        def get_config(self) -> dict: ...
else:
    _WrappedHost = object


class FunctionWrapperMixin(_WrappedHost):
    """The function side of ``RewardFunctionWrapper`` and ``metrics.MeanMetricWrapper``:
    ``fn(y_true, y_pred, **fn_kwargs)`` (sync or async) checked, named, called to a
    number, and saved as a reference to ``fn`` with its JSON keyword arguments. Goes
    before the reward or metric class, whose ``get_config`` it extends.

    Example:
    ```python
    class Wrapped(FunctionWrapperMixin, Reward):
        def __init__(self, fn, name=None, **fn_kwargs):
            super().__init__(name=self._keep_function(fn, name, fn_kwargs))
    ```
    """

    fn: Callable[..., Any]
    fn_kwargs: dict[str, Any]
    # What an unnamed wrapper is called when ``fn`` has no usable name.
    _default_name = "function_wrapper"

    def _keep_function(
        self, fn: Callable[..., Any], name: str | None, fn_kwargs: dict[str, Any]
    ) -> str:
        """Keep ``fn`` and its keyword arguments; the wrapper's name (``name``, else
        ``fn``'s)."""
        if not callable(fn):
            raise TypeError(
                f"{type(self).__name__} needs a function fn(y_true, y_pred), "
                f"got {type(fn).__name__}."
            )
        self.fn = fn
        self.fn_kwargs = fn_kwargs
        return name if name is not None else function_name(fn, self._default_name)

    async def _call_function(self, y_true: Any, y_pred: Any) -> float:
        value = await maybe_await(self.fn(y_true, y_pred, **self.fn_kwargs))
        return as_reward_value(value, f"The function of '{self.name}'")

    def get_config(self) -> dict:
        check_json_kwargs(self.fn_kwargs, f"{type(self).__name__} '{self.name}'")
        return {"fn": function_reference(self.fn), **super().get_config(), **self.fn_kwargs}

    @classmethod
    def from_config(cls, config: dict) -> Any:
        config = dict(config)
        return cls(resolve_function(config.pop("fn")), **config)


class RewardFunctionWrapper(FunctionWrapperMixin, Reward):
    """A reward from a function ``fn(y_true, y_pred, **fn_kwargs) -> number`` (sync or
    async). ``fn`` receives the masked ``JsonDataModel`` values (or ``None``).

    Example:
    ```python
    async def same_length(y_true, y_pred):
        if y_true is None or y_pred is None:
            return 0.0
        return float(len(y_true["answer"]) == len(y_pred["answer"]))

    reward = synaprefect.rewards.RewardFunctionWrapper(same_length, in_mask=["answer"])
    ```
    Saving needs ``fn`` to come from ``synaprefect`` or be registered with
    ``register_reward_function``.
    """

    _default_name = "reward_function_wrapper"

    def __init__(
        self,
        fn: Callable[..., Any],
        reduction: str | None = "mean",
        name: str | None = None,
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
        in_mask_pattern: str | None = None,
        out_mask_pattern: str | None = None,
        **fn_kwargs: Any,
    ):
        super().__init__(
            name=self._keep_function(fn, name, fn_kwargs),
            reduction=reduction,
            in_mask=in_mask,
            out_mask=out_mask,
            in_mask_pattern=in_mask_pattern,
            out_mask_pattern=out_mask_pattern,
        )

    async def call(self, y_true: JsonDataModel | None, y_pred: JsonDataModel | None) -> float:
        return await self._call_function(y_true, y_pred)


# ---- ProgramAsJudge -----------------------------------------------------------------------


class ProgramAsJudge(Reward):
    """Use a program as the judge: ``await program([y_true, y_pred])`` must return a data
    model with a numeric ``reward`` field.

    A ``None`` result (or a ``None`` reward) logs a warning and scores 0.0; a result
    without a ``reward`` field or with a non-numeric one raises ``ValueError``.

    Example:
    ```python
    x_true = synaprefect.Input(data_model=Answer)
    x_pred = synaprefect.Input(data_model=Answer)
    score = await synaprefect.Lambda(lambda x: {"reward": 1.0}, data_model=Score)(
        x_true + x_pred)
    judge = synaprefect.rewards.ProgramAsJudge(
        synaprefect.Program(inputs=[x_true, x_pred], outputs=score))
    ```
    """

    def __init__(
        self,
        program: Any,
        reduction: str | None = "mean",
        name: str | None = None,
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
        in_mask_pattern: str | None = None,
        out_mask_pattern: str | None = None,
    ):
        from synaprefect.modules.module import Module

        if not isinstance(program, Module):
            raise TypeError(
                f"ProgramAsJudge needs a synaprefect Program taking [y_true, y_pred], got "
                f"{type(program).__name__}."
            )
        super().__init__(
            name=name,
            reduction=reduction,
            in_mask=in_mask,
            out_mask=out_mask,
            in_mask_pattern=in_mask_pattern,
            out_mask_pattern=out_mask_pattern,
        )
        self.program = program

    async def call(self, y_true: JsonDataModel | None, y_pred: JsonDataModel | None) -> float:
        result = await self.program([y_true, y_pred])
        if result is None:
            logger.warning(
                "Reward '%s': the judge program '%s' returned None; the reward is 0.0.",
                self.name,
                self.program.name,
            )
            return 0.0
        if not hasattr(result, "get_json"):
            raise ValueError(
                f"Reward '{self.name}': the judge program must return one data model with "
                f"a `reward` field, got {type(result).__name__}."
            )
        if "reward" not in result.get_json():
            raise ValueError(
                f"Reward '{self.name}': the judge program's output has no `reward` field "
                f"(it has {sorted(result.get_json())}); add a `reward: float` field."
            )
        value = result.get_json()["reward"]
        if value is None:
            logger.warning(
                "Reward '%s': the judge program '%s' gave no reward; the reward is 0.0.",
                self.name,
                self.program.name,
            )
            return 0.0
        return as_reward_value(value, f"The judge program of '{self.name}'")

    def get_config(self) -> dict:
        from synaprefect.saving.program_saving import serialize_module

        return {"program": serialize_module(self.program), **super().get_config()}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "ProgramAsJudge":
        config = dict(config)
        entry = config.pop("program")
        with custom_object_scope(custom_objects):
            program = deserialize_object(entry)
        if isinstance(entry, dict) and entry.get("name"):
            program.name = entry["name"]
        return cls(program=program, **config)


# ---- BatchReward --------------------------------------------------------------------------


class BatchReward(Reward):
    """A reward that scores a whole batch at once (group-relative or cross-sample scores).

    Subclasses implement ``async call_batch(list_y_true, list_y_pred) -> list[float]``,
    one number per sample; the inputs are already converted and masked. Calling the
    reward on one sample scores a batch of one.

    Example:
    ```python
    class RankReward(synaprefect.rewards.BatchReward):
        async def call_batch(self, list_y_true, list_y_pred):
            lengths = [len(p["answer"]) if p else 0 for p in list_y_pred]
            longest = max(lengths) or 1
            return [length / longest for length in lengths]

    await RankReward().compute_batch([a, b], [p1, p2])   # [0.5, 1.0]
    ```
    """

    async def call_batch(self, list_y_true: list, list_y_pred: list) -> list[float]:
        raise NotImplementedError(
            f"{type(self).__name__} must implement "
            "`async def call_batch(self, list_y_true, list_y_pred) -> list[float]`."
        )

    async def compute_batch(self, y_true: list, y_pred: list) -> list[float]:
        """One reward per sample, from a single ``call_batch``."""
        if len(y_true) != len(y_pred):
            raise ValueError(
                f"Reward '{self.name}': got {len(y_true)} targets but {len(y_pred)} "
                "predictions; pass one of each per sample."
            )
        list_y_true = [self.prepare(value, "y_true") for value in y_true]
        list_y_pred = [self.prepare(value, "y_pred") for value in y_pred]
        rewards = await self.call_batch(list_y_true, list_y_pred)
        if not isinstance(rewards, (list, tuple)) or len(rewards) != len(list_y_true):
            got = len(rewards) if isinstance(rewards, (list, tuple)) else type(rewards).__name__
            raise ValueError(
                f"Reward '{self.name}': call_batch must return a list with one number per "
                f"sample ({len(list_y_true)}), got {got}."
            )
        return [
            as_reward_value(value, f"call_batch of '{self.name}' (sample {index})")
            for index, value in enumerate(rewards)
        ]

    async def __call__(self, y_true: Any, y_pred: Any) -> float:
        return (await self.compute_batch([y_true], [y_pred]))[0]

    async def call(self, y_true: JsonDataModel | None, y_pred: JsonDataModel | None) -> float:
        return (await self.call_batch([y_true], [y_pred]))[0]
