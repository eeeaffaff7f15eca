"""``RandomFewShot``: few-shot examples chosen among the model's own best predictions."""

import numpy as np

from synaprefect.optimizers.optimizer import Optimizer, softmax
from synaprefect.variables.variable import Variable

__all__ = ["RandomFewShot"]

_SAMPLINGS = ("random", "best", "softmax")


class RandomFewShot(Optimizer):
    """Try sets of few-shot examples drawn from this epoch's scored predictions.

    Each batch, the variable of the module that struggles most gets ``k`` examples
    (``nb_min_examples`` ≤ k ≤ ``nb_max_examples``) picked from the predictions of the
    epoch: uniformly (``"random"``), the top ``k`` (``"best"``) or with probability
    ∝ exp(reward / T) (``"softmax"``). Instructions are left as they are; no LM calls.

    Example:
    ```python
    program.compile(reward=synaprefect.rewards.ExactMatch(in_mask=["answer"]),
                    optimizer=synaprefect.optimizers.RandomFewShot(nb_max_examples=3))
    ```
    """

    def __init__(
        self,
        nb_min_examples: int = 1,
        nb_max_examples: int = 3,
        sampling: str = "softmax",
        sampling_temperature: float = 0.3,
        population_size: int = 10,
        name: str | None = None,
        description: str | None = None,
    ):
        super().__init__(
            population_size=population_size,
            sampling_temperature=sampling_temperature,
            name=name,
            description=description,
        )
        if sampling not in _SAMPLINGS:
            raise ValueError(f"`sampling` must be one of {_SAMPLINGS}, got {sampling!r}.")
        if not 0 <= nb_min_examples <= nb_max_examples:
            raise ValueError(
                "Expected 0 <= nb_min_examples <= nb_max_examples, got "
                f"{nb_min_examples} and {nb_max_examples}."
            )
        self.nb_min_examples = nb_min_examples
        self.nb_max_examples = nb_max_examples
        self.sampling = sampling

    def sample_best_predictions(self, variable: Variable, rng: np.random.Generator) -> list:
        pool = self.slot(variable)["predictions"]
        k = int(rng.integers(self.nb_min_examples, self.nb_max_examples + 1))
        if len(pool) <= k:
            return list(pool)
        rewards = np.array([p.get("reward") or 0.0 for p in pool], dtype=float)
        if self.sampling == "best":
            chosen = np.argsort(-rewards, kind="stable")[:k]
        else:
            probabilities = (
                np.full(len(pool), 1.0 / len(pool))
                if self.sampling == "random"
                else softmax(rewards, self.sampling_temperature)
            )
            chosen = rng.choice(len(pool), size=k, replace=False, p=probabilities)
        return [pool[int(i)] for i in sorted(chosen)]

    async def propose_new_candidates(self, step, epoch, variables, x, y, y_pred) -> None:
        rng = self.rng("propose", epoch, step)
        variable = self.select_variable_to_update(variables, rng)
        examples = self.sample_best_predictions(variable, rng)
        if examples:
            variable.update({"examples": examples})

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "nb_min_examples": self.nb_min_examples,
            "nb_max_examples": self.nb_max_examples,
            "sampling": self.sampling,
        }
