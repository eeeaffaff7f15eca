"""Modules: the building blocks of programs."""

from synaprefect.modules.action import Action, GenericAction
from synaprefect.modules.agents import FunctionCallingAgent
from synaprefect.modules.decision import Branch, Decision, MultiDecision
from synaprefect.modules.generator import Generator
from synaprefect.modules.input_module import Input, InputModule
from synaprefect.modules.knowledge import EmbedKnowledge, UpdateKnowledge
from synaprefect.modules.lambda_module import Lambda
from synaprefect.modules.module import Module
from synaprefect.modules.pure import (
    And,
    Concat,
    Concatenate,
    Factorize,
    Identity,
    InMask,
    Not,
    Or,
    OutMask,
    Prefix,
    Suffix,
    Xor,
)
from synaprefect.modules.reasoning import ChainOfThought, SelfCritique
from synaprefect.modules.retrieve_knowledge import RetrieveKnowledge
from synaprefect.modules.tool import Tool

__all__ = [
    "Module",
    "Input",
    "InputModule",
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
    "Generator",
    "ChainOfThought",
    "SelfCritique",
    "Decision",
    "MultiDecision",
    "Branch",
    "Tool",
    "Action",
    "GenericAction",
    "FunctionCallingAgent",
    "EmbedKnowledge",
    "UpdateKnowledge",
    "RetrieveKnowledge",
]
