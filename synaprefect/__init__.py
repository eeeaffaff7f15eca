"""synaprefect: Keras-style language-model programs, trained as Prefect 3 flows.

A Synalinks script ports by changing its import: ``import synaprefect as synalinks``.
"""

# First, before anything imports Prefect (it reads its settings once, at import): the
# Prefect settings synaprefect runs with unless the user set them. (litellm's price map is
# read from the package when synaprefect imports litellm: ``language_models.base``.)
from synaprefect import _prefect_defaults  # noqa: F401  # isort: skip

from synaprefect import (
    callbacks,
    datasets,
    initializers,
    language_models,
    metrics,
    modules,
    ops,
    optimizers,
    orchestration,
    programs,
    rewards,
    saving,
    tuners,
    utils,
)
from synaprefect.config import clear_session, get_seed, set_seed
from synaprefect.data_models import (
    DataModel,
    Field,
    JsonDataModel,
    SymbolicDataModel,
    is_symbolic,
)
from synaprefect.data_models.trainable import Instructions, Prediction, Trainable
from synaprefect.language_models import EmbeddingModel, LanguageModel
from synaprefect.modules import (
    And,
    Branch,
    ChainOfThought,
    Concat,
    Concatenate,
    Decision,
    Factorize,
    Generator,
    Identity,
    InMask,
    Input,
    Lambda,
    Module,
    MultiDecision,
    Not,
    Or,
    OutMask,
    Prefix,
    SelfCritique,
    Suffix,
    Xor,
)
from synaprefect.orchestration.observability import (
    enable_logging,
    enable_observability,
    is_observability_enabled,
)
from synaprefect.programs import Program, Sequential
from synaprefect.tuners import disable_keras_backend
from synaprefect.variables import Variable
from synaprefect.version import __version__

# ---- knowledge (issue 18) --------------------------------------------------------------
# isort: split
from synaprefect import knowledge_bases
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
from synaprefect.knowledge_bases import KnowledgeBase
from synaprefect.modules.knowledge import EmbedKnowledge, UpdateKnowledge
from synaprefect.modules.retrieve_knowledge import RetrieveKnowledge

# ---- end of knowledge (issue 18) -------------------------------------------------------

# ---- Synalinks' top-level names (issue 16: saving, data models, config) ----------------
# isort: split
from synaprefect import config
from synaprefect.config import api_base, set_api_base, synalinks_home
from synaprefect.data_models import (
    ChatMessage,
    ChatMessages,
    ChatRole,
    FineScore,
    GenericInputs,
    GenericIO,
    GenericOutputs,
    GenericResult,
    Rating,
    Rating10,
    Rating20,
    Score,
    ToolCall,
    ToolCallFunction,
    is_chat_message,
    is_chat_messages,
    is_instructions,
    is_prediction,
    is_tool_call,
    is_trainable,
)
from synaprefect.initializers import Initializer
from synaprefect.metrics import Metric
from synaprefect.modules.prompts import default_prompt_template
from synaprefect.optimizers import OMEGA
from synaprefect.rewards import (
    BatchReward,
    CosineSimilarity,
    ExactMatch,
    LMAsJudge,
    ProgramAsJudge,
    Reward,
)
from synaprefect.saving import register_synalinks_serializable

# Synalinks' tools and agents (issue 18)
from synaprefect.modules import Action, FunctionCallingAgent, Tool  # isort: skip

ToolCalling = ToolCall  # Synalinks' second name for it
# ---- end of Synalinks' top-level names (issue 16: saving, data models, config) ---------


__all__ = [
    "__version__",
    # data models
    "DataModel",
    "Field",
    "JsonDataModel",
    "SymbolicDataModel",
    "is_symbolic",
    "Trainable",
    "Instructions",
    "Prediction",
    "Variable",
    # modules and programs
    "Module",
    "Input",
    "Identity",
    "Lambda",
    "Concat",
    "Concatenate",
    "And",
    "Or",
    "Xor",
    "Not",
    "InMask",
    "OutMask",
    "Prefix",
    "Suffix",
    "Factorize",
    "Program",
    "Sequential",
    "Generator",
    "ChainOfThought",
    "SelfCritique",
    "Decision",
    "MultiDecision",
    "Branch",
    # language models
    "LanguageModel",
    "EmbeddingModel",
    # session
    "set_seed",
    "get_seed",
    "clear_session",
    "disable_keras_backend",
    # logging and observability (Prefect)
    "enable_logging",
    "enable_observability",
    "is_observability_enabled",
    # sub-packages
    "callbacks",
    "datasets",
    "initializers",
    "language_models",
    "metrics",
    "modules",
    "ops",
    "optimizers",
    "orchestration",
    "programs",
    "rewards",
    "saving",
    "tuners",
    "utils",
]
# Synalinks' top-level names (issue 16: saving, data models, config)
__all__ += [
    "config",
    "api_base",
    "set_api_base",
    "synalinks_home",
    "register_synalinks_serializable",
    "default_prompt_template",
    "ChatRole",
    "ChatMessage",
    "ChatMessages",
    "ToolCall",
    "ToolCalling",
    "ToolCallFunction",
    "is_chat_message",
    "is_chat_messages",
    "is_tool_call",
    "Score",
    "FineScore",
    "Rating",
    "Rating10",
    "Rating20",
    "Reward",
    "ExactMatch",
    "CosineSimilarity",
    "LMAsJudge",
    "ProgramAsJudge",
    "BatchReward",
    "Metric",
    "OMEGA",
    "Initializer",
    "GenericInputs",
    "GenericOutputs",
    "GenericIO",
    "GenericResult",
    "is_trainable",
    "is_instructions",
    "is_prediction",
]
# Synalinks' tools and agents (issue 18)
__all__ += ["Tool", "Action", "FunctionCallingAgent"]
# knowledge (issue 18)
__all__ += [
    "knowledge_bases",
    "KnowledgeBase",
    "EmbedKnowledge",
    "UpdateKnowledge",
    "RetrieveKnowledge",
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
