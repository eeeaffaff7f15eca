"""The public tuners, importable without keras-tuner.

``RandomSearch``, ``BayesianOptimization``, ``Hyperband`` and ``GridSearch`` are light
classes: creating one imports keras_tuner (with the errors of ``import_keras_tuner``) and
returns an instance of a class built once per class from the class itself, ``SearchMixin``
and the keras-tuner tuner, in that order. So ``isinstance(tuner,
synaprefect.tuners.RandomSearch)`` holds, every keras-tuner method is there, and a user's
subclass overrides both.
"""

from __future__ import annotations

import importlib
from typing import Any

from synaprefect.tuners.keras_stub import import_keras_tuner
from synaprefect.tuners.tuner import SearchMixin

__all__ = ["RandomSearch", "BayesianOptimization", "Hyperband", "GridSearch"]


class _LazyTuner:
    """Base of the public tuner classes: ``__new__`` swaps in the concrete class."""

    # The keras-tuner tuner of the same role, and the (module, extra) pairs it needs
    # beyond keras-tuner itself.
    _kt_tuner = ""
    _requires: tuple[tuple[str, str], ...] = ()
    # Set on each public class by ``_concrete_class``, the first time it is created.
    _concrete: type

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # ``type.__call__`` then runs ``__init__`` on the instance: it is an instance of
        # ``cls``, since the concrete class derives from it.
        return super().__new__(_concrete_class(cls))


def _concrete_class(cls: type[_LazyTuner]) -> type:
    if issubclass(cls, SearchMixin):
        return cls  # already concrete
    feature = f"synaprefect.tuners.{cls._kt_tuner}"
    for module, extra in cls._requires:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ImportError(
                f"`{feature}` needs `{module}`, which is not installed. Install it with "
                f"`pip install 'synaprefect[{extra}]'`."
            ) from error
    if "_concrete" not in cls.__dict__:
        kt = import_keras_tuner(feature)
        cls._concrete = type(
            cls.__name__,
            (cls, SearchMixin, getattr(kt, cls._kt_tuner)),
            {
                "__module__": cls.__module__,
                "__doc__": cls.__doc__,
                "__qualname__": cls.__qualname__,
            },
        )
    return cls._concrete


class RandomSearch(_LazyTuner):
    """Random search over the hyperparameters of a program (keras-tuner's
    ``RandomSearch`` running synaprefect programs).

    Args are keras-tuner's: ``hypermodel`` (``build_program(hp)``, sync or async,
    returning a compiled ``Program``), ``objective`` (a name or ``Objective``),
    ``max_trials``, ``seed``, ``directory``, ``project_name``, ``overwrite``...

    Example:
    ```python
    async def build_program(hp):
        inputs = synaprefect.Input(data_model=Query)
        outputs = await synaprefect.Generator(
            data_model=Answer, language_model=lm,
            temperature=hp.Choice("temperature", [0.0, 0.7]))(inputs)
        program = synaprefect.Program(inputs=inputs, outputs=outputs)
        program.compile(reward=synaprefect.rewards.ExactMatch())
        return program

    tuner = synaprefect.tuners.RandomSearch(build_program, objective="val_reward",
                                            max_trials=4, directory="runs",
                                            project_name="capitals")
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=2)
    best_hp = tuner.get_best_hyperparameters(num_trials=1)[0]
    ```
    """

    _kt_tuner = "RandomSearch"


class BayesianOptimization(_LazyTuner):
    """Bayesian optimization (Gaussian process) over the hyperparameters of a program
    (keras-tuner's ``BayesianOptimization``; needs scikit-learn:
    ``pip install 'synaprefect[bayesian]'``).

    Example:
    ```python
    tuner = synaprefect.tuners.BayesianOptimization(
        build_program, objective="val_reward", max_trials=10, num_initial_points=3)
    await tuner.asearch(x, y, validation_split=0.25, epochs=2)
    ```
    """

    _kt_tuner = "BayesianOptimization"
    _requires = (("sklearn", "bayesian"),)


class Hyperband(_LazyTuner):
    """Hyperband over the hyperparameters of a program (keras-tuner's ``Hyperband``):
    many short fits, the best continued for more epochs from where they stopped.

    Example:
    ```python
    tuner = synaprefect.tuners.Hyperband(build_program, objective="val_reward",
                                         max_epochs=4, factor=2)
    tuner.search(x, y, validation_split=0.25)     # epochs come from Hyperband
    ```
    """

    _kt_tuner = "Hyperband"


class GridSearch(_LazyTuner):
    """Every combination of the (discrete) hyperparameters of a program, in order
    (keras-tuner's ``GridSearch``).

    Example:
    ```python
    tuner = synaprefect.tuners.GridSearch(build_program, objective="val_reward",
                                          max_trials=6)
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=1)
    ```
    """

    _kt_tuner = "GridSearch"
