"""What a tuning trial runs, here or on a worker (``tuners.remote``): the hypermodel's
program checked, then fitted (or evaluated) and reduced to the metrics the oracle gets.

Example:
```python
program = checked_program(await maybe_await(build_program(hp)))
metrics = await train_trial_program(program, hp, (x, y), {"epochs": 2},
                                    {"val_reward": "max"})
```
"""

from __future__ import annotations

import copy
import inspect
import numbers
from typing import Any

from synaprefect.programs import Program

__all__ = ["checked_program", "train_trial_program"]


def checked_program(program: Any) -> Program:
    """``program`` if the hypermodel returned a compiled ``Program``, else a keras-tuner
    fatal error saying what to fix.

    Example: ``program = checked_program(await maybe_await(build_program(hp)))``
    """
    from keras_tuner import errors

    if not isinstance(program, Program):
        raise errors.FatalTypeError(
            "The hypermodel must return a synaprefect Program (or a coroutine that "
            f"resolves to one), got {type(program).__name__}: end `build_program(hp)` "
            "with `return program`."
        )
    if not program.compiled:
        raise errors.FatalValueError(
            "The hypermodel returned a program that is not compiled: call "
            "program.compile(reward=..., optimizer=...) before returning it."
        )
    return program


async def train_trial_program(
    program: Program, hp: Any, fit_args: tuple, fit_kwargs: dict, directions: dict[str, str]
) -> dict[str, float]:
    """Fit a trial's program (or, compiled without an optimizer, evaluate it) and return
    the metrics the trial reports: objective metrics (``directions``: name to "min" or
    "max") at their best epoch value, the others at their last. Runs wherever the trial
    runs (``SearchMixin.run_trial``, or a worker's flow run).

    Example:
    ```python
    metrics = await train_trial_program(program, hp, (x, y), {"epochs": 2},
                                        {"val_reward": "max"})
    ```
    """
    if program.optimizer is None:
        return await _evaluate(program, fit_args, fit_kwargs)
    history = await program.fit(*fit_args, **_trial_fit_kwargs(hp, fit_kwargs))
    return _reduce_history(history.history, directions)


def _trial_fit_kwargs(hp: Any, fit_kwargs: dict) -> dict:
    from keras_tuner import errors

    fit_kwargs = dict(fit_kwargs)
    if "tuner/epochs" in hp.values:
        fit_kwargs["epochs"] = hp.values["tuner/epochs"]
        fit_kwargs["initial_epoch"] = hp.values["tuner/initial_epoch"]
    if fit_kwargs.get("callbacks"):
        # Callbacks keep state (best value, wait count): each trial gets fresh copies.
        try:
            fit_kwargs["callbacks"] = copy.deepcopy(fit_kwargs["callbacks"])
        except Exception as error:
            raise errors.FatalValueError(
                "Every callback passed to search() must support copy.deepcopy(): each "
                f"trial gets its own copy ({type(error).__name__}: {error})."
            ) from error
    return fit_kwargs


async def _evaluate(program: Any, fit_args: tuple, fit_kwargs: dict) -> dict[str, float]:
    # Nothing to train: score the program on the validation data (else on x/y) and
    # report each metric under both names, so "reward" and "val_reward" both work.
    arguments = inspect.signature(program.fit).bind(*fit_args, **fit_kwargs).arguments
    x, y = arguments.get("validation_data") or (arguments.get("x"), arguments.get("y"))
    options = {
        key: arguments[key] for key in ("batch_size", "verbose", "resume") if key in arguments
    }
    logs = await program.evaluate(x, y, **options)
    metrics = _numbers(logs)
    return {**metrics, **{f"val_{name}": value for name, value in metrics.items()}}


def _reduce_history(history: dict[str, list], directions: dict[str, str]) -> dict[str, float]:
    metrics = {}
    for name, values in history.items():
        values = [value for value in values if _is_number(value)]
        if not values:
            continue
        direction = directions.get(name)
        best = (
            max(values) if direction == "max" else min(values) if direction == "min" else values[-1]
        )
        metrics[name] = float(best)
    return metrics


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _numbers(logs: dict) -> dict[str, float]:
    return {name: float(value) for name, value in logs.items() if _is_number(value)}
