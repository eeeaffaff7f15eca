"""Modules computed by pure JSON functions: merging (``Concat``, ``And``, ``Or``, ``Xor``,
``Not``), masking (``InMask``, ``OutMask``), renaming and ``Identity``.

The same ``compute`` serves values and schemas, so a module's output spec always agrees
with what it returns at run time.
"""

from collections.abc import Callable
from typing import Any

from synaprefect.data_models import ops
from synaprefect.modules.module import Module

__all__ = [
    "Identity",
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
]


class _PureModule(Module):
    def compute(self, inputs):
        raise NotImplementedError

    async def call(self, inputs):
        return self.compute(inputs)

    def compute_output_spec(self, inputs):
        return self.compute(inputs)


class _Unary(_PureModule):
    """A transform of one data model, applied to each of a list (or tuple) of them as
    Synalinks does; None stays None."""

    def compute_one(self, value):
        raise NotImplementedError

    def compute(self, inputs):
        if isinstance(inputs, (list, tuple)):
            return type(inputs)(self.compute(v) for v in inputs)
        return None if inputs is None else self.compute_one(inputs)


def _as_list(inputs) -> list:
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


class _Fold(_PureModule):
    _pair: Callable[[Any, Any], Any]  # each subclass's

    def compute(self, inputs):
        values = _as_list(inputs)
        result = values[0]
        for value in values[1:]:
            result = type(self)._pair(result, value)
        return result


class Identity(_Unary):
    """Returns a copy of its input, or of each input of a list (None stays None)."""

    def compute_one(self, value):
        return value.clone()


class Concat(_Fold):
    """Concatenates its inputs (a list); every input is required (None raises)."""

    _pair = staticmethod(ops.concat_data)


Concatenate = Concat


class And(_Fold):
    """Concatenation gate: None as soon as one input is None."""

    _pair = staticmethod(ops.and_data)


class Or(_Fold):
    """Whichever inputs are present, concatenated; None when all are None."""

    _pair = staticmethod(ops.or_data)


class Xor(_PureModule):
    """The single present input (a copy); None when none or several are present."""

    def compute(self, inputs):
        values = _as_list(inputs)
        if any(ops.is_symbolic(v) for v in values):
            result = values[0]
            for value in values[1:]:
                result = ops.xor_data(result, value)
            return result
        present = [v for v in values if v is not None]
        return present[0].clone() if len(present) == 1 else None


class Not(_PureModule):
    """Cancels its inputs: every output is None (its spec is a copy of the input's)."""

    def compute(self, inputs):
        if isinstance(inputs, (list, tuple)):
            return [ops.not_data(v) for v in inputs]
        return ops.not_data(inputs)


class InMask(_Unary):
    """Keeps only the fields named in ``mask`` (or matching the regex ``pattern``), in
    its input or in each input of a list."""

    def __init__(
        self,
        mask: list[str] | None = None,
        pattern: str | None = None,
        recursive: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mask is not None and not isinstance(mask, list):
            raise ValueError(f"`mask` must be a list of field names, got {mask!r}.")
        self.mask, self.pattern, self.recursive = mask, pattern, recursive

    def compute_one(self, value):
        return ops.in_mask_data(value, self.mask, self.pattern, self.recursive)


class OutMask(InMask):
    """Removes the fields named in ``mask`` (or matching the regex ``pattern``), in its
    input or in each input of a list."""

    def compute_one(self, value):
        return ops.out_mask_data(value, self.mask, self.pattern, self.recursive)


class Prefix(_Unary):
    """Renames every field ``key`` to ``<prefix>_key``."""

    def __init__(self, prefix: str = "", **kwargs):
        super().__init__(**kwargs)
        self.prefix = prefix

    def compute_one(self, value):
        return ops.prefix_data(value, self.prefix)


class Suffix(_Unary):
    """Renames every field ``key`` to ``key_<suffix>``."""

    def __init__(self, suffix: str = "", **kwargs):
        super().__init__(**kwargs)
        self.suffix = suffix

    def compute_one(self, value):
        return ops.suffix_data(value, self.suffix)


class Factorize(_Unary):
    """Groups ``answer``, ``answer_1``... into one list field ``answers``."""

    def compute_one(self, value):
        return ops.factorize_data(value)


# What ``+ & | ^ ~`` and the masking methods of data models apply (``data_models.ops``).
for _operation in (Concat, And, Or, Xor, Not, InMask, OutMask, Prefix, Suffix, Factorize):
    ops.register_operation(_operation)
