"""The storage setting: where every piece of durable state goes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["synaprefect_home", "set_storage", "storage_root", "options_for"]

_setting: tuple[str, dict] | None = None


def _writable(path: Path) -> bool:
    probe = path if path.exists() else path.parent
    return os.access(probe, os.W_OK)


def synaprefect_home() -> Path:
    """``$SYNAPREFECT_HOME``, else ``~/.synaprefect``, else ``<tmp>/.synaprefect``: the
    local folder of settings, run stores and (by default) the storage.

    Example: ``synaprefect.config.synaprefect_home() / "programs"``
    """
    if os.environ.get("SYNAPREFECT_HOME"):
        return Path(os.environ["SYNAPREFECT_HOME"]).expanduser()
    home = Path("~").expanduser() / ".synaprefect"
    if _writable(home):
        return home
    return Path(tempfile.gettempdir()) / ".synaprefect"


def set_storage(url: str | os.PathLike | None, **storage_options: Any) -> None:
    """Keep run stores, saved champions and checkpoints under ``url``: a local folder, or
    an fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``az://...``, ``memory://...``).
    ``storage_options`` go to the file system (for S3: ``key``, ``secret``,
    ``endpoint_url``...); without them, each provider reads its usual environment
    (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``...). None goes back to
    ``$SYNAPREFECT_STORAGE``, else ``$SYNAPREFECT_HOME``.

    Example: ``synaprefect.config.set_storage("s3://ml-state/synaprefect")``
    """
    global _setting
    _setting = None if url is None else (os.fspath(url), dict(storage_options))


def storage_root():
    """The ``Location`` of the storage setting (default: ``$SYNAPREFECT_HOME``)."""
    from synaprefect.storage.location import location

    if _setting is not None:
        return location(_setting[0])
    return location(os.environ.get("SYNAPREFECT_STORAGE") or synaprefect_home())


def options_for(url: str) -> dict:
    """The storage options that apply to ``url``: those of ``set_storage`` when ``url``
    is in the same bucket (or container), else none (the provider's environment)."""
    if _setting is None:
        return {}
    return dict(_setting[1]) if _bucket(url) == _bucket(_setting[0]) else {}


def _bucket(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
