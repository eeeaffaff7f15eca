"""``fit``: epochs of batches, each an optimization step, then validation and callbacks."""

import logging

from synaprefect.trainers import artifact_keys as artifacts
from synaprefect.trainers import data as D
from synaprefect.trainers.host import ProgramHost
from synaprefect.trainers.job import Job
from synaprefect.trainers.replay import encode
from synaprefect.trainers.runtime import get_runtime

__all__ = ["FitMixin"]

logger = logging.getLogger("synaprefect.trainers")


class FitMixin(ProgramHost):
    """``fit``, mixed into ``Program`` through ``Trainer``."""

    stop_training = False
    stop_reason: str | None = None
    history = None
    _initial_epoch = None

    async def fit(
        self,
        x=None,
        y=None,
        batch_size: int = 1,
        minibatch_size: int = 4,
        epochs: int = 1,
        verbose="auto",
        callbacks=None,
        validation_split: float = 0.1,
        validation_data=None,
        shuffle: bool = True,
        initial_epoch: int = 0,
        validation_batch_size: int = 32,
        validation_freq: int = 1,
        resume: bool = True,
        flow_retries: int = 0,
    ):
        """Train the program's variables; returns a ``History``.

        Runs as a Prefect flow named after the program (a subflow inside your own flow),
        unless tracking is off. ``validation_split`` keeps the last fraction of ``x``/``y``
        for validation (never shuffled); the training samples are reshuffled every epoch
        when ``shuffle`` is true (seeded by ``synaprefect.set_seed``).

        Finished batches, optimizer updates and LM calls are persisted as JSON: run the
        same fit again after a crash (or let ``flow_retries`` retry the flow) and they
        replay without being paid for twice. ``resume=False`` starts fresh.

        Example:
        ```python
        history = await program.fit(x_train, y_train, epochs=3, batch_size=8,
                                    validation_split=0.2)
        history.history["val_reward"]
        ```
        """
        from synaprefect.callbacks import CallbackList

        self._require_compiled("fit")
        samples, targets = self._prepare(x, y, "fit")
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("`validation_data` must be a tuple (x_val, y_val).")
            (train_x, train_y) = (samples, targets)
            val_x, val_y = self._prepare(validation_data[0], validation_data[1], "fit")
        else:
            (train_x, train_y), (val_x, val_y) = D.train_validation_split(
                samples, targets, validation_split
            )
        if epochs < 1 or initial_epoch < 0:
            raise ValueError(
                f"Expected epochs >= 1 and initial_epoch >= 0, got {epochs} and {initial_epoch}."
            )
        D.batches(len(train_x), batch_size)  # validates batch_size early
        verbose = 1 if verbose == "auto" else verbose
        steps = len(D.batches(len(train_x), batch_size))
        if verbose:
            from synaprefect.trainers.estimate import estimate_calls, format_estimate

            print(
                format_estimate(
                    "fit",
                    estimate_calls(
                        self,
                        train_x,
                        epochs=epochs - initial_epoch,
                        batch_size=batch_size,
                        validation_data=(val_x, val_y) if val_x else None,
                        validation_split=0.0,
                        minibatch_size=minibatch_size,
                        validation_freq=validation_freq,
                    ),
                )
            )
        callback_list = CallbackList(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            program=self,
            epochs=epochs,
            steps=steps,
            verbose=verbose,
        )
        job = Job(self, "fit", get_runtime())

        async def body():
            return await self._fit_loop(
                job,
                callback_list,
                train_x,
                train_y,
                val_x,
                val_y,
                batch_size,
                minibatch_size,
                epochs,
                shuffle,
                initial_epoch,
                validation_batch_size,
                validation_freq,
                steps,
            )

        if self.optimizer is None:
            logger.warning(
                "fit() without an optimizer changes nothing: pass "
                "`optimizer=` to compile(). Returning an empty History."
            )
        options = {
            "batch_size": batch_size,
            "minibatch_size": minibatch_size,
            "validation": [encode(val_x), encode(val_y)],
            "shuffle": shuffle,
            "validation_freq": validation_freq,
            "validation_batch_size": validation_batch_size,
            "initial_epoch": initial_epoch,
        }  # where the optimizer's state stands
        return await job.run(
            body,
            data=train_x,
            targets=train_y,
            options=options,
            resume=resume,
            flow_retries=flow_retries,
            samples=len(train_x),
            epochs=epochs,
            batch_size=batch_size,
        )

    async def _fit_loop(
        self,
        job,
        callbacks,
        train_x,
        train_y,
        val_x,
        val_y,
        batch_size,
        minibatch_size,
        epochs,
        shuffle,
        initial_epoch,
        validation_batch_size,
        validation_freq,
        steps,
    ):
        variables = self.trainable_variables
        start_counters = self._counters_by_phase()
        self.stop_training = False
        self.stop_reason = None
        self._initial_epoch = None
        callbacks.on_train_begin()
        first_epoch = self._initial_epoch if self._initial_epoch is not None else initial_epoch
        if self.optimizer is None:
            callbacks.on_train_end()
            return self.history
        optimizer = self.optimizer
        graph_image = self._draw_graph_image(job.runtime)
        await optimizer.ensure_built(variables)
        await optimizer.run_hook("on_train_begin", variables, initial_epoch=first_epoch)
        total = max(1, (epochs - first_epoch) * steps)
        done, first_reward, epoch_logs = 0, None, {}
        for epoch in range(first_epoch, epochs):

            async def run_epoch(epoch=epoch):
                nonlocal done, first_reward
                self.reset_metrics()
                await optimizer.run_hook("on_epoch_begin", epoch, variables)
                callbacks.on_epoch_begin(epoch)
                order = list(range(len(train_x)))
                if shuffle:
                    order = [
                        int(i) for i in optimizer.rng("shuffle", epoch).permutation(len(train_x))
                    ]
                for step, indices in enumerate(D.batches(len(train_x), batch_size, order)):
                    await optimizer.run_hook("on_batch_begin", step, epoch, variables)
                    callbacks.on_train_batch_begin(step)
                    mini_x = mini_y = None
                    if val_x:
                        pick = optimizer.rng("minibatch", epoch, step).permutation(len(val_x))[
                            :minibatch_size
                        ]
                        mini_x = [val_x[int(i)] for i in sorted(pick)]
                        mini_y = [val_y[int(i)] for i in sorted(pick)] if val_y else None
                    with job.naming(f"epoch-{epoch + 1}-batch-{step + 1}-"):
                        logs = await self._train_step(
                            step,
                            [train_x[i] for i in indices],
                            [train_y[i] for i in indices] if train_y else None,
                            mini_x,
                            mini_y,
                            epoch,
                        )
                    if first_reward is None:
                        first_reward = logs["reward"]
                    await optimizer.run_hook("on_batch_end", step, epoch, variables)
                    await self._publish_variables(job.runtime)
                    callbacks.on_train_batch_end(step, logs)
                    done += 1
                    await self._publish_progress(job.runtime, 100.0 * done / total)
                    if self.stop_training:
                        break
                logs = self._metrics.result()
                if val_x and (epoch + 1) % validation_freq == 0:
                    val_logs = await self._evaluate_samples(
                        val_x, val_y, validation_batch_size, "val"
                    )
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                await optimizer.run_hook("on_epoch_end", epoch, variables)
                callbacks.on_epoch_end(epoch, logs)
                await self._publish_history(job.runtime)
                return logs

            # A task run holding the epoch's batch tasks, not a subflow run: a subflow
            # costs 0.3 s, and its creation at each epoch boundary met the SQLite API
            # still writing the epoch's task runs (503, then Prefect's 2 s back-off).
            epoch_logs = await job.runtime.task(
                "epoch", run_epoch, run_name=f"{self.name}-epoch-{epoch + 1}"
            )
            if self.stop_training:
                break
        await optimizer.run_hook("on_train_end", variables)
        await self._publish_variables(job.runtime)
        callbacks.on_train_end(epoch_logs)
        if job.runtime.tracking:
            await job.runtime.publish_markdown(
                artifacts.summary_key(self.name),
                self._summary_markdown(first_reward, epoch_logs, start_counters),
                f"fit summary of {self.name}",
            )
        await self._publish_plots(job.runtime, graph_image)
        return self.history
