"""Whole-program and variables-only saving, as atomic JSON files."""

import os
from typing import Any

from synaprefect.data_models.validation import schema_errors
from synaprefect.storage import location
from synaprefect.utils.serialization import (
    custom_object_scope,
    deserialize_object,
    serialize_object,
)

__all__ = [
    "save_program",
    "load_program",
    "read_program_file",
    "program_document",
    "program_from_document",
    "save_variables",
    "load_variables",
    "get_state_tree",
    "set_state_tree",
    "serialize_module",
    "deserialize_module",
]

FORMAT_KEYS = ("synaprefect_version", "module", "class_name", "registered_name", "config")


def _check_suffix(filepath: str | os.PathLike, suffix: str, what: str) -> str:
    filepath = os.fspath(filepath)
    if not filepath.endswith(suffix):
        raise ValueError(
            f"{what} must be saved to a path ending with '{suffix}', got '{filepath}'. "
            f"Use e.g. 'my_program{suffix}'."
        )
    return filepath


def serialize_module(module) -> dict:
    """A module's registered class and config, with its name (a program's modules)."""
    return {**serialize_object(module), "name": module.name}


def deserialize_module(entry: dict):
    """The module ``serialize_module`` described, under its saved name."""
    module = deserialize_object(entry)
    if entry.get("name"):
        module.name = entry["name"]
    return module


# ---- state tree ------------------------------------------------------------------------


def _sections(program) -> dict[str, list]:
    hook = getattr(program, "_state_sections", None)
    if hook is not None:
        return hook()
    return {
        "trainable_variables": program.trainable_variables,
        "non_trainable_variables": program.non_trainable_variables,
    }


def get_state_tree(program) -> dict:
    """``{section: {module name: {variable name: value}}}`` for every variable."""
    tree: dict[str, dict] = {}
    seen: set[str] = set()
    for section, variables in _sections(program).items():
        tree[section] = {}
        for variable in variables:
            if variable.path in seen:
                raise ValueError(
                    f"Two variables share the path '{variable.path}'; give the modules "
                    "distinct names."
                )
            seen.add(variable.path)
            module_name, _, name = variable.path.rpartition("/")
            tree[section].setdefault(module_name or "_", {})[name] = variable.value()
    return tree


# Training state: restored when the program has it (compiled, with an optimizer), skipped
# otherwise, so variables saved from a compiled program load into an inference copy; an
# empty section saved nothing. Synalinks' optimizer and metric state (a file with its
# optimizer sections) never loads: they keep other bookkeeping, and metrics restart with
# every job anyway.
_TRAINING_SECTIONS = ("optimizer_variables", "metrics_variables")
_SYNALINKS_OPTIMIZER_SECTIONS = (
    "optimizer_trainable_variables",
    "optimizer_non_trainable_variables",
)


def _collect(
    section: str, subtree: Any, prefix: str, paths: set[str], found: dict, unexpected: list
) -> None:
    """Values of ``paths`` in ``subtree``: keys are path parts, nested (as Synalinks
    writes them) or joined with ``/`` (``"_"`` stands for no module)."""
    if not isinstance(subtree, dict):
        unexpected.append(prefix or section)
        return
    for key, value in subtree.items():
        path = f"{prefix}/{key}" if prefix else key
        if path == "_":
            _collect(section, value, "", paths, found, unexpected)
        elif path in paths:
            found[path] = value
        elif any(p.startswith(path + "/") for p in paths):
            _collect(section, value, path, paths, found, unexpected)
        elif not prefix and isinstance(value, dict) and value:  # name module/variable
            unexpected.extend(f"{path}/{child}" for child in value)
        else:
            unexpected.append(path)


