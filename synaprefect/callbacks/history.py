"""``History``: the per-epoch logs of a ``fit`` call."""

from typing import Any

from synaprefect.callbacks.callback import Callback

__all__ = ["History"]


class History(Callback):
    """Records the logs of every epoch; ``fit`` returns it and sets ``program.history``.

    ``history.history`` maps each log key to its list of per-epoch values and
    ``history.epoch`` lists the epoch indices. ``fit`` adds one automatically.

    Example:
    ```python
    history = await program.fit(x=x, y=y, epochs=3)
    history.history["val_reward"]  # e.g. [0.55, 0.7, 0.72]
    history.epoch                  # [0, 1, 2]
    ```
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.history = {}
        self.epoch = []
        if self.program is not None:
            self.program.history = self

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
