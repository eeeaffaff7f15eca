"""``Location``: a file or folder on the local disk or behind an fsspec URL.

Durable state (run stores, saved programs, checkpoints, champions) goes through here, so
that ``s3://bucket/p.json`` is written to the bucket and never to a local folder named
``s3:``. Local paths keep the local guarantees (an atomic rename per file); on object
stores a whole object is one PUT, which is atomic too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from synaprefect.utils.json_utils import atomic_write_bytes, pretty_dumps

__all__ = ["Location", "location", "is_url", "absolute", "StorageError"]

# fsspec protocol -> (the package that implements it, the synaprefect extra installing it)
_PROVIDERS = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "abfss": ("adlfs", "azure"),
}
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


class StorageError(ConnectionError):
    """A storage URL could not be read or written (the message names the URL). A
    ``ConnectionError``: tasks retry it, as a network hiccup."""


def is_url(path: Any) -> bool:
    """True for ``scheme://...`` other than ``file://``."""
    return _scheme(str(path)) not in (None, "file")


def _scheme(text: str) -> str | None:
    match = _SCHEME.match(text)
    return match.group(1).lower() if match is not None else None


def _display(url: str) -> str:
    # Never show credentials written into a URL (``s3://key:secret@bucket``); a bare
    # ``container@account`` (Azure) is a name, not a credential.
    return re.sub(r"://[^/@:]*:[^/@]*@", "://***@", url)


def location(path: str | os.PathLike | Location, **storage_options: Any) -> Location:
    """The ``Location`` of a local path, a ``file://`` URL or any fsspec URL.

    Example: ``location("s3://models/qa.json").write_json({"a": 1})``
    """
    if isinstance(path, Location):
        return path
    text = os.fspath(path)
    if text.startswith("file://"):
        text = text[len("file://") :]
    scheme = _scheme(text)
    if scheme is None or scheme == "file":
        return Location(str(Path(text).expanduser()), None, {})
    from synaprefect.storage.settings import options_for

    return Location(text.rstrip("/"), scheme, {**options_for(text), **storage_options})


def absolute(path: str | os.PathLike) -> str:
    """What to record in a pointer (a champion, a report): a URL as it is, a local path
    made absolute (it must still mean the same file from another working directory).

    Example: ``absolute("models/qa.json")  # '/srv/project/models/qa.json'``
    """
    found = location(path)
    return found.url if not found.is_local else str(Path(found.path).resolve())


