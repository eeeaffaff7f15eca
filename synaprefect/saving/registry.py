"""``NamedRegistry``: resolve built-in classes by name, and objects from configs.

Rewards, metrics and optimizers all accept a name (``"exact_match"``, ``"ExactMatch"``),
a serialized config, a class, an instance, and for some a plain function.
"""

from collections.abc import Callable
from typing import Any

from synaprefect.utils.naming import to_snake_case
from synaprefect.utils.serialization import deserialize_object, serialize_object

__all__ = ["NamedRegistry"]


def _normalize(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


class NamedRegistry:
    """The built-in classes of one kind (``"reward"``, ``"metric"``...) and their lookup.

    ``wrap_function`` turns a plain callable into an instance (e.g. a reward function into
    a ``RewardFunctionWrapper``); without it, callables are refused.
    """

    def __init__(
        self, kind: str, base: type, wrap_function: Callable[[Callable], Any] | None = None
    ):
        self.kind = kind
        self.base = base
        self.wrap_function = wrap_function
        self._classes: dict[str, type[Any]] = {}

    def register(self, cls: type) -> type:
        """Class decorator: make ``cls`` reachable by name (snake or Camel case)."""
        self._classes[_normalize(cls.__name__)] = cls
        return cls

    def alias(self, name: str, cls: type) -> None:
        self._classes[_normalize(name)] = cls

    def known_names(self) -> list[str]:
        return sorted({to_snake_case(cls.__name__) for cls in self._classes.values()})

    def serialize(self, obj: Any) -> dict:
        """A JSON config of ``obj`` (``deserialize`` recreates it)."""
        if not isinstance(obj, self.base):
            raise TypeError(f"serialize() takes a {self.base.__name__}, got {type(obj).__name__}.")
        return serialize_object(obj)

    def deserialize(self, config: dict, **kwargs: Any) -> Any:
        """Recreate an object from ``serialize``'s output, or from a short
        ``{"class_name": name, "config": {...}}`` naming a built-in class."""
        if (
            isinstance(config, dict)
            and "module" not in config
            and isinstance(config.get("class_name"), str)
        ):
            cls = self._classes.get(_normalize(config["class_name"]))
            if cls is not None:
                return cls.from_config(config.get("config") or {}, **kwargs)
        obj = deserialize_object(config, **kwargs)
        if not isinstance(obj, self.base):
            raise ValueError(
                f"The config describes a {type(obj).__name__}, not a {self.base.__name__}."
            )
        return obj

    def get(self, identifier: Any) -> Any:
        """An instance from a name, a config dict, a class, an instance or (when
        supported) a plain function; ``None`` stays ``None``."""
        if identifier is None or isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            cls = self._classes.get(_normalize(identifier))
            if cls is None:
                raise ValueError(
                    f"Unknown {self.kind} {identifier!r}. Known {self.kind}s: "
                    f"{', '.join(self.known_names())}. Pass a {self.base.__name__} instance"
                    + (" or a function `fn(y_true, y_pred) -> float`" if self.wrap_function else "")
                    + " for anything else."
                )
            return cls()
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if callable(identifier) and self.wrap_function is not None:
            return self.wrap_function(identifier)
        raise TypeError(
            f"Cannot interpret {identifier!r:.80} as a {self.kind}: pass a name, a config "
            f"dict or a {self.base.__name__}" + (" or a function." if self.wrap_function else ".")
        )
