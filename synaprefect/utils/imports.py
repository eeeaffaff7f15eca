"""Objects named by import paths such as ``"package.module:function"``."""

import importlib
from typing import Any

__all__ = ["import_object", "defined_in_synaprefect"]


def import_object(path: str) -> Any:
    """The object ``path`` names: ``"package.module:attribute"`` (attributes may be
    dotted, as in ``"module:Class.method"``); its module is imported.

    Example: ``import_object("json:dumps")([1])  # '[1]'``
    """
    module_name, sep, attribute = str(path).partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected an import path like 'package.module:function', got {path!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def defined_in_synaprefect(target: Any) -> bool:
    """Whether ``target`` (a class or function) is defined by synaprefect itself, not
    merely reachable from one of its modules (``synaprefect.cli.commands:os.system``
    is not):
    what a saved file may name without registering it."""
    module = getattr(target, "__module__", None) or ""
    return module == "synaprefect" or module.startswith("synaprefect.")
