"""``EarlyStopping``: stop training when the monitored metric stops improving."""

import copy

from synaprefect.callbacks._monitor import MonitoredMetric
from synaprefect.callbacks.callback import Callback

__all__ = ["EarlyStopping"]


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: The log key to watch, e.g. "val_reward" (needs validation data) or
            "reward".
        min_delta: The smallest change that counts as an improvement.
        stop_at: A target: training stops as soon as the value reaches it (``>=`` when
            higher is better, ``<=`` when lower is better). None (the default) sets no
            target. Synalinks defaults to 1.0, which is right for rewards but would stop
            a metric to minimise (such as a latency below one second) at once; pass
            ``stop_at=1.0`` to get Synalinks' behaviour for rewards. The target is honoured
            even during the ``start_from_epoch`` warm-up.
        patience: How many epochs without improvement to accept before stopping.
        verbose: 1 prints a line when training is stopped or variables are restored.
        mode: "max" (higher is better), "min" or "auto", which asks the compiled metric
            (``program.metric_direction``) and then the name ("reward", "acc", "f1",
            "score" are maximised; "loss", "cost", "latency", "error" minimised).
        baseline: A value to beat: while the best value has not beaten it, every epoch
            counts towards ``patience``.
        restore_best_variables: At the end of training, put back the trainable variables
            of the best epoch (the values are copied when that epoch ends).
        start_from_epoch: How many warm-up epochs to let pass before watching.

    A missing monitor value (e.g. "val_reward" when there is no validation data) only
    warns, naming the available keys; it never stops training nor raises.

    Example:
    ```python
    early_stopping = synaprefect.callbacks.EarlyStopping(
        monitor="val_reward", patience=2, restore_best_variables=True
    )
    history = await program.fit(x=x, y=y, epochs=20, callbacks=[early_stopping])
    early_stopping.stopped_epoch  # the epoch training stopped at, or None
    ```
    """

    def __init__(
        self,
        monitor: str = "val_reward",
        min_delta: float = 0,
        stop_at: float | None = None,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_variables: bool = False,
        start_from_epoch: int = 0,
    ):
        super().__init__()
        self._metric = MonitoredMetric(monitor, mode, min_delta, "EarlyStopping")
        self.stop_at = stop_at
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_variables = restore_best_variables
        self.start_from_epoch = start_from_epoch
        self._reset()

    @property
    def monitor(self) -> str:
        return self._metric.monitor

    @property
    def min_delta(self) -> float:
        return self._metric.min_delta

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_variables: dict[str, dict] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()
        self._metric.resolve(self.program)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = self._metric.value(logs)
        if current is None:
            return
        if epoch >= self.start_from_epoch:
            if self.restore_best_variables and self.best_variables is None:
                self.best_variables = self._snapshot()
                self.best_epoch = epoch
            self.wait += 1
            if self._metric.is_better(current, self.best):
                self.best = current
                self.best_epoch = epoch
                if self.restore_best_variables:
                    self.best_variables = self._snapshot()
                if self.baseline is None or self._metric.is_better(current, self.baseline):
                    self.wait = 0
            elif self.wait >= self.patience and epoch > 0:
                self._stop(epoch, f"no improvement of {self.monitor!r} for {self.wait} epochs")
                return
        if self.stop_at is not None and self._metric.reached(current, self.stop_at):
            self._stop(epoch, f"{self.monitor!r} reached stop_at={self.stop_at}")

    def on_train_end(self, logs: dict | None = None) -> None:
        best, epoch = self.best_variables, self.best_epoch  # set together
        if self.restore_best_variables and best is not None and epoch is not None:
            if self.verbose > 0:
                print(f"Restoring the variables of the best epoch ({epoch + 1}).")
            for variable in self.program.trainable_variables:
                if variable.path in best:
                    variable.assign(best[variable.path])

    def _stop(self, epoch: int, reason: str) -> None:
        self.stopped_epoch = epoch
        self.program.stop_training = True
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: early stopping ({reason}).")

    def _snapshot(self) -> dict[str, dict]:
        return {
            variable.path: copy.deepcopy(variable.value())
            for variable in self.program.trainable_variables
        }
