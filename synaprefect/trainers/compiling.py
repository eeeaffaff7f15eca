"""``compile`` and what it configures: rewards, optimizer, metrics, the state to save."""

import inspect
from typing import Any

from synaprefect.language_models.base import ModelBase
from synaprefect.optimizers import get as get_optimizer
from synaprefect.trainers import data as D
from synaprefect.trainers.compile_utils import CompiledMetrics, CompiledRewards
from synaprefect.trainers.host import ProgramHost
from synaprefect.trainers.models import language_models
from synaprefect.utils.nest import flatten

__all__ = ["CompileMixin"]


class CompileMixin(ProgramHost):
    """``compile`` and its configuration, mixed into ``Program`` through ``Trainer``."""

    compiled = False
    optimizer = None
    task_granularity = "module"

    def compile(
        self,
        optimizer=None,
        reward=None,
        reward_weights=None,
        metrics=None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        task_granularity: str = "module",
    ) -> None:
        """Configure training: the reward to maximise, the optimizer and the metrics.

        ``task_granularity`` sets what a Prefect task is: one per module per batch
        (``"module"``, default), one per batch (``"batch"``), or one per module per
        sample (``"sample"``; only for small data: each task costs milliseconds).

        Example:
        ```python
        program.compile(reward=synaprefect.rewards.ExactMatch(in_mask=["answer"]),
                        optimizer=synaprefect.optimizers.RandomFewShot(),
                        metrics=[synaprefect.metrics.Accuracy(in_mask=["answer"])])
        ```
        """
        if task_granularity not in ("module", "batch", "sample"):
            raise ValueError(
                "`task_granularity` must be 'module', 'batch' or 'sample', got "
                f"{task_granularity!r}."
            )
        n_outputs = len(flatten(self.outputs)) if getattr(self, "_graph", None) else 1
        self._rewards = CompiledRewards(reward, reward_weights, n_outputs)
        self.optimizer = get_optimizer(optimizer)
        if self.optimizer is not None:
            self.optimizer.set_program(self)
            # Its own modules exist at once, so a loaded state fits them (an `async def
            # build` written for Synalinks runs when training starts instead).
            if self.built and not inspect.iscoroutinefunction(self.optimizer.build):
                self.optimizer.build(self.trainable_variables)
        self.task_granularity = task_granularity
        self.compiled = True
        # Bound last, so operational metrics also see the judges' and optimizer's models.
        self._metrics = CompiledMetrics(metrics, self.language_models())

    def _get_compile_config(self) -> dict | None:
        if not self.compiled:
            return None
        from synaprefect.utils.serialization import serialize_object

        return {
            **self._rewards.get_config(),
            "optimizer": serialize_object(self.optimizer) if self.optimizer else None,
            "metrics": self._metrics.get_config(),
            "task_granularity": self.task_granularity,
        }

    def _compile_from_config(self, config: dict) -> None:
        from synaprefect.trainers.compile_utils import deserialize_list

        optimizer = config.get("optimizer")
        self.compile(
            reward=deserialize_list(config.get("reward")),
            reward_weights=config.get("reward_weights"),
            optimizer=get_optimizer(optimizer) if optimizer else None,
            metrics=deserialize_list(config.get("metrics")),
            task_granularity=config.get("task_granularity", "module"),
        )

    def _state_sections(self) -> dict[str, list]:
        sections = {
            "trainable_variables": self.trainable_variables,
            "non_trainable_variables": self.non_trainable_variables,
        }
        if self.compiled:
            if self.optimizer is not None:
                sections["optimizer_variables"] = self.optimizer.variables
            sections["metrics_variables"] = self._metrics.variables
        return sections

    def _state_variables(self) -> list:
        """The variables a job's results depend on: the program's and the optimizer's
        (metrics are reset when a job starts)."""
        optimizer = self.optimizer.variables if self.compiled and self.optimizer else []
        return [*self.variables, *optimizer]

    # ---- Synalinks' reward and metrics API ----------------------------------------------

    @property
    def reward(self):
        """The compiled reward (a list when several were compiled), None before
        ``compile``."""
        rewards = self._rewards.rewards if self.compiled else []
        return None if not rewards else rewards[0] if len(rewards) == 1 else list(rewards)

    @property
    def metrics(self) -> list:
        """The metric objects, in log order: the ``reward`` tracker, then the compiled
        metrics ([] before ``compile``)."""
        return list(self._metrics.all) if self.compiled else []

    @property
    def metrics_names(self) -> list[str]:
        return [metric.name for metric in self.metrics]

    def get_metrics_result(self) -> dict[str, float]:
        """The current metric values, keyed as in the logs of ``fit``/``evaluate``.

        Example: ``await program.evaluate(x, y); program.get_metrics_result()``
        """
        return self._metrics.result() if self.compiled else {}

    def reset_metrics(self) -> None:
        if self.compiled:
            self._metrics.reset()

    def metric_direction(self, name: str) -> str | None:
        """``"up"``/``"down"`` for a log key such as ``val_reward`` or ``accuracy``."""
        name = name[4:] if name.startswith("val_") else name
        if name == "reward" or name.endswith("_reward"):
            return "up"
        return self._metrics.direction(name) if self.compiled else None

    def language_models(self) -> list[ModelBase]:
        """Every language or embedding model the program, its rewards and its optimizer
        use (for cost accounting; ``trainers.models`` walks them)."""
        return language_models(self)

    def estimate_calls(self, x, kind: str = "fit", **kwargs) -> dict[str, int]:
        """How many LM calls ``fit`` (or ``evaluate``) on ``x`` will make, counted
        without calling anything: ``{"inference", "optimizer", "reward", "total"}``.

        Takes the same ``epochs``, ``batch_size``, ``validation_split``,
        ``validation_data`` and ``minibatch_size`` as ``fit``.

        Example:
        ```python
        program.estimate_calls(x_train, epochs=3, batch_size=8)["total"]
        ```
        """
        from synaprefect.trainers.estimate import estimate_calls

        return estimate_calls(self, x, kind=kind, **kwargs)

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise ValueError(
                f"You must call compile() before {what}(): e.g. "
                "program.compile(reward=synaprefect.rewards.ExactMatch())."
            )

    def prepare_samples(self, kind: str, x: Any, y: Any = None) -> tuple[list, list | None]:
        """The samples of ``x`` (and targets of ``y``) as a ``kind`` job (``"fit"``,
        ``"evaluate"`` or ``"predict"``) reads them, checked against the program's inputs
        before any call; fit and evaluate also need a compiled program.

        Example: ``samples, targets = program.prepare_samples("evaluate", x_test, y_test)``
        """
        if kind in ("fit", "evaluate"):
            self._require_compiled(kind)
        return self._prepare(x, y, kind)

    def _prepare(self, x, y, what: str) -> tuple[list, list | None]:
        samples = D.to_samples(x, "x")
        if samples is None or not samples:
            raise ValueError(f"{what}() needs samples: pass `x=` (a list or numpy array).")
        targets = D.to_samples(y, "y")
        if targets is not None and len(targets) != len(samples):
            raise ValueError(
                f"`x` and `y` must have the same length, got {len(samples)} and {len(targets)}."
            )
        D.check_against_inputs(self, samples, "x")
        return samples, targets

    async def _prepare_run(self, sample) -> None:
        """Build what a run needs before its starting state is recorded: a program built
        on its first call, and the optimizer's own modules."""
        if not self.built:
            await self._maybe_build((sample,))
        if self.compiled and self.optimizer is not None:
            # Idempotent; it also moves the bookkeeping a file saved by an older version
            # kept in its variables into the optimizer's slots.
            await self.optimizer.ensure_built(self.trainable_variables)
