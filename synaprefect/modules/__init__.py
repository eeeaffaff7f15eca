"""Modules: the building blocks of programs."""

from synaprefect.modules.input_module import Input, InputModule
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

__all__ = [
    "Module", "Input", "InputModule", "Identity", "Lambda", "Concat", "Concatenate",
    "And", "Or", "Xor", "Not", "InMask", "OutMask", "Prefix", "Suffix", "Factorize",
]
