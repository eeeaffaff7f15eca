"""``OMEGA``: instructions evolved by a language model, with dominated novelty search.

Each optimizer step either *mutates* a good candidate (a language model rewrites it after
seeing the batch's inputs, predictions and ground truth) or, more and more often as epochs
pass (``merging_rate * epochs``), *crosses* two of the best candidates. At each epoch end,
dominated novelty search removes candidates that are both close to a better one and worse
than it, so the population stays diverse; the best survivor is written back.

OMEGA also remembers, per variable, the training samples that keep failing (see
``hard_examples``) and shows the hardest ones to the writer with every proposal, so a new
candidate is written for the cases the program still gets wrong, not only for the batch
at hand.
"""

import re
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from synaprefect.data_models.data_model import DataModel
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.trainable import BOOKKEEPING_KEYS
from synaprefect.language_models import language_model as language_models
from synaprefect.language_models.embedding_model import EmbeddingModel
from synaprefect.modules.generator import Generator
from synaprefect.modules.reasoning import ChainOfThought
from synaprefect.optimizers.hard_examples import hardest_examples, remember_outcomes
from synaprefect.optimizers.optimizer import (
    Optimizer,
    candidate_content,
    lower_confidence_bound,
    softmax,
    strip_reward,
)
from synaprefect.utils.async_utils import DONE
from synaprefect.variables.variable import Variable

__all__ = ["OMEGA"]

_BASE_INSTRUCTIONS = (
    "You improve one JSON variable of a language-model program: the instructions and "
    "settings that steer one of its modules. Answer with the complete new variable. "
    "`hard_examples` are inputs the program keeps getting wrong, with their ground truth "
    "and how often they failed: the new variable must handle them too, and stay general."
)
_MUTATION = (
    "Rewrite the current variable so that the program's predictions match the ground "
    "truth. Look at where predictions and ground truth differ and fix one aspect at a "
    "time; keep what already works; keep it general, never specific to one example."
)
_CROSSOVER = (
    "Combine the current variable with another high-performing variable: keep the "
    "strengths of both in one general variable."
)


class MutationInputs(DataModel):
    program_description: str = ""
    program_inputs: list = []
    program_predicted_outputs: list = []
    program_ground_truth: list = []
    variable_description: str = ""
    current_variable: dict = {}
    hard_examples: list = []


class CrossoverInputs(MutationInputs):
    other_variable: dict = {}


def _content_schema(variable: Variable) -> dict:
    schema = variable.schema()
    properties = {
        k: v for k, v in schema.get("properties", {}).items() if k not in BOOKKEEPING_KEYS
    }
    if "instructions" in properties:  # the model must write instructions, not null
        properties["instructions"] = {"title": "Instructions", "type": "string"}
    return {
        "additionalProperties": False,
        "properties": properties,
        "required": list(properties),
        "title": "Variable",
        "type": "object",
        **({"$defs": schema["$defs"]} if "$defs" in schema else {}),
    }


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [] if value is None else [str(value)]


def _token_distance(a: dict, b: dict) -> float:
    """1 - Jaccard similarity of the words of two candidates (no model needed)."""
    words = [set(re.findall(r"\w+", " ".join(_leaves(strip_reward(c))).lower())) for c in (a, b)]
    union = words[0] | words[1]
    return 0.0 if not union else 1.0 - len(words[0] & words[1]) / len(union)


