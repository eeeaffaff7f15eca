"""Durable state on the local disk or any fsspec URL (``s3://``, ``gs://``, ``az://``).

Example:
```python
from synaprefect import storage

storage.set_storage("s3://ml-state/synaprefect")   # or $SYNAPREFECT_STORAGE
storage.location("s3://ml-state/qa.json").write_json({"answer": 42})
```
"""

from synaprefect.storage.location import (
    Location,
    StorageError,
    absolute,
    is_url,
    location,
)
from synaprefect.storage.settings import set_storage, storage_root

__all__ = [
    "Location",
    "StorageError",
    "absolute",
    "is_url",
    "location",
    "set_storage",
    "storage_root",
]
