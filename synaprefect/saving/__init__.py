"""Saving: JSON-only, atomic files; a registry for custom classes.

The Synalinks names (``register_synalinks_serializable``, ``serialize_synalinks_object``,
``deserialize_synalinks_object``, ``CustomObjectScope``...) are the same mechanism.
"""

from synaprefect.utils.serialization import (
    CustomObjectScope,
    custom_object_scope,
    deserialize_object,
    deserialize_synalinks_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_synalinks_serializable,
    register_synaprefect_serializable,
    serialize_object,
    serialize_synalinks_object,
)

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
