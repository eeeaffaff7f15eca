"""What ``compile`` sets up: the rewards (with weights), metrics and trackers."""

from typing import Any

from synaprefect import metrics as metrics_module
from synaprefect import rewards as rewards_module
from synaprefect.utils.serialization import deserialize_object, serialize_object

__all__ = ["CompiledRewards", "CompiledMetrics"]


class CompiledRewards:
    """One or more rewards, each optionally on its own program output, summed with
    ``reward_weights`` (1.0 each by default)."""

    def __init__(self, reward: Any, reward_weights: list[float] | None, n_outputs: int):
        rewards = reward if isinstance(reward, (list, tuple)) else [reward]
        self.rewards = [rewards_module.get(r) for r in rewards if r is not None]
        if reward_weights is None:
            reward_weights = [1.0] * len(self.rewards)
        if len(reward_weights) != len(self.rewards) or not all(
            isinstance(w, (int, float)) for w in reward_weights
        ):
            raise ValueError(
                f"`reward_weights` must be a list of {len(self.rewards)} numbers (one per "
                f"reward), got {reward_weights!r}."
            )
        self.weights = [float(w) for w in reward_weights]
        self.reduction = self.rewards[0].reduction if self.rewards else "mean"
        # A list of rewards as long as a multi-output program's outputs pairs them up.
        self.per_output = n_outputs > 1 and len(self.rewards) == n_outputs

    def _pick(self, values: list, index: int) -> list:
        if not self.per_output:
            return [v[0] if isinstance(v, (list, tuple)) else v for v in values]
        return [v[index] if isinstance(v, (list, tuple)) else None for v in values]

    async def __call__(self, y_true: list, y_pred: list) -> list[float]:
        totals = [0.0] * len(y_pred)
        for index, (reward, weight) in enumerate(zip(self.rewards, self.weights)):
            scores = await reward.compute_batch(
                self._pick(y_true, index), self._pick(y_pred, index)
            )
            totals = [t + weight * s for t, s in zip(totals, scores)]
        return totals

    def reduce(self, rewards: list[float]) -> float:
        """One number for a batch, by the (first) compiled reward's reduction."""
        from synaprefect.rewards import reduce_rewards

        return reduce_rewards(rewards, self.reduction)

    def get_config(self) -> dict:
        return {
            "reward": [serialize_object(r) for r in self.rewards],
            "reward_weights": self.weights,
        }


class CompiledMetrics:
    """The metrics of ``compile`` (cloned, so each program has fresh state) plus the
    ``reward`` tracker, in log order."""

    def __init__(self, metrics: list | None, language_models: list):
        self.reward_tracker = metrics_module.Mean(name="reward", direction="up")
        self.metrics = []
        for identifier in metrics or []:
            metric = metrics_module.get(identifier)
            metric = metric.clone() if hasattr(metric, "clone") else metric
            if hasattr(metric, "bind_models"):
                metric.bind_models(language_models)
            self.metrics.append(metric)

    @property
    def all(self) -> list:
        return [self.reward_tracker, *self.metrics]

    @property
    def variables(self) -> list:
        return [v for metric in self.all for v in metric.variables]

    def reset(self) -> None:
        for metric in self.all:
            metric.reset_state()

    async def update(self, y_true: list, y_pred: list, rewards: list[float]) -> None:
        await self.reward_tracker.update_state(rewards)
        outputs = [p[0] if isinstance(p, (list, tuple)) else p for p in y_pred]
        targets = [t[0] if isinstance(t, (list, tuple)) else t for t in y_true]
        for metric in self.metrics:
            await metric.update_state(targets, outputs)

    def result(self) -> dict[str, float]:
        logs: dict[str, float] = {}
        for metric in self.all:
            value = metric.result()
            if isinstance(value, dict):
                logs.update({f"{metric.name}_{k}": float(v) for k, v in value.items()})
            else:
                logs[metric.name] = float(value)
        return logs

    def direction(self, name: str) -> str | None:
        for metric in self.all:
            if metric.name == name:
                return getattr(metric, "direction", None)
        return None

    def get_config(self) -> list:
        return [serialize_object(m) for m in self.metrics]


def deserialize_list(entries: list | None) -> list:
    return [deserialize_object(entry) for entry in entries or []]
