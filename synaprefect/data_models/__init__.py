"""Data models: pydantic ``DataModel``, concrete ``JsonDataModel``, ``SymbolicDataModel``."""

from synaprefect.data_models.chat import (
    ChatMessage,
    ChatMessages,
    ChatRole,
    ToolCall,
    ToolCallFunction,
    is_chat_message,
    is_chat_messages,
    is_tool_call,
)
from synaprefect.data_models.data_model import DataModel, Field
from synaprefect.data_models.generic import (
    GenericInputs,
    GenericIO,
    GenericOutputs,
    GenericResult,
    is_instructions,
    is_prediction,
    is_trainable,
)
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.knowledge import (
    Entities,
    Entity,
    KnowledgeGraph,
    KnowledgeGraphs,
    Relation,
    Relations,
    is_embedded_entity,
    is_entities,
    is_entity,
    is_knowledge_graph,
    is_knowledge_graphs,
    is_relation,
    is_relations,
)
from synaprefect.data_models.ops import is_symbolic
from synaprefect.data_models.scores import (
    FineScore,
    Rating,
    Rating10,
    Rating20,
    Score,
    get_score_type,
    normalize_score,
)
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel

__all__ = [
    "DataModel",
    "Field",
    "JsonDataModel",
    "SymbolicDataModel",
    "is_symbolic",
    # chat messages and score scales
    "ChatRole",
    "ChatMessage",
    "ChatMessages",
    "ToolCall",
    "ToolCallFunction",
    "is_chat_message",
    "is_chat_messages",
    "is_tool_call",
    "Score",
    "FineScore",
    "Rating",
    "Rating10",
    "Rating20",
    "get_score_type",
    "normalize_score",
    # generic data models and checks of the trainable ones
    "GenericInputs",
    "GenericOutputs",
    "GenericIO",
    "GenericResult",
    "is_trainable",
    "is_instructions",
    "is_prediction",
    # knowledge graphs
    "Entity",
    "Relation",
    "Entities",
    "Relations",
    "KnowledgeGraph",
    "KnowledgeGraphs",
    "is_entity",
    "is_relation",
    "is_entities",
    "is_relations",
    "is_knowledge_graph",
    "is_knowledge_graphs",
    "is_embedded_entity",
]
