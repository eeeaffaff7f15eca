"""Data models: pydantic ``DataModel``, concrete ``JsonDataModel``, ``SymbolicDataModel``."""

from synaprefect.data_models.data_model import DataModel, Field
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.ops import is_symbolic
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel

__all__ = ["DataModel", "Field", "JsonDataModel", "SymbolicDataModel", "is_symbolic"]
