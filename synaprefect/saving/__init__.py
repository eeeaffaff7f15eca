"""Saving: JSON-only, atomic files; a registry for custom classes."""

from synaprefect.saving.serialization import (
    custom_object_scope,
    deserialize_object,
    register_synaprefect_serializable,
    serialize_object,
)

__all__ = [
    "register_synaprefect_serializable",
    "serialize_object",
    "deserialize_object",
    "custom_object_scope",
]
