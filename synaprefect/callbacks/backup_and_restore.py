"""``BackupAndRestore``: resume an interrupted ``fit`` where it stopped."""

import os

from synaprefect.callbacks._monitor import SaveSchedule
from synaprefect.callbacks.callback import Callback
from synaprefect.storage import Location, location

__all__ = ["BackupAndRestore"]

_VARIABLES_FILE = "latest.variables.json"
_METADATA_FILE = "training_metadata.json"


class BackupAndRestore(Callback):
    """Backs up the variables while training, so a crashed ``fit`` resumes from there.

    At the end of every epoch (and, when ``save_freq`` is an integer, also every that many
    batches) it writes, atomically, into ``backup_dir``:

    * ``latest.variables.json``: the program's variables;
    * ``training_metadata.json``: ``{"epoch": e, "batch": b}``, the epoch (from 0) the
      backup was taken in and the last finished batch (from 0), or ``"batch": null``
      when the whole epoch had finished. It is written second and marks a complete backup.

    When ``fit`` starts and a backup exists, the variables are loaded into the program and
    ``program._initial_epoch`` is set, so ``fit`` resumes with the next epoch, or restarts
    the interrupted epoch after a mid-epoch backup. A corrupt or incomplete backup raises
    a ``ValueError`` rather than silently starting over. When training ends normally, the
    backup files are deleted (and ``backup_dir`` too if left empty) unless
    ``delete_checkpoint=False``.

    Args:
        backup_dir: The folder holding the backup; use one per training run.
        save_freq: "epoch", or a positive number of batches between mid-epoch backups.
        delete_checkpoint: Delete the backup when training ends normally.

    Example:
    ```python
    backup = synaprefect.callbacks.BackupAndRestore(backup_dir="/tmp/qa_backup")
    # If this is interrupted, running it again continues from the last backup.
    await program.fit(x=x, y=y, epochs=10, callbacks=[backup])
    ```
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        save_freq: str | int = "epoch",
        delete_checkpoint: bool = True,
    ):
        super().__init__()
        if not os.fspath(backup_dir):
            raise ValueError(
                "BackupAndRestore needs a backup_dir, got an empty path. Pass a folder "
                "such as backup_dir='/tmp/my_training_backup'."
            )
        self.backup_dir = location(backup_dir)  # a folder, or a storage URL (s3://...)
        self._schedule = SaveSchedule(save_freq, "BackupAndRestore")
        self.delete_checkpoint = delete_checkpoint
        self._epoch = 0

    @property
    def save_freq(self) -> str | int:
        return self._schedule.save_freq

    @property
    def _variables_path(self) -> Location:
        return self.backup_dir / _VARIABLES_FILE

    @property
    def _metadata_path(self) -> Location:
        return self.backup_dir / _METADATA_FILE

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._schedule.restart()
        if self._metadata_path.exists():
            self._restore()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._schedule.batch_done():
            self._backup(self._epoch, batch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._backup(epoch, None)
        self._schedule.restart()

    def on_train_end(self, logs: dict | None = None) -> None:
        if not self.delete_checkpoint:
            return
        self._metadata_path.remove()
        self._variables_path.remove()
        if self.backup_dir.is_local and not self.backup_dir.files():
            self.backup_dir.remove()

    def _backup(self, epoch: int, batch: int | None) -> None:
        self.program.save_variables(self._variables_path.path)
        self._metadata_path.write_json({"epoch": epoch, "batch": batch})

    def _restore(self) -> None:
        start_over = f"To start training over, delete '{self.backup_dir.url}'."
        try:
            metadata = self._metadata_path.read_json("BackupAndRestore metadata file")
        except ValueError as error:
            raise ValueError(f"{error} {start_over}") from None
        if not _valid_metadata(metadata):
            raise ValueError(
                f"The BackupAndRestore metadata file '{self._metadata_path.url}' should hold "
                '{"epoch": <int>, "batch": <int or null>}, got '
                f"{metadata!r}; the backup is corrupt. {start_over}"
            )
        if not self._variables_path.exists():
            raise ValueError(
                f"The backup in '{self.backup_dir.url}' is incomplete: "
                f"'{_METADATA_FILE}' exists but '{_VARIABLES_FILE}' does not. {start_over}"
            )
        try:
            self.program.load_variables(self._variables_path.path)
        except ValueError as error:
            raise ValueError(f"{error} {start_over}") from None
        finished = metadata["batch"] is None
        self.program._initial_epoch = metadata["epoch"] + 1 if finished else metadata["epoch"]


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _valid_metadata(metadata: object) -> bool:
    return (
        isinstance(metadata, dict)
        and "epoch" in metadata
        and "batch" in metadata
        and _is_index(metadata["epoch"])
        and (metadata["batch"] is None or _is_index(metadata["batch"]))
    )
