"""What every synaprefect tuner adds to its keras-tuner tuner: programs as trials.

``SearchMixin`` goes in front of a keras-tuner tuner class (``classes.py`` makes the four
public ones), so the oracle, trial persistence and ``get_best_hyperparameters`` stay
keras-tuner's. It changes how trials run:

* **One event loop.** keras-tuner's ``search`` loop is synchronous and ``fit`` is async,
  and litellm's async client is bound to the loop it was first used on. ``asearch`` drives
  keras-tuner's loop itself (``oracle.create_trial``, the trial, ``oracle.update_trial``,
  ``on_trial_end``) and awaits every trial on the caller's loop; ``search`` runs
  ``asearch`` on one loop of its own (in a worker thread when a loop is already running).
* **Concurrent trials.** ``concurrent_trials=N`` runs that loop N times at once on the
  event loop, each copy asking the oracle for trials under its own tuner id, as
  keras-tuner's workers do: the oracle stays the only record of the search. Programs are
  built one at a time, so automatic names stay the same whenever a trial is built.
* **A trial** builds the program (``build_program(hp)`` may be async), then fits it with
  what ``search`` was given and reports the best value over epochs of each objective
  metric and the last value of the others; a program compiled without an optimizer is
  evaluated instead. The trial's variables are saved in its trial folder, which is how
  Hyperband continues a trial and how ``load_model`` rebuilds it.
* **Prefect.** The search is a flow run ``tune-<project>``, each trial a subflow run
  ``<project>-trial-<id>`` showing its hyperparameters; the best hyperparameters and a
  table of every trial are published as artifacts at the end.
* **Resume.** Run the same search again (same ``directory`` and ``project_name``,
  ``overwrite=False``): keras-tuner reloads its trials, finished ones are kept, the one
  that was running is run again, and its fit replays the LM calls it had already made.
"""

from __future__ import annotations

import asyncio
import contextlib
import numbers
import os
import traceback
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from synaprefect.config import clear_session, synaprefect_home
from synaprefect.storage import Location, is_url, location
from synaprefect.storage.mirror import FolderMirror
from synaprefect.trainers.runtime import Runtime, get_runtime, is_tracking
from synaprefect.tuners.keras_host import KerasTunerHost
from synaprefect.tuners.objective import objective_directions, resolve_objective, with_objective
from synaprefect.tuners.remote import trial_request
from synaprefect.tuners.results import publish_results
from synaprefect.tuners.trials import checked_program, train_trial_program
from synaprefect.utils.async_utils import gather_or_cancel, maybe_await, run_sync
from synaprefect.utils.json_utils import atomic_write_json, stable_hash

__all__ = ["SearchMixin"]

if TYPE_CHECKING:
    import keras_tuner

    from synaprefect.programs import Program

_VARIABLES_FILE = "program.variables.json"


def _mirror_of(remote: Location):
    """The local folder mirroring the tuner directory ``remote``."""
    return synaprefect_home() / "tuning-mirrors" / stable_hash(remote.url)[:16]


# How long a trial loop told IDLE waits, at most, before asking the oracle again (it asks
# at once when one of the search's trials ends).
_IDLE_WAIT = 1.0
# Set by a search for its trials: they build programs one at a time, since a build resets
# the automatic names (an asyncio lock belongs to one loop, hence one per search).
_build_lock: ContextVar[asyncio.Lock | None] = ContextVar("synaprefect_build_lock", default=None)