class Location:
    """A path on the local disk (``protocol`` None) or in an fsspec file system."""

    def __init__(self, path: str, protocol: str | None, options: dict):
        self.path = path
        self.protocol = protocol
        self._options = options

    # ---- identity -----------------------------------------------------------------------

    @property
    def is_local(self) -> bool:
        return self.protocol is None

    @property
    def url(self) -> str:
        """What to show and to store in pointers (credentials never included)."""
        return _display(self.path)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def __truediv__(self, part: str) -> Location:
        return Location(f"{self.path.rstrip('/')}/{part}", self.protocol, self._options)

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"Location({self.url!r})"

    def _fs(self):
        import fsspec

        try:
            # No listing cache: another machine writes the same folders (a finished job's
            # marker, a resumed job's steps), and a stale listing would hide them.
            return fsspec.filesystem(
                self.protocol, **{"use_listings_cache": False, **self._options}
            )
        except ImportError:
            provider = _PROVIDERS.get(self.protocol or "")
            hint = (
                f"pip install 'synaprefect[{provider[1]}]' (it installs {provider[0]})"
                if provider
                else "install the fsspec implementation of this protocol"
            )
            raise ImportError(
                f"{self.url}: {self.protocol}:// needs a package that is not installed: {hint}."
            ) from None
        except ValueError as error:  # an unknown protocol
            raise ValueError(f"{self.url}: not a storage URL fsspec knows ({error}).") from None

    def _fail(self, doing: str, error: Exception) -> StorageError:
        return StorageError(
            f"Could not {doing} {self.url}: {type(error).__name__}: {_display(str(error))[:300]}"
        )

    # ---- reading ------------------------------------------------------------------------

    def read_bytes(self, what: str = "file") -> bytes:
        """The content; ``FileNotFoundError`` naming ``what`` and the URL when absent."""
        try:
            if self.is_local:
                return Path(self.path).read_bytes()
            return self._fs().cat_file(self.path)
        except FileNotFoundError:
            raise FileNotFoundError(f"No {what} at '{self.url}'. Check the path.") from None
        except OSError as error:
            raise self._fail(f"read the {what}", error) from None

    def read_json(self, what: str = "file") -> Any:
        """The JSON document; a clear ``ValueError`` naming the URL when it is corrupt."""
        text = self.read_bytes(what).decode("utf-8", errors="replace")
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"The {what} '{self.url}' is not valid JSON (line {error.lineno}, column "
                f"{error.colno}: {error.msg}); it may be truncated or corrupt. Nothing was "
                "loaded."
            ) from None

    def exists(self) -> bool:
        if self.is_local:
            return os.path.exists(self.path)
        return self._fs().exists(self.path)

    def files(self) -> dict[str, int]:
        """Every file below this folder: path relative to it -> size in bytes."""
        if self.is_local:
            found = {}
            for path in Path(self.path).rglob("*"):
                try:  # another job may rename or delete its files meanwhile
                    if path.is_file():
                        found[str(path.relative_to(self.path))] = path.stat().st_size
                except FileNotFoundError:
                    continue
            return found
        fs = self._fs()
        if not fs.exists(self.path):
            return {}
        base = fs._strip_protocol(self.path).rstrip("/") + "/"
        return {
            name[len(base) :]: int(info.get("size") or 0)
            for name, info in fs.find(self.path, detail=True).items()
            if name.startswith(base)
        }

    def folders(self) -> list[Location]:
        """The folders directly below this one."""
        if self.is_local:
            root = Path(self.path)
            return (
                [Location(str(p), None, {}) for p in sorted(root.iterdir()) if p.is_dir()]
                if root.is_dir()
                else []
            )
        names = sorted({name.split("/", 1)[0] for name in self.files() if "/" in name})
        return [self / name for name in names]

    def read_all(self, what: str = "file") -> dict[str, Any]:
        """Every JSON file directly below this folder, by file name (one request for all
        of them on object stores)."""
        names = [n for n in self.files() if "/" not in n and n.endswith(".json")]
        if self.is_local:
            return {n: (self / n).read_json(what) for n in names}
        fs = self._fs()
        paths = [f"{self.path}/{n}" for n in names]
        try:
            contents = fs.cat(paths) if paths else {}
        except OSError as error:
            raise self._fail(f"read the {what}s under", error) from None
        by_name = {fs._strip_protocol(k).rsplit("/", 1)[-1]: v for k, v in contents.items()}
        return {n: json.loads(by_name[n]) for n in names if n in by_name}

    # ---- writing ------------------------------------------------------------------------

    def write_json(self, value: Any) -> None:
        """Write ``value`` as JSON, whole or not at all: never a partial file."""
        self.write_bytes((pretty_dumps(value) + "\n").encode("utf-8"))

    def write_bytes(self, data: bytes) -> None:
        """Write ``data``, whole or not at all: an atomic rename on a local disk, one PUT
        on an object store."""
        if self.is_local:
            atomic_write_bytes(self.path, data)
            return
        try:
            self._fs().pipe_file(self.path, data)
        except OSError as error:
            raise self._fail("write", error) from None

    def remove(self) -> None:
        """Delete this file or folder (nothing happens when it is absent)."""
        if self.is_local:
            if os.path.isdir(self.path):
                shutil.rmtree(self.path, ignore_errors=True)
            elif os.path.exists(self.path):
                os.remove(self.path)
            return
        fs = self._fs()
        if fs.exists(self.path):
            fs.rm(self.path, recursive=True)
