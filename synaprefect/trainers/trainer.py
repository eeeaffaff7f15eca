"""``compile`` / ``fit`` / ``evaluate`` / ``predict``: the training loop of programs.

Every unit of work goes through a ``Runtime`` (``synaprefect.orchestration``): ``fit``,
``evaluate`` and ``predict`` are flows, each epoch a stage, each batch, optimizer update and
module call a task. Task bodies compute and return results; the loop applies them, so a
retried task never applies anything twice.
"""

import copy
import inspect
import logging
from typing import Any

import numpy as np

from synaprefect.language_models.base import ModelBase
from synaprefect.language_models.phases import PHASES, phase_scope
from synaprefect.modules.recording import sample_scope
from synaprefect.optimizers import get as get_optimizer
from synaprefect.orchestration.runtime import LocalRuntime, Runtime, get_runtime
from synaprefect.utils.async_utils import gather_or_cancel, maybe_await
from synaprefect.trainers import data as D
from synaprefect.trainers.compile_utils import CompiledMetrics, CompiledRewards
from synaprefect.trainers.replay import (
    STORE_FORMAT,
    RunStore,
    current_journal,
    encode,
    results_root,
    run_store_scope,
)
from synaprefect.utils.json_utils import stable_hash
from synaprefect.utils.nest import flatten

__all__ = ["Trainer"]

logger = logging.getLogger("synaprefect.trainers")
# Batch, module and update tasks retry once on transient failures, after the model's own
# retries; more would hide an outage.
TASK_RETRIES = 1
TASK_RETRY_DELAY = 2.0


