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
    "serialize_object",
    "deserialize_object",
    "custom_object_scope",
]

_REGISTRY: dict[str, type] = {}
_REGISTERED_NAMES: dict[type, str] = {}
# Read-only default: a scope always installs a new dict.
_custom_objects: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "synaprefect_custom_objects", default=MappingProxyType({})
)


def register_synaprefect_serializable(package: str = "Custom", name: str | None = None
                                      ) -> Callable[[type], type]:
    """Register a class so saved programs can refer to it as ``"<package>>Name"``.

    Example:
    ```python
    @synaprefect.saving.register_synaprefect_serializable(package="my_project")
    class Shout(synaprefect.Module):
        ...
    ```
    """

    def decorator(cls: type) -> type:
        key = f"{package}>{name or cls.__name__}"
        if not hasattr(cls, "get_config"):
            raise TypeError(f"{cls.__name__} needs a get_config() method to be saved.")
        _REGISTRY[key] = cls
        _REGISTERED_NAMES[cls] = key
        return cls

    return decorator


@contextlib.contextmanager
def custom_object_scope(custom_objects: dict | None):
    with bound(_custom_objects, {**_custom_objects.get(), **(custom_objects or {})}):
        yield


def serialize_object(obj: Any) -> dict:
    cls = type(obj)
    return {
        "module": cls.__module__,
        "class_name": cls.__name__,
        "config": obj.get_config(),
        "registered_name": _REGISTERED_NAMES.get(cls),
    }


def _resolve_class(entry: dict) -> type:
    class_name = entry.get("class_name")
    registered = entry.get("registered_name")
    custom = _custom_objects.get()
    for key in (registered, class_name):
        if key and key in custom:
            return custom[key]
    if registered and registered in _REGISTRY:
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