def set_state_tree(program, tree: Any) -> None:
    """Assign every variable from ``tree``; checks the whole tree first, so a bad file
    leaves the program unchanged. The program's own variables must all be there; the
    training state (optimizer, metrics) loads when the program has it."""
    if not isinstance(tree, dict):
        raise ValueError(f"A state tree must be a JSON object, got {type(tree).__name__}.")
    sections = _sections(program)
    known = set(sections) | set(_TRAINING_SECTIONS) | set(_SYNALINKS_OPTIMIZER_SECTIONS)
    unknown_sections = sorted(set(tree) - known)
    if unknown_sections:
        raise ValueError(
            f"Unknown section(s) {unknown_sections} in the variables; expected "
            f"{sorted(sections)}. Nothing was loaded."
        )
    variables: dict[str, Any] = {}
    incoming: dict[str, Any] = {}
    unexpected: list[str] = []
    from_synalinks = any(section in tree for section in _SYNALINKS_OPTIMIZER_SECTIONS)
    for section, owned in sections.items():
        if section in _TRAINING_SECTIONS and (not tree.get(section) or from_synalinks):
            continue  # e.g. a file saved before compiling: the training state stays
        paths = {v.path for v in owned}
        variables.update({v.path: v for v in owned})
        _collect(section, tree.get(section) or {}, "", paths, incoming, unexpected)
    missing = sorted(set(variables) - set(incoming))
    if unexpected or missing:
        raise ValueError(
            "The saved variables do not match this program's architecture: "
            f"unexpected {sorted(unexpected)}, missing {missing}. Nothing was loaded."
        )
    for path, value in incoming.items():
        problems = schema_errors(value, variables[path].schema())
        if problems:
            raise ValueError(
                f"Saved value of variable '{path}' does not match its schema: "
                f"{'; '.join(problems)}. Nothing was loaded."
            )
    for path, value in incoming.items():
        variables[path].assign(value)


# ---- files ---------------------------------------------------------------------------


def program_document(program) -> dict:
    """The whole program as one JSON-ready dict: architecture, compile settings and
    variables (what ``save`` writes, and what travels to other processes)."""
    from synaprefect.version import __version__

    document = {"synaprefect_version": __version__, **serialize_object(program)}
    compile_config = getattr(program, "_get_compile_config", lambda: None)()
    if compile_config is not None:
        document["compile_config"] = compile_config
    document["variables"] = get_state_tree(program)
    return document


def program_from_document(
    document: Any,
    custom_objects: dict | None = None,
    source: str = "the document",
    with_variables: bool = True,
):
    """The program ``program_document`` described, compiled as it was; without
    ``with_variables``, an architecture alone (``to_json``) gives fresh variables."""
    required = ("class_name", "config", "variables") if with_variables else ("class_name", "config")
    if not isinstance(document, dict) or any(key not in document for key in required):
        raise ValueError(
            f"{source} is not a synaprefect program file (expected the keys "
            f"{', '.join(map(repr, required))}); was it written by `program.save()`?"
        )
    with custom_object_scope(custom_objects):
        entry = {key: document.get(key) for key in FORMAT_KEYS}
        program = deserialize_object(entry)  # the scope holds custom_objects
        if document.get("compile_config") is not None:
            program._compile_from_config(document["compile_config"])
    if document.get("variables") is not None:
        set_state_tree(program, document["variables"])
    return program


# Paths and fsspec URLs alike (``s3://bucket/qa.json``): see ``synaprefect.storage``.


def save_program(program, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    target = location(_check_suffix(filepath, ".json", "A program"))
    if not overwrite and target.exists():
        raise FileExistsError(f"'{target.url}' exists; pass overwrite=True to replace it.")
    target.write_json(program_document(program))


def read_program_file(filepath: str | os.PathLike) -> tuple[Any, str]:
    """The parsed JSON of a program file, and how errors should name it."""
    source = location(_check_suffix(filepath, ".json", "A program"))
    return source.read_json("program file"), f"'{source.url}'"


def load_program(filepath: str | os.PathLike, custom_objects: dict | None = None):
    document, source = read_program_file(filepath)
    return program_from_document(document, custom_objects, source=source)


def save_variables(program, filepath: str | os.PathLike) -> None:
    location(_check_suffix(filepath, ".variables.json", "Variables")).write_json(
        get_state_tree(program)
    )


def load_variables(program, filepath: str | os.PathLike) -> None:
    source = location(_check_suffix(filepath, ".variables.json", "Variables"))
    set_state_tree(program, source.read_json("variables file"))
