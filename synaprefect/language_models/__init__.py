"""Language and embedding models reached through litellm."""

from synaprefect.language_models.embedding_model import EmbeddingModel
from synaprefect.language_models.errors import (
    AuthenticationError,
    BadRequestError,
    InvalidOutputError,
    LanguageModelError,
    ModelNotFoundError,
    PermanentLanguageModelError,
    TransientLanguageModelError,
)
from synaprefect.language_models.language_model import LanguageModel, get
from synaprefect.language_models.phases import current_phase, phase_scope

__all__ = [
    "LanguageModel",
    "EmbeddingModel",
    "get",
    "phase_scope",
    "current_phase",
    "LanguageModelError",
    "PermanentLanguageModelError",
    "AuthenticationError",
    "ModelNotFoundError",
    "BadRequestError",
    "TransientLanguageModelError",
    "InvalidOutputError",
]
