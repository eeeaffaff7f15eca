"""The operator protocol shared by concrete and symbolic data models."""

import functools
from typing import Any


class _hybridmethod:
    """A method that binds to the instance, or to the class when called on the class
    (``Answer.in_mask(...)`` on a DataModel class, ``answer.in_mask(...)`` on a value)."""

    def __init__(self, function):
        self.function = function
        # typeshed wants a callable wrapper; a descriptor takes the attributes just as well.
        functools.update_wrapper(self, function)  # type: ignore[arg-type]

    def __get__(self, instance, owner):
        return functools.partial(self.function, owner if instance is None else instance)


class DataOperators:
    """``+ & | ^ ~``, masks and renames, for every data representation."""

    def __add__(self, other):
        return _apply("Concat", [self, other])

    def __radd__(self, other):
        return _apply("Concat", [other, self])

    def __and__(self, other):
        return _apply("And", [self, other])

    def __rand__(self, other):
        return _apply("And", [other, self])

    def __or__(self, other):
        return _apply("Or", [self, other])

    def __ror__(self, other):
        return _apply("Or", [other, self])

    def __xor__(self, other):
        return _apply("Xor", [self, other])

    def __rxor__(self, other):
        return _apply("Xor", [other, self])

    def __invert__(self):
        return _apply("Not", [self])

    def __contains__(self, other: Any) -> bool:
        return _contains(self, other)

    @_hybridmethod
    def in_mask(self, mask=None, pattern=None, recursive=True):
        """Keep only the fields named in ``mask`` (base-key match) or matching ``pattern``."""
        return _apply("InMask", [self], mask=mask, pattern=pattern, recursive=recursive)

    @_hybridmethod
    def out_mask(self, mask=None, pattern=None, recursive=True):
        """Remove the fields named in ``mask`` (base-key match) or matching ``pattern``."""
        return _apply("OutMask", [self], mask=mask, pattern=pattern, recursive=recursive)

    @_hybridmethod
    def prefix(self, prefix: str):
        """Rename every top-level field ``key`` to ``<prefix>_key``."""
        return _apply("Prefix", [self], prefix=prefix)

    @_hybridmethod
    def suffix(self, suffix: str):
        """Rename every top-level field ``key`` to ``key_<suffix>``."""
        return _apply("Suffix", [self], suffix=suffix)

    @_hybridmethod
    def factorize(self):
        """Group ``answer``, ``answer_1``... into one list field ``answers``."""
        return _apply("Factorize", [self])


def _apply(module_name, operands, **kwargs):
    from synaprefect.data_models import ops

    return ops.apply(module_name, operands, **kwargs)


def _contains(container, other) -> bool:
    from synaprefect.data_models import ops
    from synaprefect.data_models.schema import contains_schema

    if isinstance(other, str):
        return other in container.get_schema().get("properties", {})
    other = ops.to_data(other)
    return contains_schema(container.get_schema(), other.get_schema())
