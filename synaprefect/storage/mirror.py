"""``FolderMirror``: a local folder kept in step with a storage folder, for a tool that
only writes local files (keras-tuner). It is filled from the storage once, then written
back file by file: only the files that changed since they were last read or written.

Writing the whole folder back after every tuning trial made a search of ``n`` trials
upload each early trial's files ``n`` times.

Example:
```python
mirror = FolderMirror(location("s3://ml-state/tuning"), "/tmp/tuning")
mirror.pull()                     # what the storage holds, into /tmp/tuning
...                               # the tool writes its files
changed = mirror.changed_files()  # read where the tool writes
mirror.upload(changed)            # back to the bucket (from any thread)
```
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

from synaprefect.storage.location import Location

__all__ = ["FolderMirror"]


class FolderMirror:
    """The local folder ``local`` mirroring the storage folder ``remote``."""

    def __init__(self, remote: Location, local: str | os.PathLike) -> None:
        self.remote = remote
        self.local = Path(local)
        # Relative path -> sha256 of the version both sides hold.
        self._synced: dict[str, str] = {}
        self._lock = threading.Lock()  # trials running at once upload from threads

    def pull(self) -> None:
        """Empty the local folder, then copy every file of the storage folder into it."""
        with self._lock:
            shutil.rmtree(self.local, ignore_errors=True)
            self._synced.clear()
            for name in self.remote.files():
                data = (self.remote / name).read_bytes()
                target = self.local / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                self._synced[name] = _digest(data)

    def changed_files(self) -> dict[str, bytes]:
        """The local files (relative path -> content) that are new or changed since the
        last ``pull`` or ``upload``. Call it where the tool writes its files (its thread or event
        loop), so that no file is read half-written; ``upload`` may then run anywhere."""
        changed = {}
        for path in sorted(p for p in self.local.rglob("*") if p.is_file()):
            # Read and compare, not stat: a rewrite of the same size within a coarse
            # mtime tick would look unchanged.
            name = path.relative_to(self.local).as_posix()
            data = path.read_bytes()
            if self._synced.get(name) != _digest(data):
                changed[name] = data
        return changed

    def upload(self, files: dict[str, bytes]) -> list[str]:
        """Write ``files`` (from ``changed_files``) to the storage, each as a whole
        object, skipping those the storage already got; returns the paths written."""
        written = []
        with self._lock:
            for name, data in files.items():
                digest = _digest(data)
                if self._synced.get(name) == digest:  # another upload sent it meanwhile
                    continue
                (self.remote / name).write_bytes(data)
                self._synced[name] = digest
                written.append(name)
        return written


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
