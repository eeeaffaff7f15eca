"""Async JSON operations, for ports of Synalinks code (``await synaprefect.ops.concat(...)``).

The operators ``+ & | ^ ~`` and the data models' ``in_mask``/``out_mask`` methods do the
same synchronously. ``name`` and ``description`` name the module that does the operation
in a program's graph (they show in ``summary()`` and in the Prefect task names).

Example:
```python
both = await synaprefect.ops.concat(x1, x2, name="both", description="query and answer")
```
"""

from synaprefect.data_models.ops import apply

__all__ = [
    "concat",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
    "in_mask",
    "out_mask",
    "prefix",
    "suffix",
    "factorize",
]


async def concat(x1, x2, name: str | None = None, description: str | None = None):
    return apply("Concat", [x1, x2], name=name, description=description)


async def logical_and(x1, x2, name: str | None = None, description: str | None = None):
    return apply("And", [x1, x2], name=name, description=description)


async def logical_or(x1, x2, name: str | None = None, description: str | None = None):
    return apply("Or", [x1, x2], name=name, description=description)


async def logical_xor(x1, x2, name: str | None = None, description: str | None = None):
    return apply("Xor", [x1, x2], name=name, description=description)


async def logical_not(x, name: str | None = None, description: str | None = None):
    return apply("Not", [x], name=name, description=description)


async def in_mask(
    x,
    mask: list[str] | None = None,
    pattern: str | None = None,
    recursive: bool = True,
    name: str | None = None,
    description: str | None = None,
):
    return apply(
        "InMask",
        [x],
        mask=mask,
        pattern=pattern,
        recursive=recursive,
        name=name,
        description=description,
    )


async def out_mask(
    x,
    mask: list[str] | None = None,
    pattern: str | None = None,
    recursive: bool = True,
    name: str | None = None,
    description: str | None = None,
):
    return apply(
        "OutMask",
        [x],
        mask=mask,
        pattern=pattern,
        recursive=recursive,
        name=name,
        description=description,
    )


async def prefix(x, prefix: str, name: str | None = None, description: str | None = None):
    return apply("Prefix", [x], prefix=prefix, name=name, description=description)


async def suffix(x, suffix: str, name: str | None = None, description: str | None = None):
    return apply("Suffix", [x], suffix=suffix, name=name, description=description)


async def factorize(x, name: str | None = None, description: str | None = None):
    return apply("Factorize", [x], name=name, description=description)
