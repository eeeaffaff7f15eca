"""Callbacks: objects ``fit``, ``evaluate`` and ``predict`` call at fixed points.

Pass them as ``program.fit(..., callbacks=[...])``; subclass ``Callback`` to write your own.
"""

from synaprefect.callbacks.backup_and_restore import BackupAndRestore
from synaprefect.callbacks.callback import Callback, CallbackList
from synaprefect.callbacks.cost_budget import BudgetStopping, CostBudget
from synaprefect.callbacks.csv_logger import CSVLogger
from synaprefect.callbacks.early_stopping import EarlyStopping
from synaprefect.callbacks.history import History
from synaprefect.callbacks.progbar_logger import ProgbarLogger
from synaprefect.callbacks.program_checkpoint import ProgramCheckpoint

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "EarlyStopping",
    "ProgramCheckpoint",
    "BackupAndRestore",
    "CSVLogger",
    "ProgbarLogger",
    "CostBudget",
    "BudgetStopping",
]
