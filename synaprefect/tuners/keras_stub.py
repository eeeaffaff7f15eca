"""Import ``keras_tuner`` without a tensor backend.

keras-tuner imports ``keras`` at import time, and Keras 3 refuses to load without
TensorFlow, JAX or PyTorch, none of which a language-model program needs (Keras' own
numpy backend is no way out either: it imports scipy and jax). ``disable_keras_backend()``
imports keras-tuner against small stand-in ``keras`` modules holding only what it
touches, then takes the stand-ins out of ``sys.modules`` again: keras-tuner's modules keep
the ones they imported, and the rest of the process never sees a fake ``keras``.
``import_keras_tuner()`` is how the tuners load keras-tuner: lazily, with errors that say
what to do.
"""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

__all__ = ["disable_keras_backend", "import_keras_tuner"]

# Marks the modules installed here, so that they are told apart from a real Keras.
_STUB_MARK = "__synaprefect_keras_stub__"
# keras-tuner checks ``keras.version().startswith("3.")`` to pick its Keras 3 code paths.
_STUB_VERSION = "3.0.0"
# Whether this process's keras_tuner was imported against the stand-ins.
_loaded_with_stubs = False


def disable_keras_backend() -> None:
    """Let ``keras_tuner`` import without TensorFlow, JAX or PyTorch.

    Imports ``keras_tuner`` now, against stand-in ``keras`` modules (``keras``,
    ``keras.config``, ``keras.src``, ``keras.src.ops``, ``keras.random``,
    ``keras.callbacks``, ``keras.metrics``, ``keras.losses``, ``keras.utils``) and empty
    ``keras_tuner.applications`` modules (the prebuilt image models need real Keras
    layers). The stand-ins leave ``sys.modules`` once keras-tuner is loaded: keras-tuner
    keeps them, nothing else in the process sees them. Call it before anything imports
    ``keras_tuner``.

    It does nothing when called again, when keras-tuner is not installed (the tuners then
    say how to install it), nor when a real ``keras`` is already imported (then
    keras-tuner can use it). It warns and does nothing when ``keras_tuner`` was already
    imported otherwise: its modules hold the Keras they imported.

    Example:
    ```python
    import synaprefect
    synaprefect.disable_keras_backend()     # before keras_tuner is imported
    tuner = synaprefect.tuners.RandomSearch(build_program, objective="val_reward",
                                            max_trials=5)
    ```
    """
    global _loaded_with_stubs
    if _loaded_with_stubs:
        return
    if "keras_tuner" in sys.modules:
        warnings.warn(
            "disable_keras_backend() was called after `keras_tuner` was imported, so it "
            "has no effect: call it first thing in your program, before anything imports "
            "keras_tuner.",
            RuntimeWarning,
            stacklevel=2,
        )
        return
    if "keras" in sys.modules:
        return  # a working Keras is already loaded: keras-tuner will use it
    _purge_failed_imports()
    stubs = _stub_modules()
    sys.modules.update(stubs)
    try:
        import keras_tuner  # noqa: F401  (its modules keep the stand-ins they import)

        _loaded_with_stubs = True
    except ModuleNotFoundError as error:
        if error.name != "keras_tuner":
            raise
    finally:
        # No fake ``keras`` stays; keras-tuner's own stand-in submodules stay with it.
        for name, module in stubs.items():
            if sys.modules.get(name) is module and not (
                _loaded_with_stubs and name.startswith("keras_tuner.")
            ):
                del sys.modules[name]
        if not _loaded_with_stubs:
            _purge_failed_imports()


