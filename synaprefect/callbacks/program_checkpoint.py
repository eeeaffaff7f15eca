"""``ProgramCheckpoint``: save the program (or its variables) while it trains."""

import os

from synaprefect.callbacks._monitor import MonitoredMetric, SaveSchedule
from synaprefect.callbacks.callback import Callback

__all__ = ["ProgramCheckpoint"]


class ProgramCheckpoint(Callback):
    """Saves the program at the end of each epoch, or every ``save_freq`` batches.

    Args:
        filepath: Where to save. Must end with ".json" (a whole program, reloaded with
            ``Program.load``) or, with ``save_variables_only=True``, ".variables.json"
            (reloaded with ``program.load_variables``). It may hold placeholders filled
            when saving: ``{epoch}`` (counting from 1), ``{batch}`` (counting from 1, for
            batch-level saves) and any log key, e.g.
            "ckpt/epoch_{epoch:02d}-{val_reward:.2f}.json".
        monitor: The log key compared when ``save_best_only=True``.
        verbose: 1 prints a line for each save (and each skipped best-only save).
        save_best_only: Save only when ``monitor`` beats its best value so far.
        save_variables_only: Save only the variables instead of the whole program.
        mode: "max", "min" or "auto" (see ``EarlyStopping``); used with ``save_best_only``.
        save_freq: "epoch", or a positive integer: save every that many batches (then the
            batch logs are used, e.g. "reward" rather than "val_reward").
        initial_value_threshold: With ``save_best_only``, the value to beat for the first
            save.

    Files are written atomically: a crash never leaves a half-written checkpoint.

    Example:
    ```python
    checkpoint = synaprefect.callbacks.ProgramCheckpoint(
        "checkpoints/best.json", monitor="val_reward", save_best_only=True
    )
    await program.fit(x=x, y=y, epochs=10, callbacks=[checkpoint])
    best = synaprefect.Program.load("checkpoints/best.json")
    ```
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_reward",
        verbose: int = 0,
        save_best_only: bool = False,
        save_variables_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ):
        super().__init__()
        self.filepath = os.fspath(filepath)
        _check_filepath(self.filepath, save_variables_only)
        self._metric = MonitoredMetric(monitor, mode, 0, "ProgramCheckpoint")
        self._schedule = SaveSchedule(save_freq, "ProgramCheckpoint")
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_variables_only = save_variables_only
        self.best = initial_value_threshold
        self._epoch = 0

    @property
    def monitor(self) -> str:
        return self._metric.monitor

    @property
    def save_freq(self) -> str | int:
        return self._schedule.save_freq

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._schedule.restart()
        if self.save_best_only:
            self._metric.resolve(self.program)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._schedule.batch_done():
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._schedule.per_epoch:
            self._save(epoch, None, logs or {})

    def _save(self, epoch: int, batch: int | None, logs: dict) -> None:
        where = f"Epoch {epoch + 1}" + (f", batch {batch + 1}" if batch is not None else "")
        if self.save_best_only:
            current = self._metric.value(logs)
            if current is None:
                return
            if not self._metric.is_better(current, self.best):
                if self.verbose > 0:
                    print(f"{where}: {self.monitor} did not improve from {self.best:.4f}.")
                return
            if self.verbose > 0:
                previous = "" if self.best is None else f" from {self.best:.4f}"
                print(f"{where}: {self.monitor} improved{previous} to {current:.4f}.")
            self.best = current
        filepath = self._format_filepath(epoch, batch, logs)
        if self.verbose > 0:
            what = "variables" if self.save_variables_only else "program"
            print(f"{where}: saving the {what} to {filepath}")
        if self.save_variables_only:
            self.program.save_variables(filepath)
        else:
            self.program.save(filepath)

    def _format_filepath(self, epoch: int, batch: int | None, logs: dict) -> str:
        values = {**logs, "epoch": epoch + 1}
        if batch is not None:
            values["batch"] = batch + 1
        try:
            return self.filepath.format(**values)
        except KeyError as error:
            raise ValueError(
                f"ProgramCheckpoint filepath '{self.filepath}' has the placeholder "
                f"{{{error.args[0]}}}, but no such value exists when saving; available: "
                f"{sorted(values)}. Use one of those names, or double the braces ({{{{ }}}}) "
                "for literal ones."
            ) from None
        except (IndexError, ValueError, TypeError) as error:
            raise ValueError(
                f"ProgramCheckpoint could not fill the filepath '{self.filepath}' with "
                f"{values}: {error}. Use named placeholders such as {{epoch:02d}} or "
                "{val_reward:.2f}."
            ) from None


def _check_filepath(filepath: str, save_variables_only: bool) -> None:
    if save_variables_only:
        if not filepath.endswith(".variables.json"):
            raise ValueError(
                "ProgramCheckpoint(save_variables_only=True) writes a variables file, so "
                f"filepath must end with '.variables.json', got '{filepath}'. Use e.g. "
                "'checkpoints/epoch_{epoch}.variables.json'."
            )
    elif filepath.endswith(".variables.json"):
        raise ValueError(
            f"ProgramCheckpoint filepath '{filepath}' names a variables file, but "
            "save_variables_only=False saves the whole program. Pass "
            "save_variables_only=True, or use a name such as 'checkpoints/epoch_{epoch}.json'."
        )
    elif not filepath.endswith(".json"):
        raise ValueError(
            "ProgramCheckpoint saves programs as JSON, so filepath must end with '.json', "
            f"got '{filepath}'. Use e.g. 'checkpoints/epoch_{{epoch}}.json'."
        )
