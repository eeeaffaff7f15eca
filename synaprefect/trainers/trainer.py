"""``compile`` / ``fit`` / ``evaluate`` / ``predict``: the training API of programs.

Each concern lives in its own module and is mixed in here: configuration
(``compiling``), one batch (``steps``), ``fit`` (``fitting``), ``evaluate`` and
``predict`` (``evaluation``), spending and artifacts (``reporting``). Every run is a
``Job`` (``trainers.job``): a flow with each epoch a stage and each batch, module call
and optimizer update a task, resumable from its run store.
"""

from synaprefect.trainers.compiling import CompileMixin
from synaprefect.trainers.evaluation import EvaluationMixin
from synaprefect.trainers.fitting import FitMixin
from synaprefect.trainers.reporting import ReportingMixin
from synaprefect.trainers.steps import StepMixin

__all__ = ["Trainer"]


class Trainer(CompileMixin, StepMixin, FitMixin, EvaluationMixin, ReportingMixin):
    """The training API mixed into ``Program``."""

    replayed_steps = 0
    _busy: str | None = None
