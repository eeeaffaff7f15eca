"""One batch: predictions, rewards, recorded predictions and the optimizer update.

Each batch, module call and optimizer update is a task of the current job
(``trainers.job``); task bodies compute and return results, the loop applies them, so a
retried task never applies anything twice.
"""

import copy
import functools

from synaprefect.language_models.call_store import call_scope
from synaprefect.language_models.phases import phase_scope
from synaprefect.modules.recording import PredictionRecorder, recording, sample_scope
from synaprefect.trainers import data as D
from synaprefect.trainers.host import ProgramHost
from synaprefect.trainers.job import current_job, run_task
from synaprefect.trainers.models import sample_window
from synaprefect.trainers.replay import encode
from synaprefect.utils.async_utils import gather_or_cancel

__all__ = ["StepMixin"]


class StepMixin(ProgramHost):
    """Per-batch building blocks, mixed into ``Program`` through ``Trainer``."""

    async def predict_on_batch(self, x: list, training: bool = False) -> list:
        """Run every sample of ``x`` concurrently; returns one output per sample."""
        return await self._predict_samples(D.to_samples(x, "x"), training)

    async def _predict_samples(self, samples: list, training: bool = False) -> list:
        job = current_job()
        prefix = job.prefix if job is not None else ""

        async def run_module(module, calls, node):
            window = sample_window(module)

            async def one(index, args, kwargs):
                # The node too: one module at two nodes (or two identical modules) sends
                # identical requests that must not share call keys.
                with sample_scope(index), call_scope("node", node, "sample", index):
                    return await module(*args, training=training, **kwargs)

            async def body():
                return await gather_or_cancel(
                    *(one(i, args, kwargs) for i, (args, kwargs) in enumerate(calls)),
                    limit=window,
                )

            if self.task_granularity == "batch":
                return await body()
            if self.task_granularity == "sample":
                return await gather_or_cancel(
                    *(
                        run_task(
                            module.name,
                            functools.partial(one, i, a, k),
                            run_name=f"{prefix}{module.name}-sample-{i + 1}",
                        )
                        for i, (a, k) in enumerate(calls)
                    ),
                    limit=window,
                )
            return await run_task(module.name, body, run_name=f"{prefix}{module.name}")

        graph = getattr(self, "_graph", None)
        if graph is not None:
            return await graph.run_batch(samples, run_module)
        # A subclassed program has no graph to split: it is one module for the batch.
        return await run_module(self, [((s,), {}) for s in samples], 0)

    async def compute_rewards(self, y: list | None, y_pred: list) -> list[float]:
        """One reward per sample (failed predictions score what the reward gives None)."""
        if not self._rewards.rewards:
            return [0.0] * len(y_pred)
        with phase_scope("reward"):
            return await self._rewards(
                list(y) if y is not None else [None] * len(y_pred), list(y_pred)
            )

    async def _predict_and_score(self, x: list, y: list | None, training: bool) -> dict:
        """A pure batch step: predictions, rewards and (training) the predictions
        recorded for each trainable variable, by sample."""
        recorder = PredictionRecorder() if training else None
        with recording(recorder):
            y_pred = await self._predict_samples(x, training=training)
        rewards = await self.compute_rewards(y, y_pred)
        recorded = {}
        if recorder is not None:
            trainable = {v.path for v in self.trainable_variables}
            recorded = {
                path: by_sample for path, by_sample in recorder.take().items() if path in trainable
            }
        return {"y_pred": y_pred, "rewards": rewards, "recorded": recorded}

    async def test_on_batch(self, x: list, y: list | None = None, return_dict: bool = False):
        """Predict, score and update the metrics for one batch."""
        self._require_compiled("test_on_batch")
        x, y = D.to_samples(x, "x"), D.to_samples(y, "y")
        y = y if y is not None else [None] * len(x)
        result = await self._predict_and_score(x, y, training=False)
        await self._metrics.update(y, result["y_pred"], result["rewards"])
        logs = self._metrics.result()
        return logs if return_dict else list(logs.values())

    async def train_on_batch(
        self,
        step: int,
        x: list,
        y: list | None = None,
        val_x: list | None = None,
        val_y: list | None = None,
        epoch: int = 0,
        return_dict: bool = False,
    ):
        """One optimization step on a batch: predict and score it, let the optimizer
        propose a candidate, score the candidate on the validation minibatch (or on the
        batch itself without validation data), keep it if it is new."""
        self._require_compiled("train_on_batch")
        x, y = D.to_samples(x, "x"), D.to_samples(y, "y")
        val_x, val_y = D.to_samples(val_x, "val_x"), D.to_samples(val_y, "val_y")
        logs = await self._train_step(step, x, y, val_x, val_y, epoch)
        return logs if return_dict else list(logs.values())

    async def _train_step(
        self, step: int, x: list, y: list | None, val_x: list | None, val_y: list | None, epoch: int
    ) -> dict:
        job = current_job()
        prefix = job.prefix if job is not None else ""
        variables = self.trainable_variables
        y = y if y is not None else [None] * len(x)
        batch_key = job.step_key("train-batch", x, y, epoch=epoch, step=step) if job else None
        result = await run_task(
            "train-batch",
            lambda: _replayable(
                job, batch_key, lambda: self._predict_and_score(x, y, training=True)
            ),
            run_name=f"{prefix}train-batch",
        )
        await self._metrics.update(y, result["y_pred"], result["rewards"])
        logs = {"reward": self._rewards.reduce(result["rewards"])}
        optimizer = self.optimizer
        if optimizer is None or not variables:
            return logs
        optimizer.assign_rewards(result["recorded"], result["rewards"], variables)
        optimizer.observe_batch(
            variables, x, y, result["y_pred"], result["rewards"], result["recorded"]
        )
        # The update proposes new values for the trainable variables and scores them; the
        # optimizer's own state only changes here, in the loop, once the task succeeded.
        before = {v.path: copy.deepcopy(v.value()) for v in variables}
        candidate_x, candidate_y = (val_x, val_y) if val_x else (x, y)
        update_key = (
            job.step_key(
                "optimizer-update", x, y, epoch=epoch, step=step, candidates=encode(candidate_x)
            )
            if job
            else None
        )

        async def update():
            for variable in variables:  # a retried update starts from the same values
                variable.assign(before[variable.path])
            with phase_scope("optimizer"):
                await optimizer.propose(step, epoch, variables, x, y, result["y_pred"])
                scored = await self._predict_and_score(candidate_x, candidate_y, training=False)
            return {
                "candidate_reward": self._rewards.reduce(scored["rewards"]),
                "variables": {v.path: copy.deepcopy(v.value()) for v in variables},
            }

        updated = await run_task(
            "optimizer-update",
            lambda: _replayable(job, update_key, update),
            run_name=f"{prefix}optimizer-update",
        )
        for variable in variables:
            variable.assign(updated["variables"][variable.path])
        optimizer.add_candidate(variables, updated["candidate_reward"])
        logs["candidate_reward"] = updated["candidate_reward"]
        return logs


async def _replayable(job, key, body):
    return await (job.replayable(key, body) if job is not None else body())