class Trainer:
    """The training API mixed into ``Program``."""

    compiled = False
    optimizer = None
    stop_training = False
    stop_reason: str | None = None
    history = None
    _initial_epoch = None
    _runtime: Runtime | None = None
    _task_runner: Any = None
    _remote_template: dict | None = None
    task_granularity = "module"

    # ---- compile ------------------------------------------------------------------------

    def compile(self, optimizer=None, reward=None, reward_weights=None, metrics=None,
                run_eagerly: bool = False, steps_per_execution: int = 1,
                task_granularity: str = "module") -> None:
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
            if self.built:  # its own modules exist at once, so a loaded state fits them
                self.optimizer.build(self.trainable_variables)
        self.task_granularity = task_granularity
        self.compiled = True
        # Bound last, so operational metrics also see the judges' and optimizer's models.
        self._metrics = CompiledMetrics(metrics, self.language_models())

    def _get_compile_config(self) -> dict | None:
        if not self.compiled:
            return None
        from synaprefect.saving.serialization import serialize_object

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

    def metric_direction(self, name: str) -> str | None:
        """``"up"``/``"down"`` for a log key such as ``val_reward`` or ``accuracy``."""
        name = name[4:] if name.startswith("val_") else name
        if name == "reward" or name.endswith("_reward"):
            return "up"
        return self._metrics.direction(name) if self.compiled else None

    def language_models(self) -> list[ModelBase]:
        """Every language or embedding model the program, its rewards and its optimizer
        use (for cost accounting)."""
        found: dict[int, ModelBase] = {}
        owners: list[Any] = list(self._walk())
        if self.compiled:
            extra = list(self._rewards.rewards)
            if self.optimizer is not None:
                extra += [self.optimizer, *self.optimizer.modules()]
            for owner in extra:
                owners.append(owner)
                for value in vars(owner).values():  # e.g. LMAsJudge's SelfCritique
                    if hasattr(value, "_walk"):
                        owners += list(value._walk())
        for owner in owners:
            for value in vars(owner).values():
                for item in flatten(value) if isinstance(value, (list, dict, tuple)) else [value]:
                    if isinstance(item, ModelBase):
                        found.setdefault(id(item), item)
                        if getattr(item, "fallback", None) is not None:
                            found.setdefault(id(item.fallback), item.fallback)
        return list(found.values())

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

    # ---- per-batch building blocks ------------------------------------------------------

    def _runtime_now(self) -> Runtime:
        return self._runtime or LocalRuntime()

    def _recording_modules(self) -> list:
        return [m for m in self._walk() if hasattr(m, "take_predictions")]

    def _state_fingerprint(self) -> str:
        parts = [[v.path, v.value()] for v in self.variables]
        if self.compiled and self.optimizer is not None:
            parts += [[v.path, v.value()] for v in self.optimizer.variables]
        return stable_hash(parts)

    def _setup_digest(self) -> str:
        """What a stored result depends on besides the state: the library version, every
        module (its config, or its code when it has none) and the compile settings."""
        from synaprefect.version import __version__

        parts: list[Any] = [__version__, [_identity(m) for m in self._walk()]]
        if self.compiled:
            parts += [[_identity(r) for r in self._rewards.rewards], self._rewards.weights,
                      _identity(self.optimizer) if self.optimizer else None]
        return stable_hash(parts)

    def _step_key(self, kind: str, x: list, y: list | None, **where) -> list | None:
        """The key of a step, computed before it runs (a retried step must find the key
        of its first attempt); None outside a resumable job."""
        if current_journal() is None:
            return None
        return [kind, self._setup_key, self._state_fingerprint(), encode(x), encode(y),
                where]

    async def _replayable(self, key: list | None, body):
        """Run ``body``, or replay its persisted result when this job already did."""
        store = current_journal()
        if store is None or key is None:
            return await body()
        return await store.step(key, body, meter=self._live_usage)

    def _live_usage(self) -> dict[str, float]:
        """Cost, paid calls and tokens of this process's models so far (cache hits and
        journal replays are free)."""
        totals = {"cost": 0.0, "calls": 0.0, "tokens": 0.0}
        for model in self.language_models():
            counters = model.counters()
            totals["cost"] += counters["cost"]
            totals["calls"] += counters["calls"] - counters["cache_hits"]
            totals["tokens"] += counters["total_tokens"]
        return totals

    def spent_totals(self) -> dict[str, float]:
        """Cost (USD), paid calls and tokens of the program's models so far, including
        what the replayed steps of a resumed job cost when they first ran.

        Example: ``program.spent_totals()  # {"cost": 0.42, "calls": 310.0, "tokens": ...}``
        """
        totals = self._live_usage()
        store = current_journal()
        for name, value in (store.replayed_usage if store is not None else {}).items():
            totals[name] = totals.get(name, 0.0) + value
        return totals

    def _run_store(self, kind: str, samples: list, targets: list | None, options: dict,
                   resume: bool) -> RunStore:
        """The folder of this job's persisted results: same setup, starting state, data,
        options and seed give the same folder, so an unfinished job resumes."""
        from synaprefect.config import get_seed

        self._setup_key = self._setup_digest()
        fingerprint = stable_hash([STORE_FORMAT, kind, self._setup_key,
                                   self._state_fingerprint(), encode(samples),
                                   encode(targets), options, get_seed()])
        directory = results_root() / self.name / f"{kind}-{fingerprint[:20]}"
        return RunStore(directory, fresh=not resume)

    async def _prepare_run(self, sample) -> None:
        """Build what a run needs before its starting state is recorded: a program built
        on its first call, and the optimizer's own modules."""
        if not self.built:
            await self._maybe_build((sample,))
        if self.compiled and self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    async def predict_on_batch(self, x: list, training: bool = False) -> list:
        """Run every sample of ``x`` concurrently; returns one output per sample."""
        return await self._predict_samples(D.to_samples(x, "x"), training)

    async def _predict_samples(self, samples: list, training: bool = False) -> list:
        runtime = self._runtime_now()
        prefix = getattr(self, "_task_prefix", "")

        async def run_module(module, calls):
            async def one(index, args, kwargs):
                with sample_scope(index):
                    return await module(*args, training=training, **kwargs)

            async def body():
                return await gather_or_cancel(
                    *(one(i, args, kwargs) for i, (args, kwargs) in enumerate(calls)))

            if self.task_granularity == "batch" or isinstance(runtime, LocalRuntime):
                return await body()
            if self.task_granularity == "sample":
                return await gather_or_cancel(*(
                    runtime.task(module.name, lambda i=i, a=a, k=k: one(i, a, k),
                                 run_name=f"{prefix}{module.name}-sample-{i + 1}",
                                 retries=TASK_RETRIES, retry_delay=TASK_RETRY_DELAY)
                    for i, (a, k) in enumerate(calls)))
            return await runtime.task(module.name, body, run_name=f"{prefix}{module.name}",
                                      retries=TASK_RETRIES, retry_delay=TASK_RETRY_DELAY)

        graph = getattr(self, "_graph", None)
        if graph is not None:
            return await graph.run_batch(samples, run_module)
        # A subclassed program has no graph to split: it is one module for the batch.
        return await run_module(self, [((s,), {}) for s in samples])

    async def compute_rewards(self, y: list, y_pred: list) -> list[float]:
        """One reward per sample (failed predictions score what the reward gives None)."""
        if not self._rewards.rewards:
            return [0.0] * len(y_pred)
        with phase_scope("reward"):
            return await self._rewards(list(y) if y is not None else [None] * len(y_pred),
                                       list(y_pred))

    async def _predict_and_score(self, x: list, y: list, training: bool) -> dict:
        """A pure batch step: predictions, rewards and the recorded predictions."""
        modules = self._recording_modules()
        for module in modules:
            module.take_predictions()  # drop leftovers of a failed attempt
        y_pred = await self._predict_samples(x, training=training)
        rewards = await self.compute_rewards(y, y_pred)
        recorded = {}
        if training:
            trainable = {id(v) for v in self.trainable_variables}
            for module in modules:
                taken = module.take_predictions()
                if id(module.state) in trainable:
                    recorded[module.state.path] = taken
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

    async def train_on_batch(self, step: int, x: list, y: list | None = None,
                             val_x: list | None = None, val_y: list | None = None,
                             epoch: int = 0, return_dict: bool = False):
        """One optimization step on a batch: predict and score it, let the optimizer
        propose a candidate, score the candidate on the validation minibatch (or on the
        batch itself without validation data), keep it if it is new."""
        self._require_compiled("train_on_batch")
        x, y = D.to_samples(x, "x"), D.to_samples(y, "y")
        val_x, val_y = D.to_samples(val_x, "val_x"), D.to_samples(val_y, "val_y")
        logs = await self._train_step(step, x, y, val_x, val_y, epoch)
        return logs if return_dict else list(logs.values())

    async def _train_step(self, step: int, x: list, y: list | None, val_x: list | None,
                          val_y: list | None, epoch: int) -> dict:
        runtime = self._runtime_now()
        variables = self.trainable_variables
        y = y if y is not None else [None] * len(x)
        batch_key = self._step_key("train-batch", x, y, epoch=epoch, step=step)
        result = await runtime.task(
            "train-batch", lambda: self._replayable(
                batch_key, lambda: self._predict_and_score(x, y, training=True)),
            run_name=f"{self._task_prefix}train-batch", retries=TASK_RETRIES,
            retry_delay=TASK_RETRY_DELAY)
        await self._metrics.update(y, result["y_pred"], result["rewards"])
        logs = {"reward": self._rewards.reduce(result["rewards"])}
        if self.optimizer is None or not variables:
            return logs
        self.optimizer.assign_rewards(result["recorded"], result["rewards"], variables)
        state = variables + self.optimizer.variables
        before = {v.path: copy.deepcopy(v.value()) for v in state}
        candidate_x, candidate_y = (val_x, val_y) if val_x else (x, y)
        update_key = self._step_key("optimizer-update", x, y, epoch=epoch, step=step,
                                    candidates=encode(candidate_x))

        async def update():
            for variable in state:  # a retried update starts from the same state
                variable.assign(before[variable.path])
            with phase_scope("optimizer"):
                await self.optimizer.propose_new_candidates(
                    step, epoch, variables, x, y, result["y_pred"])
                scored = await self._predict_and_score(candidate_x, candidate_y,
                                                       training=False)
            score = self._rewards.reduce(scored["rewards"])
            self.optimizer.add_candidate(variables, score)
            return {"candidate_reward": score,
                    "variables": {v.path: copy.deepcopy(v.value()) for v in state}}

        updated = await runtime.task(
            "optimizer-update", lambda: self._replayable(update_key, update),
            run_name=f"{self._task_prefix}optimizer-update", retries=TASK_RETRIES,
            retry_delay=TASK_RETRY_DELAY)
        for variable in state:
            variable.assign(updated["variables"][variable.path])
        logs["candidate_reward"] = updated["candidate_reward"]
        return logs

    _task_prefix = ""
    _setup_key = ""
    replayed_steps = 0
    _busy: str | None = None

    # ---- fit ----------------------------------------------------------------------------

    def _prepare(self, x, y, what: str) -> tuple[list, list | None]:
        samples = D.to_samples(x, "x")
        if samples is None or not samples:
            raise ValueError(f"{what}() needs samples: pass `x=` (a list or numpy array).")
        targets = D.to_samples(y, "y")
        if targets is not None and len(targets) != len(samples):
            raise ValueError(
                f"`x` and `y` must have the same length, got {len(samples)} and "
                f"{len(targets)}."
            )
        D.check_against_inputs(self, samples, "x")
        return samples, targets

    async def fit(self, x=None, y=None, batch_size: int = 1, minibatch_size: int = 4,
                  epochs: int = 1, verbose="auto", callbacks=None,
                  validation_split: float = 0.1, validation_data=None, shuffle: bool = True,
                  initial_epoch: int = 0, validation_batch_size: int = 32,
                  validation_freq: int = 1, resume: bool = True, flow_retries: int = 0):
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
            val_x, val_y = self._prepare(*validation_data, "fit")
        else:
            (train_x, train_y), (val_x, val_y) = D.train_validation_split(
                samples, targets, validation_split)
        if epochs < 1 or initial_epoch < 0:
            raise ValueError(f"Expected epochs >= 1 and initial_epoch >= 0, got {epochs} "
                             f"and {initial_epoch}.")
        D.batches(len(train_x), batch_size)  # validates batch_size early
        verbose = 1 if verbose == "auto" else verbose
        steps = len(D.batches(len(train_x), batch_size))
        if verbose:
            from synaprefect.trainers.estimate import estimate_calls, format_estimate

            print(format_estimate("fit", estimate_calls(
                self, train_x, epochs=epochs - initial_epoch, batch_size=batch_size,
                validation_data=(val_x, val_y) if val_x else None, validation_split=0.0,
                minibatch_size=minibatch_size, validation_freq=validation_freq)))
        callback_list = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                     program=self, epochs=epochs, steps=steps,
                                     verbose=verbose)
        runtime = get_runtime()

        async def body():
            return await self._fit_loop(runtime, callback_list, train_x, train_y, val_x,
                                        val_y, batch_size, minibatch_size, epochs,
                                        shuffle, initial_epoch, validation_batch_size,
                                        validation_freq, steps)

        if self.optimizer is None:
            logger.warning("fit() without an optimizer changes nothing: pass "
                           "`optimizer=` to compile(). Returning an empty History.")
        options = {"batch_size": batch_size, "minibatch_size": minibatch_size,
                   "validation": [encode(val_x), encode(val_y)], "shuffle": shuffle,
                   "validation_freq": validation_freq,
                   "validation_batch_size": validation_batch_size}
        return await self._run_job(runtime, "fit", body, train_x, train_y, options, resume,
                                   flow_retries, samples=len(train_x), epochs=epochs,
                                   batch_size=batch_size)

    async def _as_flow(self, runtime: Runtime, kind: str, body, store: RunStore,
                       retries: int = 0, task_runner: Any = None, **parameters):
        """Run ``body`` as the job's flow. Every attempt (Prefect flow retries included)
        starts from the same state, so finished steps replay from ``store``."""
        start = self.get_state_tree()
        if task_runner is not None:  # the state every remote batch starts from, once
            from synaprefect.trainers.shards import shard_template

            self._remote_template = shard_template(self)
        previous, self._runtime = self._runtime, runtime
        self._task_runner = task_runner

        async def attempt():
            self.set_state_tree(start)
            store.start_attempt()
            for module in self._recording_modules():
                module.take_predictions()
            with run_store_scope(store):
                result = await body()
            if store.replayed_steps or store.replayed_calls:
                runtime.log(f"{kind} of {self.name}: replayed {store.replayed_steps} "
                            f"finished steps and {store.replayed_calls} LM calls from "
                            f"{store.directory}")
            self.replayed_steps = store.replayed_steps
            return result

        try:
            result = await runtime.flow(self.name, attempt, run_name=f"{kind}-{self.name}",
                                        parameters={"kind": kind, **parameters},
                                        retries=retries, task_runner=task_runner)
        finally:
            self._runtime, self._task_runner, self._remote_template = previous, None, None
            store.close()
        store.finish()
        return result

    async def _run_job(self, runtime: Runtime, kind: str, body, data: list,
                       targets: list | None, options: dict, resume: bool, retries: int,
                       task_runner: Any = None, **parameters):
        """fit / evaluate / predict: build, find the run folder, run the flow."""
        if task_runner is not None and not runtime.tracking:
            raise ValueError(
                f"{kind}(task_runner=...) runs batches as Prefect tasks on that runner, "
                "which needs tracking on: remove `tracking(False)` / "
                "`SYNAPREFECT_TRACKING=0`, or drop `task_runner`."
            )
        if self._busy is not None:
            raise RuntimeError(
                f"Program '{self.name}' is already running {self._busy}(); run {kind}() "
                "after it, or on a copy (Program.load of a saved file)."
            )
        self._busy = kind
        try:
            await self._prepare_run(data[0])
            store = self._run_store(kind, data, targets, options, resume)
            return await self._as_flow(runtime, kind, body, store, retries=retries,
                                       task_runner=task_runner, **parameters)
        finally:
            self._busy = None

    async def _fit_loop(self, runtime, callbacks, train_x, train_y, val_x, val_y,
                        batch_size, minibatch_size, epochs, shuffle, initial_epoch,
                        validation_batch_size, validation_freq, steps):
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
        if not self.optimizer.built:
            self.optimizer.build(variables)
        self.optimizer.on_train_begin(variables, initial_epoch=first_epoch)
        total = max(1, (epochs - first_epoch) * steps)
        done, first_reward, epoch_logs = 0, None, {}
        for epoch in range(first_epoch, epochs):
            async def run_epoch(epoch=epoch):
                nonlocal done, first_reward
                self._reset_metrics()
                self.optimizer.on_epoch_begin(epoch, variables)
                callbacks.on_epoch_begin(epoch)
                order = list(range(len(train_x)))
                if shuffle:
                    order = [int(i) for i in self.optimizer.rng("shuffle", epoch)
                             .permutation(len(train_x))]
                for step, indices in enumerate(D.batches(len(train_x), batch_size, order)):
                    self._task_prefix = f"epoch-{epoch + 1}-batch-{step + 1}-"
                    self.optimizer.on_batch_begin(step, epoch, variables)
                    callbacks.on_train_batch_begin(step)
                    mini_x = mini_y = None
                    if val_x:
                        pick = self.optimizer.rng("minibatch", epoch, step).permutation(
                            len(val_x))[:minibatch_size]
                        mini_x = [val_x[int(i)] for i in sorted(pick)]
                        mini_y = [val_y[int(i)] for i in sorted(pick)] if val_y else None
                    logs = await self._train_step(
                        step, [train_x[i] for i in indices],
                        [train_y[i] for i in indices] if train_y else None,
                        mini_x, mini_y, epoch)
                    if first_reward is None:
                        first_reward = logs["reward"]
                    self.optimizer.on_batch_end(step, epoch, variables)
                    await self._publish_variables(runtime)
                    callbacks.on_train_batch_end(step, logs)
                    done += 1
                    await self._publish_progress(runtime, 100.0 * done / total)
                    if self.stop_training:
                        break
                self._task_prefix = ""
                logs = self._metrics.result()
                if val_x and (epoch + 1) % validation_freq == 0:
                    val_logs = await self._evaluate_samples(val_x, val_y,
                                                            validation_batch_size, "val")
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                await maybe_await(self.optimizer.on_epoch_end(epoch, variables))
                callbacks.on_epoch_end(epoch, logs)
                await self._publish_history(runtime)
                return logs

            epoch_logs = await runtime.stage("epoch", run_epoch,
                                             run_name=f"{self.name}-epoch-{epoch + 1}")
            if self.stop_training:
                break
        self.optimizer.on_train_end(variables)
        await self._publish_variables(runtime)
        callbacks.on_train_end(epoch_logs)
        if runtime.tracking:
            from synaprefect.orchestration import artifacts

            await runtime.publish_markdown(
                artifacts.summary_key(self.name),
                self._summary_markdown(first_reward, epoch_logs, start_counters),
                f"fit summary of {self.name}")
        return self.history

    def _reset_metrics(self) -> None:
        self._metrics.reset()

    def _counters_by_phase(self) -> dict[str, dict[str, float]]:
        models = self.language_models()
        return {phase: {k: sum(m.counters(phase)[k] for m in models)
                        for k in ("calls", "failed_calls", "total_tokens", "cost")}
                for phase in PHASES}

    # Artifacts are only computed when a tracking runtime will store them.

    async def _publish_variables(self, runtime: Runtime) -> None:
        if not runtime.tracking:
            return
        from synaprefect.orchestration import artifacts

        for variable in self.trainable_variables:
            await runtime.publish_json(
                artifacts.variable_artifact_key(self.name, variable.path), variable.value(),
                f"{variable.path} after optimizer step {self.optimizer.iterations}")

    async def _publish_progress(self, runtime: Runtime, percent: float) -> None:
        if runtime.tracking:
            from synaprefect.orchestration import artifacts

            await runtime.progress(artifacts.progress_key(self.name), percent,
                                   f"fit progress of {self.name}")

    async def _publish_history(self, runtime: Runtime) -> None:
        if not runtime.tracking or self.history is None:
            return
        from synaprefect.orchestration import artifacts

        keys = list(self.history.history)
        rows = [{"epoch": epoch + 1, **{k: self.history.history[k][i] for k in keys
                                        if i < len(self.history.history[k])}}
                for i, epoch in enumerate(self.history.epoch)]
        await runtime.publish_table(artifacts.history_table_key(self.name), rows,
                                    f"History of {self.name}")

    def _summary_markdown(self, first_reward, logs, start_counters) -> str:
        end = self._counters_by_phase()
        final = logs.get("val_reward", logs.get("reward"))
        lines = [f"# Fit of `{self.name}`", "",
                 f"- reward of the first batch (before training): {_fmt(first_reward)}",
                 f"- final {'val_reward' if 'val_reward' in logs else 'reward'}: "
                 f"{_fmt(final)}",
                 f"- optimizer steps: {self.optimizer.iterations}, epochs: "
                 f"{self.optimizer.epochs}"]
        if self.stop_reason:
            lines.append(f"- stopped early: {self.stop_reason}")
        lines += ["", "| phase | calls | failed | tokens | cost (USD) |", "|---|---|---|---|---|"]
        for phase in PHASES:
            delta = {k: end[phase][k] - start_counters[phase][k] for k in end[phase]}
            lines.append(f"| {phase} | {int(delta['calls'])} | {int(delta['failed_calls'])} |"
                         f" {int(delta['total_tokens'])} | {delta['cost']:.6f} |")
        for variable in self.trainable_variables:
            best = {k: v for k, v in variable.value().items()
                    if k in ("instructions", "examples")}
            lines += ["", f"## Best candidate of `{variable.path}`", "", "```json",
                      _json(best), "```"]
        return "\n".join(lines)

    # ---- evaluate / predict -------------------------------------------------------------

    async def _evaluate_batch(self, step: int, bx: list, by: list, kind: str) -> dict:
        """One batch of an evaluation, as a (replayable) task: predictions and rewards."""
        self._task_prefix = f"{kind}-batch-{step + 1}-"
        key = self._step_key(f"{kind}-batch", bx, by)
        if self._task_runner is not None:
            return await self._replayable(
                key, lambda: self._remote_batch("evaluate", bx, by, f"{kind}-batch",
                                                f"{kind}-batch-{step + 1}"))
        return await self._runtime_now().task(
            f"{kind}-batch", lambda: self._replayable(
                key, lambda: self._predict_and_score(bx, by, False)),
            run_name=f"{kind}-batch-{step + 1}", retries=TASK_RETRIES,
            retry_delay=TASK_RETRY_DELAY)

    async def _predict_batch(self, step: int, batch: list) -> list:
        """One batch of a prediction, as a (replayable) task: one output per sample."""
        self._task_prefix = f"predict-batch-{step + 1}-"
        key = self._step_key("predict-batch", batch, None)
        if self._task_runner is not None:
            return await self._replayable(
                key, lambda: self._remote_batch("predict", batch, None, "predict-batch",
                                                f"predict-batch-{step + 1}"))
        return await self._runtime_now().task(
            "predict-batch", lambda: self._replayable(
                key, lambda: self._predict_samples(batch)),
            run_name=f"predict-batch-{step + 1}", retries=TASK_RETRIES,
            retry_delay=TASK_RETRY_DELAY)

    async def _remote_batch(self, kind: str, batch: list, targets: list | None,
                            name: str, run_name: str):
        """One batch run by the job's task runner, wherever it runs tasks (a Dask worker):
        the program and the batch travel as JSON (``trainers.shards``)."""
        from synaprefect.trainers.shards import decode, request_for

        request = request_for(self._remote_template, kind, batch, targets, len(batch))
        [result] = decode(await self._runtime_now().remote(name, request,
                                                           run_name=run_name))
        return result

    async def _in_order(self, calls: list) -> Any:
        """The results of ``calls`` (coroutine functions, one per batch) in order: one
        batch after another in this process, all at once on a task runner (other
        processes do the work; batch-begin callbacks then all fire at the start)."""
        if self._task_runner is None:
            for call in calls:
                yield await call()
            return
        for result in await gather_or_cancel(*(call() for call in calls)):
            yield result

    async def _evaluate_samples(self, x: list, y: list | None, batch_size: int,
                                kind: str, callbacks=None) -> dict[str, float]:
        self._reset_metrics()
        batches = D.batch_pairs(x, y, batch_size)

        async def run(step: int, bx: list, by: list) -> dict:
            if callbacks is not None:
                callbacks.on_test_batch_begin(step)
            return await self._evaluate_batch(step, bx, by, kind)

        calls = [lambda step=step, bx=bx, by=by: run(step, bx, by)
                 for step, (bx, by) in enumerate(batches)]
        step = 0
        async for result in self._in_order(calls):
            await self._metrics.update(batches[step][1], result["y_pred"], result["rewards"])
            if callbacks is not None:
                callbacks.on_test_batch_end(step, self._metrics.result())
            step += 1
        self._task_prefix = ""
        return self._metrics.result()

    async def _run_shard_job(self, kind: str, samples: list, targets: list | None,
                             batch_size: int) -> list:
        """The per-batch results of an evaluate (predictions and rewards, no metrics) or
        predict of ``samples``, as this program's own resumable job: what a shard runs
        in another process (``trainers.shards``)."""
        if kind == "evaluate":
            self._require_compiled("evaluate")
        samples, targets = self._prepare(samples, targets, kind)

        async def body():
            results = []
            for step, (batch, by) in enumerate(D.batch_pairs(samples, targets, batch_size)):
                if kind == "predict":
                    results.append(await self._predict_batch(step, batch))
                    continue
                scored = await self._evaluate_batch(step, batch, by, "test")
                results.append({"y_pred": scored["y_pred"], "rewards": scored["rewards"]})
            self._task_prefix = ""
            return results

        return await self._run_job(get_runtime(), f"{kind}-shard", body, samples, targets,
                                   {"batch_size": batch_size}, True, 0,
                                   samples=len(samples), batch_size=batch_size)

    async def _publish_evaluation(self, runtime: Runtime, logs: dict,
                                  description: str) -> None:
        """The scores as the ``<program>-evaluation`` table (tracking on)."""
        if runtime.tracking:
            from synaprefect.orchestration import artifacts

            await runtime.publish_table(artifacts.evaluation_key(self.name),
                                        [{"metric": k, "value": v} for k, v in logs.items()],
                                        description)

    async def evaluate(self, x=None, y=None, batch_size: int = 32, verbose="auto",
                       callbacks=None, return_dict: bool = True, resume: bool = True,
                       flow_retries: int = 0, task_runner: Any = None):
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
        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, program=self,
                                     steps=steps, verbose=verbose)
        runtime = get_runtime()

        async def body():
            callback_list.on_test_begin()
            logs = await self._evaluate_samples(samples, targets, batch_size, "test",
                                                callback_list)
            callback_list.on_test_end(logs)
            await self._publish_evaluation(runtime, logs, f"evaluation of {self.name}")
            return logs

        logs = await self._run_job(runtime, "evaluate", body, samples, targets,
                                   {"batch_size": batch_size}, resume, flow_retries,
                                   task_runner, samples=len(samples), batch_size=batch_size)
        return logs if return_dict else list(logs.values())

    async def predict(self, x=None, batch_size: int | None = None, verbose="auto",
                      callbacks=None, resume: bool = True, flow_retries: int = 0,
                      task_runner: Any = None) -> np.ndarray:
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
        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, program=self,
                                     steps=len(batches), verbose=verbose)
        runtime = get_runtime()

        async def body():
            outputs = []
            callback_list.on_predict_begin()

            async def run(step: int, indices: list) -> list:
                callback_list.on_predict_batch_begin(step)
                return await self._predict_batch(step, [samples[i] for i in indices])

            calls = [lambda step=step, indices=indices: run(step, indices)
                     for step, indices in enumerate(batches)]
            step = 0
            async for batch_outputs in self._in_order(calls):
                outputs += batch_outputs
                callback_list.on_predict_batch_end(step, {"outputs": len(outputs)})
                step += 1
            self._task_prefix = ""
            callback_list.on_predict_end()
            return outputs

        outputs = await self._run_job(runtime, "predict", body, samples, None,
                                      {"batch_size": batch_size}, resume, flow_retries,
                                      task_runner, samples=len(samples),
                                      batch_size=batch_size)
        return D.object_array(outputs)


def _identity(obj: Any) -> Any:
    """A stable description of an object for keys: its config, or, when it has none
    (code-backed modules, lambdas), its class and the code it runs."""
    try:
        return [type(obj).__qualname__, obj.get_config()]
    except (NotImplementedError, AttributeError, TypeError):
        code = [v.__code__.co_code.hex() for v in vars(obj).values() if hasattr(v, "__code__")]
        try:
            source = inspect.getsource(type(obj))
        except (OSError, TypeError):
            source = type(obj).__qualname__
        return [type(obj).__qualname__, stable_hash(source), code]


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _json(value) -> str:
    from synaprefect.utils.json_utils import pretty_dumps

    return pretty_dumps(value)
