"""``ProgramHost``: what the training mixins see of the program they are mixed into.

At run time each mixin (``compiling``, ``steps``, ``fitting``, ``evaluation``,
``reporting``) is a plain class, combined with the others and ``Module`` in ``Program``.
A type checker sees each one as a ``Module`` that also has the members the mixins use
from each other and from ``Program``: calls across mixins are checked, and so is every
mixin's definition against the signature declared here.

Example:
```python
class StepMixin(ProgramHost):
    async def compute_rewards(self, y: list, y_pred: list) -> list[float]:
        return await self._rewards(y, y_pred)  # set by CompileMixin.compile
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ProgramHost"]

if TYPE_CHECKING:
    import asyncio

    from synaprefect.callbacks.history import History
    from synaprefect.language_models.base import ModelBase
    from synaprefect.modules.module import Module
    from synaprefect.optimizers.optimizer import Optimizer
    from synaprefect.programs.graph import Graph
    from synaprefect.trainers.compile_utils import CompiledMetrics, CompiledRewards
    from synaprefect.trainers.runtime import Runtime
    from synaprefect.variables import Variable

    class ProgramHost(Module):
        # Program
        _graph: Graph | None

        @property
        def outputs(self) -> Any: ...
        def get_graph(self) -> Graph | None: ...
        def get_state_tree(self) -> dict: ...
        def set_state_tree(self, state_tree: dict) -> None: ...

        # Trainer and FitMixin
        _busy: str | None
        replayed_steps: int
        stop_training: bool
        stop_reason: str | None
        history: History | None

        # CompileMixin
        compiled: bool
        optimizer: Optimizer | None
        task_granularity: str
        _rewards: CompiledRewards
        _metrics: CompiledMetrics

        def _require_compiled(self, what: str) -> None: ...
        def _prepare(self, x: Any, y: Any, what: str) -> tuple[list, list | None]: ...
        def prepare_samples(self, kind: str, x: Any, y: Any = None) -> tuple[list, list | None]: ...
        async def _prepare_run(self, sample: Any) -> None: ...
        def _state_variables(self) -> list[Variable]: ...
        def language_models(self) -> list[ModelBase]: ...
        def reset_metrics(self) -> None: ...

        # StepMixin
        async def _predict_samples(self, samples: list, training: bool = False) -> list: ...
        async def _predict_and_score(
            self, x: list, y: list | None, training: bool
        ) -> dict[str, Any]: ...
        async def _train_step(
            self,
            step: int,
            x: list,
            y: list | None,
            val_x: list | None,
            val_y: list | None,
            epoch: int,
        ) -> dict[str, float]: ...

        # EvaluationMixin
        async def _evaluate_samples(
            self, x: list, y: list | None, batch_size: int, kind: str, callbacks: Any = None
        ) -> dict[str, float]: ...

        # ReportingMixin
        def _live_usage(self) -> dict[str, float]: ...
        def _counters_by_phase(self) -> dict[str, dict[str, float]]: ...
        async def _publish_variables(self, runtime: Runtime) -> None: ...
        async def _publish_progress(self, runtime: Runtime, percent: float) -> None: ...
        async def _publish_history(self, runtime: Runtime) -> None: ...
        def _draw_graph_image(self, runtime: Runtime) -> asyncio.Future[bytes] | None: ...
        async def _publish_plots(
            self, runtime: Runtime, graph_image: asyncio.Future[bytes] | None
        ) -> None: ...
        async def _publish_evaluation(
            self, runtime: Runtime, logs: dict, description: str
        ) -> None: ...
        def _summary_markdown(
            self,
            first_reward: float | None,
            logs: dict,
            start_counters: dict[str, dict[str, float]],
        ) -> str: ...
else:
    ProgramHost = object
