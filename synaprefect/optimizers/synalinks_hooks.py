"""Running optimizers written for Synalinks.

A Synalinks optimizer subclasses ``Optimizer`` with coroutine hooks (``async def
build``, ``on_epoch_end``... calling ``await super().hook(...)``) and implements
``async def propose_new_candidates(self, step, trainable_variables, x=None, y=None,
y_pred=None, training=False)``, reading its bookkeeping from the variables
(``variable.get("predictions")``, ``"best_candidates"``...) and changing them through
``assign_candidate``. This mixin maps that onto synaprefect's lifecycle:

* the trainer calls every hook through ``run_hook`` (awaited when it is a coroutine,
  given only the arguments its signature takes) and proposes through ``propose``;
* while a Synalinks-style optimizer's hook runs, its variables show the bookkeeping kept
  in the optimizer's slots (the same lists, so in-place changes land there), and what
  the hook changed goes back to the slots afterwards: saved variables stay lean;
* Synalinks' helpers are provided: ``select_variable_name_to_update``,
  ``select_candidate_to_merge``, ``assign_candidate``, ``maybe_add_candidate``,
  ``increment_iterations``, ``increment_epochs``. Their random draws come from the seeded
  ``rng``, so a resumed run makes the same choices (Synalinks draws from the global
  ``random`` state).
"""

import contextlib
import copy
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from synaprefect.data_models.trainable import BOOKKEEPING_KEYS, Trainable, trained_fields
from synaprefect.utils.async_utils import maybe_await
from synaprefect.variables.variable import Variable

__all__ = ["SynalinksHooksMixin"]


def _accepted(method, kwargs: dict) -> dict:
    """The keyword arguments ``method`` takes (all of them if it has ``**kwargs``)."""
    parameters = inspect.signature(method).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in parameters}


def _json(value: Any) -> dict:
    return value.get_json() if hasattr(value, "get_json") else dict(value)


class SynalinksHooksMixin:
    """Synalinks' optimizer extension points, mixed into ``Optimizer``."""

    if TYPE_CHECKING:  # what ``Optimizer`` provides
        built: bool
        # Synaprefect's signature or Synalinks' (``synalinks_style`` tells which).
        propose_new_candidates: Callable[..., Awaitable[None] | None]

        @property
        def iterations(self) -> int: ...
        def _count(self, name: str) -> None: ...
        def slot(self, variable: Variable) -> dict: ...
        def build(self, trainable_variables: list[Variable]) -> Awaitable[None]: ...
        def rng(self, *parts: Any) -> np.random.Generator: ...
        def select_variable_to_update(
            self, variables: list[Variable], rng: np.random.Generator
        ) -> Variable: ...

    @property
    def synalinks_style(self) -> bool:
        """True when ``propose_new_candidates`` has Synalinks' signature (no ``epoch``)."""
        parameters = inspect.signature(self.propose_new_candidates).parameters
        return "epoch" not in parameters

    async def run_hook(self, name: str, *args, **kwargs) -> None:
        """Call the lifecycle hook ``name`` (``on_epoch_end``...), sync or async."""
        method = getattr(self, name)
        variables = next((a for a in args if isinstance(a, list)), [])
        with self._bookkeeping_in_variables(variables):
            await maybe_await(method(*args, **_accepted(method, kwargs)))

    async def ensure_built(self, trainable_variables: list[Variable]) -> None:
        """Build before training: a plain ``build`` again (idempotent: it also moves old
        bookkeeping into the slots), an ``async def build`` once, as Synalinks does."""
        if not inspect.iscoroutinefunction(self.build):
            self.build(trainable_variables)
        elif not self.built:
            await self.run_hook("build", trainable_variables)

    async def propose(
        self, step: int, epoch: int, variables: list[Variable], x: list, y: list, y_pred: list
    ) -> None:
        """Let the optimizer change the variables to its next candidate."""
        if not self.synalinks_style:
            await maybe_await(self.propose_new_candidates(step, epoch, variables, x, y, y_pred))
            return
        with self._bookkeeping_in_variables(variables):
            await maybe_await(
                self.propose_new_candidates(step, variables, x=x, y=y, y_pred=y_pred, training=True)
            )

    @contextlib.contextmanager
    def _bookkeeping_in_variables(self, variables: list[Variable]):
        if not self.synalinks_style or not variables:
            yield
            return
        before = {}
        for variable in variables:
            slot, value = self.slot(variable), variable.value()
            shared = {key: slot[key] for key in slot if key in value}
            value.update(shared)  # in place: no validation of the whole pools per hook
            before[variable.path] = copy.deepcopy(shared)
        try:
            yield
        finally:
            for variable in variables:
                slot, value = self.slot(variable), variable.value()
                for key, old in before[variable.path].items():
                    if value[key] != old:  # changed through the variable: it wins
                        slot[key] = value[key]
                    value[key] = copy.deepcopy(Trainable.model_fields[key].default)

    # ---- Synalinks' helpers -------------------------------------------------------------

    def increment_iterations(self) -> None:
        self._count("iterations")

    def increment_epochs(self) -> None:
        self._count("epochs")

    async def select_variable_name_to_update(self, trainable_variables: list[Variable]) -> str:
        """The name of the variable to change (the struggling one is the likeliest)."""
        rng = self.rng("select-variable", self.iterations)
        return self.select_variable_to_update(trainable_variables, rng).name

    async def select_candidate_to_merge(
        self, step: int, trainable_variable: Variable
    ) -> dict | None:
        """One of the variable's best candidates at random, or None without any."""
        best = self.slot(trainable_variable)["best_candidates"]
        if not best:
            return None
        return best[int(self.rng("merge", self.iterations, step).integers(len(best)))]

    async def assign_candidate(
        self, trainable_variable: Variable, new_candidate=None, examples: list | None = None
    ) -> None:
        """Give the variable ``new_candidate``'s fields and/or few-shot ``examples``."""
        changes = trained_fields(_json(new_candidate)) if new_candidate else {}
        changes.pop("reward", None)
        if examples:
            changes["examples"] = examples
        if changes:
            trainable_variable.update(changes)

    async def maybe_add_candidate(
        self,
        step: int,
        trainable_variable: Variable,
        new_candidate=None,
        examples: list | None = None,
        reward: float | None = None,
    ) -> None:
        """Record a candidate (the variable's current content by default) with its
        reward, unless the same content is already a candidate."""
        content = _json(new_candidate) if new_candidate else trainable_variable.value()
        candidate = {
            k: copy.deepcopy(v)
            for k, v in content.items()
            if k not in BOOKKEEPING_KEYS and k != "reward"
        }
        candidate["examples"] = copy.deepcopy(examples or trainable_variable.get("examples") or [])
        slot = self.slot(trainable_variable)
        known = slot["candidates"] + slot["best_candidates"]
        if all({k: v for k, v in c.items() if k != "reward"} != candidate for c in known):
            slot["candidates"].append({**candidate, "reward": float(reward or 0.0)})
