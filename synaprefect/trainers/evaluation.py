"""``evaluate`` and ``predict``: batches as tasks, in order or all at once on a task
runner, scored by the compiled metrics."""

from typing import Any

import numpy as np

from synaprefect.trainers import data as D
from synaprefect.trainers.host import ProgramHost
from synaprefect.trainers.job import Job, current_job
from synaprefect.trainers.reporting import publish_evaluation
from synaprefect.trainers.runtime import get_runtime
from synaprefect.utils.async_utils import gather_or_cancel

__all__ = ["EvaluationMixin"]


class EvaluationMixin(ProgramHost):
    """``evaluate`` and ``predict``, mixed into ``Program`` through ``Trainer``."""

    async def _evaluate_batch(self, step: int, bx: list, by: list, kind: str) -> dict:
        """One batch of an evaluation, as a (replayable) task: predictions and rewards."""
        return await self._batch_task(
            f"{kind}-batch", step, bx, by, lambda: self._predict_and_score(bx, by, False)
        )

    async def _predict_batch(self, step: int, batch: list) -> list:
        """One batch of a prediction, as a (replayable) task: one output per sample."""
        return await self._batch_task(
            "predict-batch", step, batch, None, lambda: self._predict_samples(batch)
        )

    async def _batch_task(
        self, name: str, step: int, batch: list, targets: list | None, body
    ) -> Any:
        """A batch of the current job: a replayable task, or, on a task runner, a task
        whose program and batch travel as JSON to wherever it runs (``trainers.shards``)."""
        job = current_job()
        run_name = f"{name}-{step + 1}"
        if job is None:
            return await body()
        key = job.step_key(name, batch, targets)
        with job.naming(f"{run_name}-"):
            if job.task_runner is not None:
                kind = "predict" if name == "predict-batch" else "evaluate"
                return await job.replayable(
                    key, lambda: self._remote_batch(job, kind, batch, targets, name, run_name)
                )
            return await job.task(name, lambda: job.replayable(key, body), run_name=run_name)

    @staticmethod
    async def _remote_batch(
        job, kind: str, batch: list, targets: list | None, name: str, run_name: str
    ):
        from synaprefect.trainers.shards import decode, request_for

        request = request_for(job.remote_template, kind, batch, targets, len(batch))
        [result] = decode(await job.runtime.remote(name, request, run_name=run_name))
        return result

    @staticmethod
    async def _in_order(calls: list) -> Any:
        """The results of ``calls`` (coroutine functions, one per batch) in order: one
        batch after another in this process, all at once on a task runner (other
        processes do the work; batch-begin callbacks then all fire at the start)."""
        job = current_job()
        if job is None or job.task_runner is None:
            for call in calls:
                yield await call()
            return
        for result in await gather_or_cancel(*(call() for call in calls)):
            yield result

    async def _evaluate_samples(
        self, x: list, y: list | None, batch_size: int, kind: str, callbacks=None
    ) -> dict[str, float]:
        self.reset_metrics()
        batches = D.batch_pairs(x, y, batch_size)

        async def run(step: int, bx: list, by: list) -> dict:
            if callbacks is not None:
                callbacks.on_test_batch_begin(step)
            return await self._evaluate_batch(step, bx, by, kind)

        calls = [
            lambda step=step, bx=bx, by=by: run(step, bx, by)
            for step, (bx, by) in enumerate(batches)
        ]
        step = 0
        async for result in self._in_order(calls):
            await self._metrics.update(batches[step][1], result["y_pred"], result["rewards"])
            if callbacks is not None:
                callbacks.on_test_batch_end(step, self._metrics.result())
            step += 1
        return self._metrics.result()

    async def run_batches(self, kind: str, x: Any, y: Any = None, batch_size: int = 32) -> list:
        """The per-batch results of an evaluate (``{"y_pred", "rewards"}`` per batch, no
        metrics) or a predict (the outputs of each batch) of ``x``, as this program's own
        resumable job: what a shard of a sharded job runs, in any process
        (``trainers.shards``). ``score_batches`` turns evaluate results into scores.

        Example: ``batches = await program.run_batches("evaluate", x, y, batch_size=8)``
        """
        samples, targets = self.prepare_samples(kind, x, y)

        async def body():
            results: list = []
            for step, (batch, by) in enumerate(D.batch_pairs(samples, targets, batch_size)):
                if kind == "predict":
                    results.append(await self._predict_batch(step, batch))
                    continue
                scored = await self._evaluate_batch(step, batch, by, "test")
                results.append({"y_pred": scored["y_pred"], "rewards": scored["rewards"]})
            return results

        return await Job(self, f"{kind}-shard", get_runtime()).run(
            body,
            data=samples,
            targets=targets,
            options={"batch_size": batch_size},
            samples=len(samples),
            batch_size=batch_size,
        )

    async def score_batches(self, batches: list[dict], y: Any = None) -> dict[str, float]:
        """The scores ``evaluate`` reports, from the per-batch results of
        ``run_batches("evaluate", ...)`` (of one or several shards, in order) and the
        targets ``y`` of all of them; the program's metrics hold them afterwards.

        Example: ``scores = await program.score_batches(batches, y_test)``
        """
        targets = D.to_samples(y, "y")
        self.reset_metrics()
        offset = 0
        for batch in batches:
            size = len(batch["y_pred"])
            by = list(targets[offset : offset + size]) if targets is not None else [None] * size
            await self._metrics.update(by, batch["y_pred"], batch["rewards"])
            offset += size
        return self._metrics.result()

    async def evaluate(
        self,
        x=None,
        y=None,
        batch_size: int = 32,
        verbose="auto",
        callbacks=None,
        return_dict: bool = True,
        resume: bool = True,
        flow_retries: int = 0,
        task_runner: Any = None,
    ):
        """Score the program on ``x``/``y``; returns ``{"reward": ..., <metrics>}``.

        ``task_runner`` (a Prefect task runner, e.g. ``prefect_dask.DaskTaskRunner``)
        runs every batch at once as a task on that runner, the program and batch sent as
        JSON: for CPU-heavy rewards or modules on a cluster (tracking must be on).

        Example:
        ```python
        scores = await program.evaluate(x_test, y_test, batch_size=32)
        ```
        """
        from synaprefect.callbacks import CallbackList

        self._require_compiled("evaluate")
        samples, targets = self._prepare(x, y, "evaluate")
        steps = len(D.batches(len(samples), batch_size))
        verbose = 1 if verbose == "auto" else verbose
        callback_list = CallbackList(
            callbacks, add_progbar=verbose != 0, program=self, steps=steps, verbose=verbose
        )
        job = Job(self, "evaluate", get_runtime(), task_runner)

        async def body():
            callback_list.on_test_begin()
            logs = await self._evaluate_samples(samples, targets, batch_size, "test", callback_list)
            callback_list.on_test_end(logs)
            await publish_evaluation(job.runtime, self.name, logs, f"evaluation of {self.name}")
            return logs

        logs = await job.run(
            body,
            data=samples,
            targets=targets,
            options={"batch_size": batch_size},
            resume=resume,
            flow_retries=flow_retries,
            samples=len(samples),
            batch_size=batch_size,
        )
        return logs if return_dict else list(logs.values())

    async def predict(
        self,
        x=None,
        batch_size: int | None = None,
        verbose="auto",
        callbacks=None,
        resume: bool = True,
        flow_retries: int = 0,
        task_runner: Any = None,
    ) -> np.ndarray:
        """Outputs for every sample of ``x`` as a numpy object array (None for a sample
        whose program returned None). ``task_runner``: as in ``evaluate``.

        Example:
        ```python
        outputs = await program.predict(x_test, batch_size=16)
        ```
        """
        from synaprefect.callbacks import CallbackList

        samples, _ = self._prepare(x, None, "predict")
        batch_size = batch_size or 1
        batches = D.batches(len(samples), batch_size)
        verbose = 1 if verbose == "auto" else verbose
        callback_list = CallbackList(
            callbacks, add_progbar=verbose != 0, program=self, steps=len(batches), verbose=verbose
        )
        job = Job(self, "predict", get_runtime(), task_runner)

        async def body():
            outputs = []
            callback_list.on_predict_begin()

            async def run(step: int, indices: list) -> list:
                callback_list.on_predict_batch_begin(step)
                return await self._predict_batch(step, [samples[i] for i in indices])

            calls = [
                lambda step=step, indices=indices: run(step, indices)
                for step, indices in enumerate(batches)
            ]
            step = 0
            async for batch_outputs in self._in_order(calls):
                outputs += batch_outputs
                callback_list.on_predict_batch_end(step, {"outputs": len(outputs)})
                step += 1
            callback_list.on_predict_end()
            return outputs

        outputs = await job.run(
            body,
            data=samples,
            targets=None,
            options={"batch_size": batch_size},
            resume=resume,
            flow_retries=flow_retries,
            samples=len(samples),
            batch_size=batch_size,
        )
        return D.object_array(outputs)
