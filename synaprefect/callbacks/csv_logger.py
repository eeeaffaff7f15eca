"""``CSVLogger``: one CSV row of logs per epoch."""

import csv
import json
import os
import warnings
from pathlib import Path
from typing import Any

from synaprefect.callbacks.callback import Callback

__all__ = ["CSVLogger"]


class CSVLogger(Callback):
    """Writes the logs of each epoch as a row of a CSV file.

    The header is ``epoch`` followed by the sorted log keys of the first epoch (plus the
    ``val_`` keys when the first epoch had none, since validation may run only every few
    epochs); a value missing from a later epoch is written as "NA". Lists and dicts are
    written as JSON text, quoted by the ``csv`` module when needed. Each row is appended and
    flushed when its epoch ends, so the rows written survive a crash.

    Args:
        filepath: The CSV file (Synalinks' keyword; ``filename=`` is accepted too).
        separator: The field separator.
        append: Add rows to an existing file (no second header) instead of replacing it.

    Example:
    ```python
    csv_logger = synaprefect.callbacks.CSVLogger("training.csv")
    await program.fit(x=x, y=y, epochs=5, callbacks=[csv_logger])
    ```
    """

    def __init__(
        self,
        filepath: str | os.PathLike | None = None,
        separator: str = ",",
        append: bool = False,
        *,
        filename: str | os.PathLike | None = None,
    ):
        super().__init__()
        path = filepath if filepath is not None else filename
        if path is None or (filepath is not None and filename is not None):
            raise ValueError(
                "CSVLogger needs the CSV file as `filepath` (or `filename`), "
                f"exactly one of them; got filepath={filepath!r}, "
                f"filename={filename!r}."
            )
        self.filepath = self.filename = Path(path)
        self.separator = separator
        self.append = append
        self.keys: list[str] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.keys = None
        self.filename.parent.mkdir(parents=True, exist_ok=True)
        if not self.append:
            self.filename.write_text("", encoding="utf-8")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            keys = set(logs)
            if not any(key.startswith("val_") for key in keys):
                keys |= {f"val_{key}" for key in logs}
            self.keys = sorted(keys)
        dropped = sorted(set(logs) - set(self.keys))
        if dropped:
            warnings.warn(
                f"CSVLogger: the keys {dropped} were not in the first epoch's logs, so "
                f"'{self.filename}' has no column for them and they are not written.",
                stacklevel=2,
            )
        write_header = not self.filename.exists() or self.filename.stat().st_size == 0
        with self.filename.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter=self.separator)
            if write_header:
                writer.writerow(["epoch", *self.keys])
            writer.writerow([epoch, *(_cell(logs.get(key, "NA")) for key in self.keys)])


def _cell(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        value = value.tolist()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return value
