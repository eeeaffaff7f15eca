"""Programs saved by Synalinks (``program.save("x.json")``, ``to_json()``) read as
synaprefect documents, so trained programs move over.

What carries over: the architecture (functional or sequential programs of the modules
synaprefect provides, and of custom modules registered with
``@register_synalinks_serializable()``) and every program variable (instructions,
few-shot examples, candidates). What does not: the compile settings (a loaded program is
uncompiled, as in Synalinks; call ``compile`` again) and Synalinks' optimizer and metric
state (its optimizers keep other bookkeeping).

API keys: Synalinks writes a language model's extra arguments, ``api_key`` included,
into the file. They are dropped here, never used: keys come from the environment (or
``api_key=`` in code). Classes are found only among synaprefect's own modules and the
registry; a file never makes us import anything.
"""

import inspect
from typing import Any

from synaprefect import modules as builtin_modules
from synaprefect.language_models import EmbeddingModel, LanguageModel
from synaprefect.language_models.base import _split_secrets
from synaprefect.modules.input_module import InputModule
from synaprefect.modules.module import Module
from synaprefect.version import __version__

__all__ = ["is_synalinks_document", "from_synalinks_document"]

_MODEL_CLASSES = {"LanguageModel": LanguageModel, "EmbeddingModel": EmbeddingModel}
# Named, not imported: ``Program`` itself loads files through this module.
_PROGRAM = ("synaprefect.programs.program", "Program")
_PROGRAM_CLASSES = {
    "Functional": _PROGRAM,
    "Program": _PROGRAM,
    "Sequential": ("synaprefect.programs.sequential", "Sequential"),
}
_MODEL_KEYS = ("language_model", "embedding_model")
# Options synaprefect lacks whose Synalinks default is what synaprefect does anyway.
_SYNALINKS_DEFAULTS = {"score_type": "Score"}


def is_synalinks_document(document: Any) -> bool:
    """Whether ``document`` was written by Synalinks (``save`` or ``to_json``)."""
    return isinstance(document, dict) and (
        "synalinks_version" in document or _from_synalinks(document)
    )


def _from_synalinks(entry: Any) -> bool:
    return isinstance(entry, dict) and str(entry.get("module") or "").split(".")[0] == "synalinks"


def _builtin_class(class_name: str, where: str) -> tuple[str, str]:
    """``(module, class name)`` of the synaprefect class standing for ``class_name``."""
    if class_name in _PROGRAM_CLASSES:
        return _PROGRAM_CLASSES[class_name]
    cls = _MODEL_CLASSES.get(class_name, getattr(builtin_modules, class_name, None))
    if isinstance(cls, type) and issubclass(cls, (Module, *_MODEL_CLASSES.values())):
        return cls.__module__, cls.__name__
    raise ValueError(
        f"{where} uses the Synalinks class {class_name!r}, which synaprefect does not "
        "provide, so the program cannot be loaded. Rebuild that part with synaprefect "
        "modules, or write it as a custom module registered with "
        "`@synaprefect.saving.register_synalinks_serializable()`."
    )


def _model_config(entry: dict, where: str) -> dict:
    """A Synalinks language/embedding model entry as synaprefect's plain config."""
    config = dict(entry.get("config") or {}) if "config" in entry else dict(entry)
    config.pop("description", None)  # Synalinks' class description, not a request option
    _split_secrets(config)  # dropped, never used
    if config.get("fallback") is not None:
        config["fallback"] = _model_config(config["fallback"], where)
    if "model" not in config:
        raise ValueError(f"{where}: the language model entry has no 'model'.")
    return config


def _translate_value(value: Any, where: str) -> Any:
    """Nested Synalinks objects in a custom module's config, as synaprefect entries (a
    custom ``from_config`` reads them with ``deserialize_synalinks_object``)."""
    if isinstance(value, list):
        return [_translate_value(item, where) for item in value]
    if not isinstance(value, dict):
        return value
    if _from_synalinks(value) and "class_name" in value:
        return _entry(value, where)
    return {key: _translate_value(item, where) for key, item in value.items()}


