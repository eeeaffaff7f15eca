"""``KerasTunerHost``: what ``SearchMixin`` finds in the keras-tuner tuner after it in the
method resolution order, written out for the type checker (keras_tuner ships no types).
At run time it is ``object``: the real methods are keras-tuner's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["KerasTunerHost"]

if TYPE_CHECKING:
    import keras_tuner

    class KerasTunerHost:
        """The parts of a keras-tuner ``Tuner`` that ``SearchMixin`` uses."""

        oracle: Any  # a keras_tuner.Oracle
        project_name: str
        tuner_id: str

        def __init__(self, hypermodel: Any, objective: Any, *args: Any, **kwargs: Any) -> None: ...
        @property
        def project_dir(self) -> str: ...
        def get_trial_dir(self, trial_id: str) -> str: ...
        def save(self) -> None: ...
        def on_search_begin(self) -> None: ...
        def on_search_end(self) -> None: ...
        def pre_create_trial(self) -> None: ...
        def on_trial_begin(self, trial: keras_tuner.engine.trial.Trial) -> None: ...
        def on_trial_end(self, trial: keras_tuner.engine.trial.Trial) -> None: ...

else:
    KerasTunerHost = object
