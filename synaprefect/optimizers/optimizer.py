"""The in-context optimizer lifecycle.

Optimizers change trainable variables (instructions, few-shot examples...) instead of
weights. A trainable variable holds only what the program uses; the optimizer keeps, per
variable, a *slot* of bookkeeping in its own state (saved with the program, so training
resumes exactly): the epoch's scored predictions, the candidates tried with the reward
they earned, the best ones, and a history. The trainer calls, in order:
``on_train_begin``, per epoch ``on_epoch_begin``, per batch ``on_batch_begin`` →
``assign_rewards`` → ``observe_batch`` → ``propose_new_candidates`` → ``add_candidate`` →
``on_batch_end``, then ``on_epoch_end`` and ``on_train_end`` (the hooks through
``run_hook`` and the proposal through ``propose``, which also run optimizers written for
Synalinks).

A candidate scored again (the same content tried on another validation minibatch) keeps
one entry: its ``reward`` is the mean of its scores and ``nb_evaluations`` counts them.
Candidates are ranked by a lower confidence bound of that mean, so a candidate that
scored well once (perhaps on an easy minibatch) does not beat one that keeps scoring
well.
"""

import copy
import hashlib
from collections.abc import Awaitable
from typing import Any

import numpy as np

from synaprefect.config import get_seed
from synaprefect.data_models.data_model import DataModel
from synaprefect.data_models.trainable import (
    BOOKKEEPING_KEYS,
    Trainable,
    trained_fields,
)
from synaprefect.optimizers.synalinks_hooks import SynalinksHooksMixin
from synaprefect.utils.async_utils import DONE
from synaprefect.utils.json_utils import canonical_dumps
from synaprefect.utils.naming import auto_name, validate_name
from synaprefect.variables.variable import Variable

__all__ = [
    "Optimizer",
    "candidate_content",
    "strip_reward",
    "softmax",
    "lower_confidence_bound",
    "COUNT_KEY",
]

# How many times a candidate was scored; stored with the candidate, beside its mean reward.
COUNT_KEY = "nb_evaluations"
# Width of the confidence interval for rewards in [0, 1]: the bound is
# mean - _LCB_WIDTH / sqrt(count), i.e. 0.5 below the mean after one score, 0.25 after four.
_LCB_WIDTH = 0.5


class OptimizerState(DataModel):
    iterations: int = 0
    epochs: int = 0
    # Per trainable variable path: the bookkeeping fields of ``Trainable``.
    slots: dict = {}


def candidate_content(value: dict) -> dict:
    """A variable's value without its bookkeeping fields (e.g. ``{"instructions": ...}``)."""
    return {k: copy.deepcopy(v) for k, v in value.items() if k not in BOOKKEEPING_KEYS}


def _empty_slot() -> dict:
    return {
        k: copy.deepcopy(f.default) for k, f in Trainable.model_fields.items() if k != "examples"
    }


def softmax(scores, temperature: float) -> np.ndarray:
    """Selection probabilities ∝ exp(score / temperature) (shifted for stability)."""
    logits = np.asarray(scores, dtype=float) / max(temperature, 1e-6)
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def strip_reward(candidate: dict) -> dict:
    """A candidate's content, without the reward and evaluation count it carries."""
    return {k: copy.deepcopy(v) for k, v in candidate.items() if k not in ("reward", COUNT_KEY)}


def lower_confidence_bound(candidate: dict) -> float:
    """The rank of a candidate: its mean reward minus a margin that shrinks as it is
    scored more often (a candidate without a count was scored once).

    Example: ``lower_confidence_bound({"reward": 0.8, "nb_evaluations": 4})  # 0.55``
    """
    count = max(int(candidate.get(COUNT_KEY) or 1), 1)
    return float(candidate.get("reward") or 0.0) - _LCB_WIDTH / np.sqrt(count)