def _accepted(cls: type) -> set[str]:
    """The keyword arguments ``cls`` takes, following ``**kwargs`` up to the base class
    they are passed on to (``ChainOfThought`` takes ``Generator``'s)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names |= {
            p.name
            for p in parameters
            if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD
        }
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names


def _builtin_config(cls: type, config: dict, where: str) -> dict:
    """``config`` as ``cls``'s constructor takes it: models as plain configs, nested
    modules translated; options synaprefect lacks are dropped when unset (or at
    Synalinks' default) and refused when set."""
    config = {
        key: _model_config(value, where)
        if key in _MODEL_KEYS and isinstance(value, dict)
        else _translate_value(value, where)
        for key, value in config.items()
    }
    accepted = _accepted(cls)
    unsupported = []
    for key in [k for k in config if k not in accepted]:
        value = config.pop(key)
        if value not in (None, False, [], {}, "") and _SYNALINKS_DEFAULTS.get(key) != value:
            unsupported.append(key)
    if unsupported:
        raise ValueError(
            f"{where} ({cls.__name__}) sets {sorted(unsupported)}, which synaprefect's "
            f"{cls.__name__} does not support; the program cannot be loaded as saved."
        )
    return config


def _entry(entry: dict, where: str) -> dict:
    """A serialized Synalinks object as a synaprefect one."""
    class_name = entry.get("class_name")
    config = entry.get("config") or {}
    where = f"{where} > {entry.get('name') or config.get('name') or class_name}"
    functional = isinstance(config, dict) and "input_modules" in config
    if not _from_synalinks(entry):  # a custom class: found through the registry only
        translated = (
            _program_config(config, where) if functional else _translate_value(config, where)
        )
        return {
            "module": entry.get("module"),
            "class_name": class_name,
            "registered_name": entry.get("registered_name"),
            "config": translated,
            **({"name": entry["name"]} if "name" in entry else {}),
        }
    module, name = _builtin_class(str(class_name), where)
    if name in _MODEL_CLASSES:
        translated = _model_config(entry, where)
    elif name == "Sequential":
        translated = _sequential_config(config, where)
    elif functional:
        translated = _program_config(config, where)
    else:
        translated = _builtin_config(getattr(builtin_modules, name), config, where)
    return {
        "module": module,
        "class_name": name,
        "registered_name": None,
        "config": translated,
        **({"name": entry["name"]} if "name" in entry else {}),
    }


# ---- graphs ----------------------------------------------------------------------------


def _symbolic_refs(value: Any, positions: dict, where: str) -> Any:
    """Synalinks' placeholders (``synalinks_history: [module, node, index]``) as
    synaprefect's ``{"__symbolic__": [node position, index]}``; ``KeyError`` while the
    producing node is not placed yet."""
    if isinstance(value, list):
        return [_symbolic_refs(item, positions, where) for item in value]
    if isinstance(value, dict) and value.get("class_name") == "__symbolic_data_model__":
        module_name, node_index, index = value["config"]["synalinks_history"]
        return {"__symbolic__": [positions[(module_name, node_index)], index]}
    if isinstance(value, dict) and str(value.get("class_name", "")).startswith("__"):
        raise ValueError(
            f"{where}: constant arguments ({value['class_name']}) in a module "
            "call are not supported."
        )
    if isinstance(value, dict):
        return {k: _symbolic_refs(v, positions, where) for k, v in value.items()}
    return value


def _program_config(config: dict, where: str) -> dict:
    entries = config.get("modules") or []
    modules = [_entry(entry, where) for entry in entries]
    pending = []
    for entry, module in zip(entries, modules):
        calls = entry.get("inbound_nodes") or []
        if any(not isinstance(call, dict) for call in calls):
            raise ValueError(
                f"{where}: module {entry.get('name')!r} uses Synalinks' "
                "legacy node format, which is not supported."
            )
        # A nested Synalinks program counts its own input-to-output node first.
        offset = 1 if entry.get("class_name") in _PROGRAM_CLASSES else 0
        if module["class_name"] == InputModule.__name__:
            calls = [{"args": [], "kwargs": {}}]
        pending += [(entry["name"], index + offset, call) for index, call in enumerate(calls)]
    positions: dict[tuple[str, int], int] = {}
    nodes: list[dict] = []
    while pending:
        waiting = []
        for name, index, call in pending:
            try:
                args = _symbolic_refs(call.get("args") or [], positions, where)
                kwargs = _symbolic_refs(
                    {k: v for k, v in (call.get("kwargs") or {}).items() if k != "training"},
                    positions,
                    where,
                )
            except KeyError:
                waiting.append((name, index, call))
                continue
            positions[(name, index)] = len(nodes)
            nodes.append({"module": name, "args": args, "kwargs": kwargs})
        if len(waiting) == len(pending):
            raise ValueError(
                f"{where}: the module calls refer to outputs no module "
                f"produces ({[n for n, _, _ in waiting]})."
            )
        pending = waiting

    def ends(structure: Any) -> Any:
        if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str):
            return {"__symbolic__": [positions[(structure[0], structure[1])], structure[2]]}
        if isinstance(structure, dict):
            return {k: ends(v) for k, v in structure.items()}
        items = [ends(v) for v in structure]
        return items[0] if len(items) == 1 else items

    return {
        "name": config.get("name"),
        "description": config.get("description"),
        "trainable": config.get("trainable", True),
        "modules": modules,
        "nodes": nodes,
        "inputs": ends(config["input_modules"]),
        "outputs": ends(config["output_modules"]),
    }


def _sequential_config(config: dict, where: str) -> dict:
    modules = [_entry(entry, where) for entry in config.get("modules") or []]
    input_schema = config.get("build_input_schema")
    if modules and modules[0]["class_name"] == InputModule.__name__:
        input_schema = modules.pop(0)["config"].get("schema")
    return {
        "name": config.get("name"),
        "description": config.get("description"),
        "trainable": config.get("trainable", True),
        "input_schema": input_schema,
        "modules": modules,
    }


def from_synalinks_document(document: dict) -> dict:
    """A Synalinks program file as a synaprefect program document (uncompiled)."""
    converted = _entry(document, "The Synalinks file")
    converted.pop("name", None)
    result = {"synaprefect_version": __version__, **converted}
    if "variables" in document:
        result["variables"] = document["variables"]
    return result