class SearchMixin(KerasTunerHost):
    """The trial logic shared by ``RandomSearch``, ``BayesianOptimization``,
    ``Hyperband`` and ``GridSearch``; placed before the keras-tuner tuner in the MRO."""

    _deployment: str | None = None  # set by a search whose trials run on a work pool

    def __init__(
        self,
        hypermodel: Callable[[Any], Any] | keras_tuner.HyperModel,
        objective: str | keras_tuner.Objective | list | None = None,
        *args: Any,
        **kwargs: Any,
    ):
        if hypermodel is None:
            raise ValueError(
                "A tuner needs `hypermodel=`: a function `build_program(hp)` (sync or "
                "async) returning a compiled synaprefect Program."
            )
        # A keras_tuner.HyperModel works too: its ``build`` is the function.
        self._build_function = getattr(hypermodel, "build", hypermodel)
        # keras-tuner writes local files only: with a storage URL as ``directory``, the
        # project's folder gets a local mirror, filled from the storage now and written
        # back after every trial. Other projects under the URL are neither read nor,
        # with ``overwrite``, removed (keras-tuner's own overwrite removes one project).
        self._mirror: FolderMirror | None = None
        if is_url(kwargs.get("directory", "")):
            remote = location(kwargs["directory"])
            local = _mirror_of(remote)
            project = kwargs.get("project_name") or "untitled_project"  # keras-tuner's
            self._mirror = FolderMirror(remote / project, local / project)
            kwargs["directory"] = str(local)
            if kwargs.get("overwrite"):
                self._mirror.remote.remove()
            self._mirror.pull()
        # keras-tuner builds the hypermodel while constructing the tuner to declare the
        # search space (building a program makes no LM call). Given the async function
        # itself, it would get a coroutine and never see the space: Hyperband then
        # produces no trials at all.
        super().__init__(self._build_now, resolve_objective(objective), *args, **kwargs)

    # ---- building programs ----------------------------------------------------------------

    async def build_program(self, hp: keras_tuner.HyperParameters) -> Program:
        """The program for hyperparameters ``hp``: the hypermodel's, awaited if needed.

        Automatic names restart first (as keras-tuner clears the Keras session before each
        build), so a trial's program has the same names whenever it is built: its fit
        finds the results it persisted in an interrupted run.

        Example: ``program = await tuner.build_program(tuner.get_best_hyperparameters()[0])``
        """
        async with _build_lock.get() or contextlib.nullcontext():
            clear_session()
            program = await maybe_await(self._build_function(hp))
        return checked_program(program)

    def _build_now(self, hp: keras_tuner.HyperParameters) -> Program:
        # keras-tuner's synchronous ``hypermodel.build(hp)``: tracing only, no LM call,
        # so a loop of its own (in a thread if one is running) is safe.
        return run_sync(self.build_program(hp))

    def load_model(self, trial: keras_tuner.engine.trial.Trial) -> Program:
        """The program of a finished ``trial``, with the variables it ended with.

        Example: ``best_program = tuner.get_best_models(num_models=1)[0]``
        """
        program = self._build_now(trial.hyperparameters)
        program.load_variables(self._variables_path(trial.trial_id))
        return program

    def _variables_path(self, trial_id: str) -> str:
        return os.path.join(self.get_trial_dir(trial_id), _VARIABLES_FILE)

    # ---- search -----------------------------------------------------------------------

    def search(
        self,
        *fit_args: Any,
        concurrent_trials: int = 1,
        deployment: str | None = None,
        **fit_kwargs: Any,
    ) -> None:
        """Run the search: ``asearch`` on an event loop of its own.

        Takes ``fit``'s arguments (``x``, ``y``, ``validation_data``, ``epochs``,
        ``batch_size``...), passed to every trial's ``program.fit``, and
        ``concurrent_trials`` and ``deployment`` (see ``asearch``). In async code, use
        ``await tuner.asearch(...)``.

        Example:
        ```python
        tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=2)
        best_hp = tuner.get_best_hyperparameters(num_trials=1)[0]
        ```
        """
        run_sync(
            self.asearch(
                *fit_args, concurrent_trials=concurrent_trials, deployment=deployment, **fit_kwargs
            )
        )

    async def asearch(
        self,
        *fit_args: Any,
        concurrent_trials: int = 1,
        deployment: str | None = None,
        **fit_kwargs: Any,
    ) -> None:
        """Run the search on the running event loop as the Prefect flow run
        ``tune-<project_name>``, each trial a subflow run.

        Up to ``concurrent_trials`` trials run at once (default 1: one after another).
        Trials wait on the LM, so several share one process well; the oracle decides
        what runs next as soon as a trial ends. A trial failing with a keras-tuner
        ``FatalError`` cancels the others and stops the search; they stay unfinished in
        the oracle, so running the search again runs them again.

        With ``deployment`` (a deployment of ``flows/shard.py``, e.g.
        ``"synaprefect-shard/shard"``), each trial runs as a flow run of it on a worker of
        its pool (``tuners.remote``): the hypermodel must be a module-level function the
        workers import, and ``fit``'s options plain JSON. The oracle stays here.

        Example:
        ```python
        await tuner.asearch(x_train, y_train, validation_split=0.25, epochs=2, verbose=0,
                            concurrent_trials=4)
        ```
        """
        integral = isinstance(concurrent_trials, numbers.Integral) and not isinstance(
            concurrent_trials, bool
        )
        if not integral or concurrent_trials < 1:
            raise ValueError(
                "`concurrent_trials` is how many trials run at once: an int >= 1, got "
                f"{concurrent_trials!r}."
            )
        concurrent_trials = int(concurrent_trials)
        if "KERASTUNER_ORACLE_IP" in os.environ:
            raise RuntimeError(
                "keras-tuner's multi-worker mode ($KERASTUNER_ORACLE_IP) is not supported: "
                "unset it and run the search in one process, with `concurrent_trials=` "
                "to run several trials at once."
            )
        if deployment is not None and not is_tracking():
            raise ValueError(
                "`deployment=` runs trials as Prefect flow runs on a work pool, "
                "which needs tracking on."
            )
        runtime = get_runtime()
        self._deployment = deployment

        async def body() -> None:
            await self._search_loop(runtime, concurrent_trials, fit_args, fit_kwargs)
            await publish_results(self.oracle, self.project_name, runtime)

        await runtime.flow(
            f"tune-{self.project_name}",
            body,
            run_name=f"tune-{self.project_name}",
            parameters={
                "tuner": type(self).__name__,
                "objective": str(self.oracle.objective),
                "max_trials": self.oracle.max_trials,
                "concurrent_trials": concurrent_trials,
                "deployment": deployment,
                "project_dir": str(self.project_dir),
            },
        )

    async def _search_loop(
        self, runtime: Runtime, concurrent_trials: int, fit_args: tuple, fit_kwargs: dict
    ) -> None:
        # keras-tuner's ``BaseTuner.search``, with one trial loop per concurrent trial.
        # The oracle keeps one ongoing trial per tuner id (``create_trial`` hands a tuner id
        # its ongoing trial back), so each loop asks with an id of its own.
        if "verbose" in fit_kwargs:
            self.oracle.verbose = fit_kwargs["verbose"]
        self.on_search_begin()
        # Saved now rather than after the first trial: a search killed during its first
        # trial then reloads (and reruns that trial) instead of starting over.
        self.save()
        tuner_ids = [self.tuner_id] + [
            f"{self.tuner_id}-{slot}" for slot in range(1, concurrent_trials)
        ]
        trial_ended = asyncio.Condition()
        token = _build_lock.set(asyncio.Lock())
        try:
            await gather_or_cancel(
                *(
                    self._trial_loop(tuner_id, runtime, trial_ended, fit_args, fit_kwargs)
                    for tuner_id in tuner_ids
                )
            )
        finally:
            _build_lock.reset(token)
        self.on_search_end()

    async def _trial_loop(
        self,
        tuner_id: str,
        runtime: Runtime,
        trial_ended: asyncio.Condition,
        fit_args: tuple,
        fit_kwargs: dict,
    ) -> None:
        # The oracle's calls and saves are synchronous: each is atomic on the event loop.
        from keras_tuner.engine.trial import TrialStatus

        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(tuner_id)
            if trial.status == TrialStatus.STOPPED:
                return
            if trial.status == TrialStatus.IDLE:
                # The oracle waits for a running trial (the rest of a Hyperband round,
                # GridSearch's next combination): ask again when one of ours ends, or
                # after a while for another worker's, without starving the loop.
                async with trial_ended:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(trial_ended.wait(), _IDLE_WAIT)
                continue
            self.on_trial_begin(trial)
            await self._run_and_report(trial, runtime, fit_args, fit_kwargs)
            self.on_trial_end(trial)
            if self._mirror is not None:  # this trial survives the machine
                # Read here, on the loop where keras-tuner writes its files: a file is
                # never read half-written. Written to the storage off the loop.
                changed = self._mirror.changed_files()
                await asyncio.to_thread(self._mirror.upload, changed)
            async with trial_ended:
                trial_ended.notify_all()

    async def _run_and_report(
        self,
        trial: keras_tuner.engine.trial.Trial,
        runtime: Runtime,
        fit_args: tuple,
        fit_kwargs: dict,
    ) -> None:
        # keras-tuner's ``_try_run_and_update_trial``, the trial being a subflow run.
        from keras_tuner import errors
        from keras_tuner.engine.trial import TrialStatus

        deployment = self._deployment
        run: Callable[[], Awaitable[dict[str, float]]]
        if deployment is None:
            run = lambda: self.run_trial(trial, *fit_args, **fit_kwargs)  # noqa: E731
        else:
            run = lambda: self._run_trial_on_pool(  # noqa: E731
                trial, deployment, fit_args, fit_kwargs
            )
        try:
            metrics = await runtime.stage(
                "trial",
                run,
                run_name=f"{self.project_name}-trial-{trial.trial_id}",
                parameters=dict(trial.hyperparameters.values),
            )
            self.oracle.update_trial(trial.trial_id, metrics)
            trial.status = TrialStatus.COMPLETED
        except errors.FatalError:
            raise
        except Exception as error:
            # Like keras-tuner: a failed trial is retried (up to
            # ``max_retries_per_trial``) or recorded as failed; the search goes on.
            trial.status = (
                TrialStatus.FAILED
                if isinstance(error, errors.FailedTrialError)
                else TrialStatus.INVALID
            )
            trial.message = traceback.format_exc()

    async def run_trial(
        self, trial: keras_tuner.engine.trial.Trial, *fit_args: Any, **fit_kwargs: Any
    ) -> dict[str, float]:
        """Build the trial's program, fit it and return its metrics: objective metrics at
        their best epoch value, the others at their last. A program compiled without an
        optimizer is evaluated instead, on ``validation_data`` (else on ``x``/``y``), each
        metric reported as ``name`` and ``val_name``. A coroutine, unlike keras-tuner's
        hook, since ``fit`` is one.

        Hyperband's ``tuner/epochs`` and ``tuner/initial_epoch`` become ``epochs`` and
        ``initial_epoch``, and a trial continuing ``tuner/trial_id`` starts from the
        variables that trial ended with.

        Example: ``metrics = await tuner.run_trial(trial, x, y, epochs=2)``
        """
        hp = trial.hyperparameters
        program = await self.build_program(hp)
        if "tuner/trial_id" in hp.values:
            program.load_variables(self._variables_path(hp.values["tuner/trial_id"]))
        metrics = await train_trial_program(
            program, hp, fit_args, fit_kwargs, objective_directions(self.oracle)
        )
        program.save_variables(self._variables_path(trial.trial_id))
        return with_objective(self.oracle, metrics)

    async def _run_trial_on_pool(
        self,
        trial: keras_tuner.engine.trial.Trial,
        deployment: str,
        fit_args: tuple,
        fit_kwargs: dict,
    ) -> dict[str, float]:
        # ``run_trial`` as a flow run of the deployment, on a worker; its variables come
        # back into the trial's folder, where ``load_model`` and Hyperband find them.
        # Prefect's deployments are imported by a search on a work pool only.
        from synaprefect.orchestration.work_pools import run_on_work_pool

        request = trial_request(self, trial, fit_args, fit_kwargs)
        [result] = await run_on_work_pool(
            [request], deployment=deployment, labels=[f"{self.project_name}-trial-{trial.trial_id}"]
        )
        atomic_write_json(self._variables_path(trial.trial_id), result["variables"])
        return with_objective(self.oracle, result["metrics"])
