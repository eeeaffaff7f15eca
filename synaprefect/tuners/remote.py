"""A tuning trial as JSON, to run on another process (a work pool's worker).

``trial_request`` describes a trial without pickling anything: the hypermodel by its
import path, the trial's hyperparameters (keras-tuner's config), the variables a
Hyperband continuation starts from, ``fit``'s data and options, the objective's
directions and the seed. The receiving process imports the module the request names: run
workers only for people you would let run code there. ``run_trial_request`` builds the program there, fits (or evaluates) it and
returns the metrics and the variables it ended with; the search's oracle, on the caller's
side, stays the only record of the search.

Example:
```python
request = trial_request(tuner, trial, (x, y), {"epochs": 2, "validation_split": 0.25})
result = await run_trial_request(request)      # anywhere the hypermodel imports
result["metrics"], result["variables"]
```
"""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING, Any

from synaprefect.config import clear_session
from synaprefect.trainers import data as D
from synaprefect.trainers.replay import decode, encode
from synaprefect.trainers.shards import register_request_kind
from synaprefect.tuners.objective import objective_directions
from synaprefect.tuners.trials import checked_program, train_trial_program
from synaprefect.utils.async_utils import maybe_await
from synaprefect.utils.imports import import_object
from synaprefect.utils.json_utils import read_json_file

if TYPE_CHECKING:
    import keras_tuner

    from synaprefect.tuners.tuner import SearchMixin

__all__ = ["trial_request", "run_trial_request"]

# fit() arguments holding samples: encoded as data, the others must be plain JSON.
_DATA = ("x", "y", "validation_data")


def _hypermodel_path(function: Any) -> str:
    from keras_tuner import errors

    module, name = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    if not module or module == "__main__" or "<" in name:
        raise errors.FatalValueError(
            "To run trials on workers, the hypermodel must be a module-level function "
            f"that the workers can import, got {function!r}: move `build_program(hp)` to "
            "a module installed (or on the PYTHONPATH) where the workers run."
        )
    return f"{module}:{name}"


def _fit_arguments(fit_args: tuple, fit_kwargs: dict) -> dict:
    from keras_tuner import errors

    from synaprefect.trainers.trainer import Trainer

    bound = inspect.signature(Trainer.fit).bind(None, *fit_args, **fit_kwargs).arguments
    bound.pop("self")
    data, options = {}, {}
    for name, value in bound.items():
        if name in _DATA:
            data[name] = (
                [D.to_samples(part, name) for part in value]
                if name == "validation_data"
                else D.to_samples(value, name)
            )
            continue
        try:
            json.dumps(value)
        except TypeError:
            raise errors.FatalValueError(
                f"`{name}={value!r:.60}` cannot travel to a worker (it is not JSON): "
                "search on workers takes fit()'s data and JSON options only."
            ) from None
        options[name] = value
    return {"data": encode(data), "options": options}


def trial_request(
    tuner: SearchMixin, trial: keras_tuner.engine.trial.Trial, fit_args: tuple, fit_kwargs: dict
) -> dict:
    """The JSON request that runs ``trial`` of ``tuner`` elsewhere.

    Example: ``request = trial_request(tuner, trial, (x, y), {"epochs": 2})``
    """
    hp = trial.hyperparameters
    start = None
    if "tuner/trial_id" in hp.values:  # Hyperband continues a trial from its variables
        start = read_json_file(tuner._variables_path(hp.values["tuner/trial_id"]), "variables file")
    from synaprefect.config import get_seed

    path = _hypermodel_path(tuner._build_function)
    return {
        "kind": "trial",
        "trial_id": trial.trial_id,
        "hypermodel": path,
        "seed": get_seed(),
        "hyperparameters": hp.get_config(),
        "start_variables": start,
        "fit": _fit_arguments(fit_args, fit_kwargs),
        "directions": objective_directions(tuner.oracle),
    }


async def run_trial_request(request: dict) -> dict:
    """Run a ``trial_request`` here: ``{"metrics": ..., "variables": ...}``.

    Example: ``result = await run_trial_request(request)``
    """
    from synaprefect.config import set_seed
    from synaprefect.tuners.keras_stub import disable_keras_backend, import_keras_tuner

    disable_keras_backend()
    if request.get("seed") is not None:  # the same random choices as on the caller's side
        set_seed(request["seed"])
    kt = import_keras_tuner("synaprefect.tuners.remote.run_trial_request")
    hp = kt.HyperParameters.from_config(request["hyperparameters"])
    clear_session()  # the same automatic names as on the caller's side
    program = checked_program(await maybe_await(import_object(request["hypermodel"])(hp)))
    if request.get("start_variables") is not None:
        program.set_state_tree(request["start_variables"])
    data = decode(request["fit"]["data"])
    if "validation_data" in data:
        data["validation_data"] = tuple(data["validation_data"])
    metrics = await train_trial_program(
        program, hp, (), {**data, **request["fit"]["options"]}, request["directions"]
    )
    return {"metrics": metrics, "variables": program.get_state_tree()}


# A work pool's worker (``orchestration.work_pools.shard_flow``) runs trials like shards.
register_request_kind("trial", run_trial_request)
