"""Async JSON operations, for ports of Synalinks code (``await synaprefect.ops.concat(...)``).

The operators ``+ & | ^ ~`` and the data models' ``in_mask``/``out_mask`` methods do the
same synchronously.
"""

from synaprefect.data_models.ops import apply

__all__ = [
    "concat", "logical_and", "logical_or", "logical_xor", "logical_not",
    "in_mask", "out_mask", "prefix", "suffix", "factorize",
]


async def concat(x1, x2, name=None):
    return apply("Concat", [x1, x2])


async def logical_and(x1, x2, name=None):
    return apply("And", [x1, x2])


async def logical_or(x1, x2, name=None):
    return apply("Or", [x1, x2])


async def logical_xor(x1, x2, name=None):
    return apply("Xor", [x1, x2])


async def logical_not(x, name=None):
    return apply("Not", [x])


async def in_mask(x, mask=None, pattern=None, recursive=True, name=None):
    return apply("InMask", [x], mask=mask, pattern=pattern, recursive=recursive)


async def out_mask(x, mask=None, pattern=None, recursive=True, name=None):
    return apply("OutMask", [x], mask=mask, pattern=pattern, recursive=recursive)


async def prefix(x, prefix, name=None):
    return apply("Prefix", [x], prefix=prefix)


async def suffix(x, suffix, name=None):
    return apply("Suffix", [x], suffix=suffix)


async def factorize(x, name=None):
    return apply("Factorize", [x])