def import_keras_tuner(feature: str) -> Any:
    """The ``keras_tuner`` module, imported now if needed; ``feature`` (such as
    ``"synaprefect.tuners.RandomSearch"``) names what needs it in the errors.

    Raises ``ImportError`` when keras-tuner is not installed, and ``RuntimeError`` asking
    for ``disable_keras_backend()`` when Keras (or its tensor backend) cannot load.

    Example: ``kt = import_keras_tuner("synaprefect.tuners.Objective")``
    """
    try:
        import keras_tuner
    except ModuleNotFoundError as error:
        if error.name == "keras_tuner":
            raise ImportError(
                f"`{feature}` requires keras-tuner. Install it with `pip install keras-tuner`."
            ) from error
        _purge_failed_imports()
        raise _keras_error(feature, error) from error
    except Exception as error:  # Keras fails in many ways without a backend
        _purge_failed_imports()
        raise _keras_error(feature, error) from error
    return keras_tuner


def _keras_error(feature: str, error: BaseException) -> RuntimeError:
    return RuntimeError(
        f"`{feature}` could not import `keras_tuner`, because Keras could not load "
        f"({type(error).__name__}: {error}). Keras needs TensorFlow, JAX or PyTorch, which "
        "synaprefect does not: call `synaprefect.disable_keras_backend()` first thing in "
        "your program, before keras_tuner is imported (or install a Keras backend)."
    )


def _purge_failed_imports() -> None:
    # A failed ``import keras`` leaves the submodules it did import behind; drop them so
    # that the stand-ins (or a later real import) start from a clean slate.
    for name in [n for n in sys.modules if n.split(".")[0] in ("keras", "keras_tuner")]:
        if not getattr(sys.modules[name], _STUB_MARK, False):
            del sys.modules[name]


def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name, f"synaprefect stand-in for `{name}` (no backend).")
    setattr(module, _STUB_MARK, True)
    for key, value in attributes.items():
        setattr(module, key, value)
    return module


def _deserialize_metric(config: Any, *args: Any, **kwargs: Any) -> Any:
    # keras-tuner asks Keras whether a name is a known metric or loss to infer an
    # objective's direction; with no Keras there is none (synaprefect infers it instead).
    raise ValueError(f"No Keras metric or loss named {config!r} (Keras is disabled).")


def _serialize_object(obj: Any) -> dict:
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def _deserialize_object(
    config: dict, custom_objects: dict | None = None, module_objects: dict | None = None
) -> Any:
    # keras-tuner stores hyperparameters and conditions as {"class_name", "config"} and
    # passes its own classes as ``module_objects``.
    name = config["class_name"]
    for objects in (custom_objects or {}, module_objects or {}):
        if name in objects:
            return objects[name].from_config(config["config"])
    raise ValueError(f"Unknown object {name!r}: pass its class in `custom_objects`.")


def _stub_modules() -> dict[str, types.ModuleType]:
    class Callback:
        """Stand-in for ``keras.callbacks.Callback``."""

        def __init__(self) -> None:
            self.model = None

    class History(Callback):
        """Stand-in for ``keras.callbacks.History`` (synaprefect has its own)."""

    class Metric:
        """Stand-in for ``keras.metrics.Metric``."""

    class Loss:
        """Stand-in for ``keras.losses.Loss``."""

    modules = {
        "keras.config": _module("keras.config", backend=lambda: "numpy"),
        "keras.src.ops": _module("keras.src.ops"),
        "keras.random": _module("keras.random"),
        "keras.callbacks": _module("keras.callbacks", Callback=Callback, History=History),
        "keras.metrics": _module("keras.metrics", Metric=Metric, deserialize=_deserialize_metric),
        "keras.losses": _module("keras.losses", Loss=Loss, deserialize=_deserialize_metric),
        "keras.utils": _module(
            "keras.utils",
            serialize_keras_object=_serialize_object,
            deserialize_keras_object=_deserialize_object,
        ),
        "keras_tuner.applications": _module("keras_tuner.applications"),
        "keras_tuner.src.applications": _module("keras_tuner.src.applications"),
    }
    modules["keras.src"] = _module("keras.src", ops=modules["keras.src.ops"])
    modules["keras"] = _module(
        "keras",
        __version__=_STUB_VERSION,
        version=lambda: _STUB_VERSION,
        **{
            name.split(".")[1]: module
            for name, module in modules.items()
            if name.count(".") == 1 and name.startswith("keras.")
        },
    )
    return modules
