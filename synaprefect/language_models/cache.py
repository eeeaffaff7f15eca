"""A content-addressed response cache: one JSON file per key, written atomically."""

import json
from pathlib import Path
from typing import Any

from synaprefect.utils.json_utils import atomic_write_json

__all__ = ["ResponseCache"]


class ResponseCache:
    """Stores answers under ``<directory>/<key[:2]>/<key>.json``.

    Safe across processes: writers rename whole files into place, so a reader sees either
    nothing or a complete answer; an unreadable file is treated as a miss.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> Any | None:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))["value"]
        except (OSError, ValueError, KeyError):
            return None

    def put(self, key: str, value: Any) -> None:
        atomic_write_json(self._path(key), {"key": key, "value": value})