class Optimizer(SynalinksHooksMixin):
    """Base class of in-context optimizers.

    Subclasses implement ``propose_new_candidates``; everything else (candidate pools,
    selection of the best, per-epoch history, saved state) is shared. The lifecycle
    hooks are plain methods that return an awaitable already done, so an optimizer
    written for Synalinks (``async def`` hooks calling ``await super().hook(...)``, and
    Synalinks' ``propose_new_candidates`` signature) runs too: see ``synalinks_hooks``.

    Example:
    ```python
    program.compile(reward=synaprefect.rewards.ExactMatch(in_mask=["answer"]),
                    optimizer=synaprefect.optimizers.RandomFewShot())
    ```
    """

    def __init__(
        self,
        population_size: int = 10,
        sampling_temperature: float = 0.3,
        name: str | None = None,
        description: str | None = None,
        **kwargs,
    ):
        if kwargs:
            raise ValueError(
                f"{type(self).__name__} got unexpected keyword arguments {sorted(kwargs)}."
            )
        if population_size < 1:
            raise ValueError(f"`population_size` must be >= 1, got {population_size}.")
        self.name = validate_name(name, "Optimizer") if name else auto_name(type(self).__name__)
        self.description = description or ""
        self.population_size = population_size
        self.sampling_temperature = sampling_temperature
        self.program = None
        self.built = False
        self.state = Variable(
            initializer={"iterations": 0, "epochs": 0},
            data_model=OptimizerState,
            trainable=False,
            name=f"iterations_{self.name}",
        )
        self.state._path = f"{self.name}/iterations_{self.name}"

    # ---- state --------------------------------------------------------------------------

    @property
    def iterations(self) -> int:
        return self.state["iterations"]

    @property
    def epochs(self) -> int:
        return self.state["epochs"]

    def _count(self, name: str) -> None:
        # In place: the state also holds the slots, and validating them whole per batch
        # would make every step cost O(epoch).
        self.state.value()[name] += 1

    def slot(self, variable: Variable) -> dict:
        """The bookkeeping of ``variable`` (its predictions, candidates, best candidates,
        history...), changed in place by the optimizer. Bookkeeping found in the variable
        itself (a file saved by an older version, a Generator's ``seed_instructions``)
        moves here the first time."""
        slots = self.state.value()["slots"]
        if variable.path not in slots:
            slot = slots[variable.path] = _empty_slot()
            held = variable.value()
            for key in slot:
                if held.get(key):
                    slot[key] = copy.deepcopy(held[key])
            variable.update({k: v for k, v in _empty_slot().items() if k in held})
        return slots[variable.path]

    @property
    def variables(self) -> list[Variable]:
        """The optimizer's own state (saved with the program)."""
        return [self.state] + [v for m in self.modules() for v in m.variables]

    def modules(self) -> list:
        """Modules the optimizer owns (e.g. the mutation programs of OMEGA)."""
        return []

    def set_program(self, program) -> None:
        self.program = program

    def build(self, trainable_variables: list[Variable]) -> Awaitable[None]:
        """Create what depends on the variables to train (no LM calls); subclasses call
        this one too."""
        for variable in trainable_variables:
            self.slot(variable)
        self.built = True
        return DONE

    def rng(self, *parts: Any) -> np.random.Generator:
        """A generator derived from the global seed and ``parts`` (purpose, epoch, step):
        a retried or resumed step draws exactly the same numbers."""
        # The class, not the (session-numbered) automatic name: the same seed gives the
        # same choices however many optimizers were created before.
        digest = hashlib.sha256(canonical_dumps([get_seed(), type(self).__name__, *parts]).encode())
        return np.random.default_rng(int.from_bytes(digest.digest()[:8], "little"))

    # ---- lifecycle ----------------------------------------------------------------------

    def on_train_begin(self, variables: list[Variable], initial_epoch: int = 0) -> Awaitable[None]:
        for variable in variables:
            slot = self.slot(variable)
            if not slot["seed_candidates"]:
                slot["seed_candidates"] = [trained_fields(copy.deepcopy(variable.value()))]
            if initial_epoch == 0:  # a continued fit keeps the pools it had
                slot.update({"candidates": [], "best_candidates": []})
        return DONE

    def on_epoch_begin(self, epoch: int, variables: list[Variable]) -> Awaitable[None]:
        for variable in variables:
            self.slot(variable).update({"predictions": [], "candidates": []})
        return DONE

    def on_batch_begin(self, step: int, epoch: int, variables: list[Variable]) -> Awaitable[None]:
        rng = self.rng("batch_begin", epoch, step)
        for variable in variables:
            slot = self.slot(variable)
            pool = (slot["best_candidates"] if epoch > 0 else []) or slot["seed_candidates"]
            self._start_from(variable, pool[int(rng.integers(len(pool)))])
        return DONE

    def _start_from(self, variable: Variable, candidate: dict) -> None:
        variable.update(strip_reward(candidate))
        self.slot(variable).update({"nb_visit": 0, "cumulative_reward": 0.0})

    def assign_rewards(
        self, recorded: dict[str, dict], rewards: list[float], variables: list[Variable]
    ) -> None:
        """Attach each sample's reward to the predictions recorded for that sample.

        ``recorded`` maps a variable path to ``{sample index: [prediction, ...]}``.
        """
        for variable in variables:
            scored = []
            for sample, predictions in sorted(
                recorded.get(variable.path, {}).items(), key=lambda item: (item[0] is None, item[0])
            ):
                reward = rewards[sample] if sample is not None else None
                scored += [{**p, "reward": reward} for p in predictions]
            scored = [p for p in scored if p["reward"] is not None]
            if not scored:
                continue
            slot = self.slot(variable)
            slot["predictions"].extend(scored)  # in place: O(batch), not O(epoch)
            slot.update(
                {
                    "current_predictions": [],
                    "nb_visit": len(scored),
                    "cumulative_reward": float(sum(p["reward"] for p in scored)),
                }
            )

    def observe_batch(
        self,
        variables: list[Variable],
        x: list,
        y: list,
        y_pred: list,
        rewards: list[float],
        recorded: dict[str, dict],
    ) -> None:
        """See the scored training batch before proposing (OMEGA remembers the samples
        that keep failing). Runs in the training loop, so state changed here is saved
        and replayed like the rest. The base optimizer needs nothing from it."""

    def select_variable_to_update(self, variables: list[Variable], rng) -> Variable:
        """The struggling variable is the likeliest pick: p ∝ exp(-mean reward / T)."""
        slots = [self.slot(v) for v in variables]
        means = np.array(
            [s["cumulative_reward"] / s["nb_visit"] if s["nb_visit"] else 1e5 for s in slots]
        )
        probabilities = softmax(-means, self.sampling_temperature)
        return variables[int(rng.choice(len(variables), p=probabilities))]

    async def propose_new_candidates(
        self, step: int, epoch: int, variables: list[Variable], x: list, y: list, y_pred: list
    ) -> None:
        """Change the variables to the candidate to try next (subclasses). Read the
        slots, change only the variables: the trainer records the candidate afterwards."""
        raise NotImplementedError(f"{type(self).__name__} must implement propose_new_candidates.")

    def add_candidate(self, variables: list[Variable], reward: float) -> None:
        """Record each variable's current content as a candidate that earned ``reward``.

        Candidates are compared whole (examples included), so different few-shot sets
        of the same instructions are kept apart. A candidate already known is not added
        again: its mean reward and evaluation count are updated.
        """
        for variable in variables:
            candidate = trained_fields(copy.deepcopy(variable.value()))
            slot = self.slot(variable)
            known = next(
                (
                    c
                    for c in slot["candidates"] + slot["best_candidates"]
                    if strip_reward(c) == candidate
                ),
                None,
            )
            if known is None:
                slot["candidates"].append({**candidate, "reward": reward, COUNT_KEY: 1})
                continue
            count = int(known.get(COUNT_KEY) or 1)
            known["reward"] = ((known.get("reward") or 0.0) * count + reward) / (count + 1)
            known[COUNT_KEY] = count + 1

    def _best(self, variable: Variable) -> dict | None:
        slot = self.slot(variable)
        pool = slot["candidates"] + slot["best_candidates"]
        if not pool:
            return None
        # Ties keep the earliest candidate: stable, so runs are reproducible.
        return max(pool, key=lower_confidence_bound)

    def _assign_best(self, variable: Variable) -> dict | None:
        best = self._best(variable)
        if best is not None:
            variable.update(strip_reward(best))
        return best

    def on_batch_end(self, step: int, epoch: int, variables: list[Variable]) -> Awaitable[None]:
        for variable in variables:
            self._assign_best(variable)
        self._count("iterations")
        return DONE

    def on_epoch_end(self, epoch: int, variables: list[Variable]) -> Awaitable[None]:
        for variable in variables:
            slot = self.slot(variable)
            unique: list[dict] = []
            for candidate in sorted(
                slot["candidates"] + slot["best_candidates"],
                key=lambda c: -lower_confidence_bound(c),
            ):
                if all(strip_reward(candidate) != strip_reward(u) for u in unique):
                    unique.append(candidate)
            slot["best_candidates"] = unique[: self.population_size]
            best = self._assign_best(variable)
            history = slot["history"]
            if best is not None and (not history or history[-1] != strip_reward(best)):
                history.append(strip_reward(best))
        self._count("epochs")
        return DONE

    def on_train_end(self, variables: list[Variable]) -> Awaitable[None]:
        for variable in variables:
            self._assign_best(variable)
        return DONE

    # ---- configuration ------------------------------------------------------------------

    def get_config(self) -> dict:
        return {
            "population_size": self.population_size,
            "sampling_temperature": self.sampling_temperature,
            "name": self.name,
            "description": self.description,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        return cls(**config)
