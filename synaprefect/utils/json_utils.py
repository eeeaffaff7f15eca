"""Canonical JSON, stable hashes and atomic JSON files (never pickle)."""

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def canonical_dumps(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stable_hash(value: Any) -> str:
    """A sha256 of the canonical JSON of ``value``, identical across processes."""
    return hashlib.sha256(canonical_dumps(value).encode("utf-8")).hexdigest()


def pretty_dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def atomic_write_json(path: str | os.PathLike, value: Any) -> None:
    """Write ``value`` as JSON to ``path`` atomically (see ``atomic_write_bytes``)."""
    atomic_write_bytes(path, (pretty_dumps(value) + "\n").encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    The content goes to a temporary file in the same folder, is flushed and fsynced, then
    renamed over ``path``: readers and concurrent writers only ever see a whole file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json_file(path: str | os.PathLike, what: str = "file") -> Any:
    """Read a JSON document, turning every failure into a clear ``ValueError``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No {what} at '{path}'. Check the path.")
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"The {what} '{path}' is not valid JSON (line {error.lineno}, column "
            f"{error.colno}: {error.msg}); it may be truncated or corrupt. Nothing was "
            "loaded."
        ) from None
