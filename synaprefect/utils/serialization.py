"""Turn objects into JSON configs and back, through an explicit registry (no pickle, no
arbitrary imports)."""

import contextlib
import contextvars
import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from synaprefect.utils.context import bound

__all__ = [
    "register_synaprefect_serializable",
    "register_synalinks_serializable",
    "serialize_object",
    "deserialize_object",
    "serialize_synalinks_object",
    "deserialize_synalinks_object",
    "custom_object_scope",
    "CustomObjectScope",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
]

_REGISTRY: dict[str, Any] = {}
_REGISTERED_NAMES: dict[Any, str] = {}
# Read-only default: a scope always installs a new dict.
_custom_objects: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "synaprefect_custom_objects", default=MappingProxyType({})
)


def register_synaprefect_serializable(
    package: str = "Custom", name: str | None = None
) -> Callable[[Any], Any]:
    """Register a class (or a function, e.g. a reward function) so saved programs can
    refer to it as ``"<package>>Name"``; loading finds it only through this registry.

    Example:
    ```python
    @synaprefect.saving.register_synaprefect_serializable(package="my_project")
    class Shout(synaprefect.Module):
        ...
    ```
    """

    def decorator(obj: Any) -> Any:
        key = f"{package}>{name or obj.__name__}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise TypeError(f"{obj.__name__} needs a get_config() method to be saved.")
        if not isinstance(obj, type) and not callable(obj):
            raise TypeError(f"Only classes and functions can be registered, got {obj!r:.80}.")
        _REGISTRY[key] = obj
        _REGISTERED_NAMES[obj] = key
        return obj

    return decorator


# Synalinks' name for the same decorator (same arguments, same ``"package>Name"`` keys).
register_synalinks_serializable = register_synaprefect_serializable


@contextlib.contextmanager
def custom_object_scope(custom_objects: dict | None):
    """Make ``custom_objects`` (``{name: class}``) resolvable while loading.

    Example:
    ```python
    with synaprefect.saving.custom_object_scope({"Shout": Shout}):
        program = synaprefect.Program.load("program.json")
    ```
    """
    with bound(_custom_objects, {**_custom_objects.get(), **(custom_objects or {})}):
        yield


# Synalinks spells it as a class; ``with CustomObjectScope({...}):`` works the same.
CustomObjectScope = custom_object_scope


def get_custom_objects() -> dict[str, type]:
    """A copy of the registry: ``{"package>Name": class}``."""
    return dict(_REGISTRY)


def get_registered_name(obj: Any) -> str:
    """The key ``obj`` (a class) is registered under, else its plain name."""
    return _REGISTERED_NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


def get_registered_object(name: str, custom_objects: dict | None = None) -> Any:
    """The class registered (or passed in ``custom_objects``, or in scope) as ``name``,
    else ``None``; never imports anything."""
    for table in (custom_objects or {}, _custom_objects.get(), _REGISTRY):
        if name in table:
            return table[name]
    return None


def serialize_object(obj: Any) -> dict:
    cls = type(obj)
    return {
        "module": cls.__module__,
        "class_name": cls.__name__,
        "config": obj.get_config(),
        "registered_name": _REGISTERED_NAMES.get(cls),
    }


def _resolve_class(entry: dict) -> type[Any]:
    class_name = entry["class_name"]  # checked by deserialize_object
    registered = entry.get("registered_name")
    custom = _custom_objects.get()
    for key in (registered, class_name):
        if key and key in custom:
            return custom[key]
    if registered and isinstance(_REGISTRY.get(registered), type):
        return _REGISTRY[registered]
    module_name = entry.get("module") or ""
    if module_name == "synaprefect" or module_name.startswith("synaprefect."):
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            cls = None
        # Defined there, not only imported there: a file cannot name ``threading.Thread``
        # as ``synaprefect.testing.server:Thread``.
        if isinstance(cls, type) and cls.__module__ == module_name:
            return cls
    raise ValueError(
        f"Unknown class {class_name!r} (module {module_name!r}) in the saved file. "
        "Pass it with `custom_objects={...}` or register it with "
        "`@synaprefect.saving.register_synaprefect_serializable()`."
    )


def deserialize_object(entry: Any, **kwargs) -> Any:
    """Recreate an object from ``serialize_object``'s output."""
    if not isinstance(entry, dict) or "class_name" not in entry or "config" not in entry:
        raise ValueError(
            f"Expected a serialized object with 'class_name' and 'config', got {entry!r:.200}."
        )
    cls = _resolve_class(entry)
    return cls.from_config(entry["config"], **kwargs)


_PLAIN = (str, int, float, bool, type(None))


def serialize_synalinks_object(obj: Any) -> Any:
    """JSON for ``obj``: plain values, lists and dicts as they are (their items
    serialized), any other object as ``serialize_object`` describes it.

    Example (a custom module's ``get_config``):
    ```python
    return {"language_model": synaprefect.saving.serialize_synalinks_object(self.lm)}
    ```
    """
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_synalinks_object(item) for item in obj]
    if isinstance(obj, dict):
        return {key: serialize_synalinks_object(value) for key, value in obj.items()}
    return serialize_object(obj)


def _is_serialized_object(value: Any) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value


def deserialize_synalinks_object(config: Any, custom_objects: dict | None = None) -> Any:
    """The inverse of ``serialize_synalinks_object``; classes resolve only through the
    registry, ``custom_objects`` and synaprefect's own classes.

    Example (a custom module's ``from_config``):
    ```python
    lm = synaprefect.saving.deserialize_synalinks_object(config.pop("language_model"))
    ```
    """
    if isinstance(config, list):
        return [deserialize_synalinks_object(item, custom_objects) for item in config]
    if _is_serialized_object(config):
        with custom_object_scope(custom_objects):
            return deserialize_object(config)
    if isinstance(config, dict):
        return {
            key: deserialize_synalinks_object(value, custom_objects)
            for key, value in config.items()
        }
    return config