class OMEGA(Optimizer):
    """Evolve instructions with a language model (OptiMizEr as Genetic Algorithm).

    Example:
    ```python
    program.compile(
        reward=synaprefect.rewards.ExactMatch(in_mask=["answer"]),
        optimizer=synaprefect.optimizers.OMEGA(language_model=lm, embedding_model=embedder),
    )
    ```
    Without ``embedding_model``, candidate distance is the word overlap of candidates.
    A training sample whose reward stays below ``failure_threshold`` is remembered; the
    ``nb_hard_examples`` samples that failed most (at least ``min_failures`` times) go
    into every proposal prompt (``nb_hard_examples=0`` leaves them out).
    """

    def __init__(
        self,
        instructions: str | None = None,
        language_model=None,
        embedding_model: EmbeddingModel | None = None,
        k_nearest_fitter: int = 5,
        distance_function: Callable | None = None,
        mutation_temperature: float = 0.3,
        crossover_temperature: float = 0.3,
        reasoning_effort: str | None = None,
        use_chain_of_thought: bool = True,
        merging_rate: float = 0.02,
        algorithm: str = "dns",
        selection: str = "softmax",
        selection_temperature: float = 0.3,
        population_size: int = 10,
        sampling_temperature: float = 0.3,
        nb_hard_examples: int = 3,
        min_failures: int = 2,
        failure_threshold: float = 0.5,
        name: str | None = None,
        description: str | None = None,
    ):
        super().__init__(
            population_size=population_size,
            sampling_temperature=sampling_temperature,
            name=name,
            description=description,
        )
        if not isinstance(nb_hard_examples, int) or nb_hard_examples < 0:
            raise ValueError(
                f"`nb_hard_examples` must be an integer >= 0, got {nb_hard_examples!r}."
            )
        if not isinstance(min_failures, int) or min_failures < 1:
            raise ValueError(f"`min_failures` must be an integer >= 1, got {min_failures!r}.")
        if language_model is None:
            raise ValueError("OMEGA needs `language_model=` to write new candidates.")
        if algorithm not in ("dns", "ga"):
            raise ValueError(f"`algorithm` must be 'dns' or 'ga', got {algorithm!r}.")
        if selection not in ("random", "best", "softmax"):
            raise ValueError(
                f"`selection` must be 'random', 'best' or 'softmax', got {selection!r}."
            )
        self.instructions = instructions
        self.language_model = language_models.get(language_model)
        self.embedding_model = embedding_model
        self.k_nearest_fitter = k_nearest_fitter
        self.distance_function = distance_function
        self.mutation_temperature = mutation_temperature
        self.crossover_temperature = crossover_temperature
        self.reasoning_effort = reasoning_effort
        self.use_chain_of_thought = use_chain_of_thought
        self.merging_rate = merging_rate
        self.algorithm = algorithm
        self.selection = selection
        self.selection_temperature = selection_temperature
        self.nb_hard_examples = nb_hard_examples
        self.min_failures = min_failures
        self.failure_threshold = failure_threshold
        self._writers: dict[str, dict[str, Generator]] = {}

    # ---- modules --------------------------------------------------------------------------

    def modules(self) -> list:
        return [g for pair in self._writers.values() for g in pair.values()]

    def build(self, trainable_variables: list[Variable]) -> Awaitable[None]:
        kind = ChainOfThought if self.use_chain_of_thought else Generator
        for variable in trainable_variables:
            schema = _content_schema(variable)
            key = variable.path
            if key in self._writers:
                continue
            index = len(self._writers)
            self._writers[key] = {
                op: kind(
                    schema=schema,
                    language_model=self.language_model,
                    temperature=temperature,
                    instructions="\n".join(
                        filter(None, [self.instructions, _BASE_INSTRUCTIONS, text])
                    ),
                    name=f"{self.name}_{op}_{index}",
                    trainable=False,
                )
                for op, temperature, text in (
                    ("mutation", self.mutation_temperature, _MUTATION),
                    ("crossover", self.crossover_temperature, _CROSSOVER),
                )
            }
        return super().build(trainable_variables)

    # ---- selection ------------------------------------------------------------------------

    def select_candidate(self, candidates: list[dict], rng: np.random.Generator) -> dict:
        if self.selection == "random":
            return candidates[int(rng.integers(len(candidates)))]
        rewards = np.array([lower_confidence_bound(c) for c in candidates], dtype=float)
        if self.selection == "best":
            return candidates[int(np.argmax(rewards))]
        probabilities = softmax(rewards, self.selection_temperature)
        return candidates[int(rng.choice(len(candidates), p=probabilities))]

    def on_batch_begin(self, step: int, epoch: int, variables: list[Variable]) -> Awaitable[None]:
        if epoch == 0:
            return super().on_batch_begin(step, epoch, variables)
        rng = self.rng("batch_begin", epoch, step)
        for variable in variables:
            slot = self.slot(variable)
            pool = slot["best_candidates"] or slot["seed_candidates"]
            self._start_from(variable, self.select_candidate(pool, rng))
        return DONE

    def crossover_probability(self) -> float:
        return min(1.0, self.merging_rate * self.epochs)

    # ---- proposing ------------------------------------------------------------------------

    def observe_batch(self, variables, x, y, y_pred, rewards, recorded) -> None:
        """Remember, for each variable, the outcome of the samples its module ran on."""
        for variable in variables:
            samples = [i for i in recorded.get(variable.path, {}) if i is not None]
            remember_outcomes(
                self.slot(variable).setdefault("hard_examples", {}),
                [
                    {
                        "inputs": _json(x[i]),
                        "ground_truth": _json(y[i]),
                        "predicted_output": _json(y_pred[i]),
                        "reward": rewards[i],
                    }
                    for i in sorted(samples)
                ],
                self.failure_threshold,
            )

    def hard_examples(self, variable: Variable) -> list[dict]:
        """The remembered samples shown with the next proposal for ``variable``:
        ``[{"inputs", "predicted_output", "ground_truth", "failures"}, ...]``."""
        return hardest_examples(
            self.slot(variable).get("hard_examples", {}), self.nb_hard_examples, self.min_failures
        )

    async def propose_new_candidates(self, step, epoch, variables, x, y, y_pred) -> None:
        rng = self.rng("propose", epoch, step)
        variable = self.select_variable_to_update(variables, rng)
        slot = self.slot(variable)
        best, seeds = slot["best_candidates"], slot["seed_candidates"]
        parent = self.select_candidate(best, rng) if best else seeds[int(rng.integers(len(seeds)))]
        inputs = {
            "program_description": getattr(self.program, "description", "") or "",
            "program_inputs": [_json(v) for v in x],
            "program_predicted_outputs": [_json(v) for v in y_pred],
            "program_ground_truth": [_json(v) for v in y],
            "variable_description": variable.description,
            "current_variable": candidate_content(strip_reward(parent)),
            "hard_examples": self.hard_examples(variable),
        }
        op, data_model = "mutation", MutationInputs
        if len(best) >= 2 and rng.random() < self.crossover_probability():
            others = [c for c in best if strip_reward(c) != strip_reward(parent)] or best
            inputs["other_variable"] = candidate_content(
                strip_reward(others[int(rng.integers(len(others)))])
            )
            op, data_model = "crossover", CrossoverInputs
        # A failed proposal raises: a permanent error must stop the fit, a transient one
        # is retried by the update task, and nothing half-done is persisted.
        result = await self._writers[variable.path][op](data_model(**inputs))
        proposal = candidate_content(strip_reward(parent))
        proposal.update({k: v for k, v in result.get_json().items() if k in proposal})
        variable.update(proposal)

    # ---- epoch end: dominated novelty search ------------------------------------------------

    async def _distances(self, pool: list[dict]) -> np.ndarray:
        n = len(pool)
        if self.distance_function is not None:
            return np.array([[self.distance_function(a, b) for b in pool] for a in pool])
        if self.embedding_model is None:
            return np.array([[_token_distance(a, b) for b in pool] for a in pool])
        vectors = []
        for candidate in pool:
            leaves = _leaves(strip_reward(candidate)) or [""]
            embedded = np.array(await self.embedding_model.embed(leaves), dtype=float)
            embedded /= np.maximum(np.linalg.norm(embedded, axis=1, keepdims=True), 1e-12)
            mean = embedded.mean(axis=0)
            vectors.append(mean / max(np.linalg.norm(mean), 1e-12))
        matrix = np.array(vectors)
        cosine = matrix @ matrix.T
        return 1.0 - (cosine + 1.0) / 2.0 + np.zeros((n, n))

    async def competition(self, pool: list[dict]) -> list[dict]:
        """Drop every candidate that has a strictly better one (by lower confidence
        bound) within ``1 / k_nearest_fitter``; keep the first if all would go."""
        distances = await self._distances(pool)
        radius = 1.0 / self.k_nearest_fitter
        survivors = [
            c
            for i, c in enumerate(pool)
            if not any(
                j != i
                and distances[i][j] < radius
                and lower_confidence_bound(o) > lower_confidence_bound(c)
                for j, o in enumerate(pool)
            )
        ]
        return survivors or pool[:1]

    async def on_epoch_end(self, epoch: int, variables: list[Variable]) -> None:
        if self.algorithm == "dns":
            for variable in variables:
                slot = self.slot(variable)
                pool = slot["candidates"] + slot["best_candidates"]
                if len(pool) > 1:
                    slot.update({"candidates": await self.competition(pool), "best_candidates": []})
        super().on_epoch_end(epoch, variables)

    def get_config(self) -> dict:
        if self.distance_function is not None:
            raise NotImplementedError(
                "OMEGA with a custom `distance_function` cannot be saved (code is never "
                "serialised); save the variables only."
            )
        return {
            **super().get_config(),
            "instructions": self.instructions,
            "language_model": self.language_model.get_config(),
            "embedding_model": self.embedding_model.get_config() if self.embedding_model else None,
            "k_nearest_fitter": self.k_nearest_fitter,
            "mutation_temperature": self.mutation_temperature,
            "crossover_temperature": self.crossover_temperature,
            "reasoning_effort": self.reasoning_effort,
            "use_chain_of_thought": self.use_chain_of_thought,
            "merging_rate": self.merging_rate,
            "algorithm": self.algorithm,
            "selection": self.selection,
            "selection_temperature": self.selection_temperature,
            "nb_hard_examples": self.nb_hard_examples,
            "min_failures": self.min_failures,
            "failure_threshold": self.failure_threshold,
        }

    @classmethod
    def from_config(cls, config: dict) -> "OMEGA":
        config = dict(config)
        if config.get("embedding_model"):
            config["embedding_model"] = EmbeddingModel.from_config(config["embedding_model"])
        return cls(**config)


def _json(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value.get_json() if isinstance(value, JsonDataModel) else value
