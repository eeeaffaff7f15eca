"""``Callback``, the hook to act during training, and ``CallbackList``, which drives them."""

from collections.abc import Iterable
from typing import Any

__all__ = ["Callback", "CallbackList"]


class Callback:
    """Base class of callbacks: objects whose methods ``fit``, ``evaluate`` and ``predict``
    call at fixed points (train / epoch / batch begin and end).

    Subclass it and override the hooks you need; every hook receives a ``logs`` dict
    (epoch logs such as ``{"reward": 0.6, "val_reward": 0.7}``, batch logs such as
    ``{"reward": 0.5}``) that it must not modify. ``self.program`` is the program being
    trained: a callback may read its variables, save it, or set
    ``self.program.stop_training = True`` to end training after the current batch or epoch.
    ``self.params`` holds ``epochs``, ``steps`` (batches per epoch) and ``verbose``.

    Example, writing your own callback:
    ```python
    class StopWhenPerfect(synaprefect.callbacks.Callback):
        # Stops training once a training batch scores a perfect reward.
        def on_train_batch_end(self, batch, logs=None):
            if (logs or {}).get("reward") == 1.0:
                print(f"Perfect reward at batch {batch}; stopping.")
                self.program.stop_training = True

    history = await program.fit(x=x, y=y, epochs=10, callbacks=[StopWhenPerfect()])
    ```
    """

    def __init__(self) -> None:
        self.params: dict = {}
        self._program: Any = None

    def set_params(self, params: dict) -> None:
        self.params = params

    def set_program(self, program: Any) -> None:
        self._program = program

    @property
    def program(self) -> Any:
        """The program the callback is attached to (None until ``set_program``)."""
        return self._program

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Called once when ``fit`` starts."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """Called once when ``fit`` ends normally; ``logs`` are the last epoch's logs."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the start of each epoch (``epoch`` counts from 0)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the end of each epoch with the training and ``val_`` metrics."""

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each training batch (``batch`` counts from 0 in each epoch)."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each training batch with that batch's metrics."""

    def on_test_begin(self, logs: dict | None = None) -> None:
        """Called when an evaluation starts."""

    def on_test_end(self, logs: dict | None = None) -> None:
        """Called when an evaluation ends, with its metrics."""

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each evaluation batch."""

    def on_predict_begin(self, logs: dict | None = None) -> None:
        """Called when a prediction run starts."""

    def on_predict_end(self, logs: dict | None = None) -> None:
        """Called when a prediction run ends."""

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after each prediction batch."""


class CallbackList(Callback):
    """Several callbacks driven as one: every hook is forwarded to each, in order.

    ``add_history=True`` adds a ``History`` and ``add_progbar=True`` a ``ProgbarLogger``
    unless one is already in ``callbacks``. Extra keyword arguments are the params
    (``epochs``, ``steps``, ``verbose``).

    Example:
    ```python
    callbacks = CallbackList([EarlyStopping(patience=2)], add_history=True,
                             program=program, epochs=5, steps=10, verbose=0)
    callbacks.on_train_begin()
    ```
    """

    def __init__(
        self,
        callbacks: Callback | Iterable[Callback] | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        program: Any = None,
        **params: Any,
    ):
        from synaprefect.callbacks.history import History
        from synaprefect.callbacks.progbar_logger import ProgbarLogger

        super().__init__()
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks: list[Callback] = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    "Every callback must be an instance of synaprefect.callbacks.Callback, "
                    f"got {callback!r} ({type(callback).__name__}). Subclass Callback to "
                    "write your own."
                )
        if add_history and not any(isinstance(c, History) for c in self.callbacks):
            self.callbacks.append(History())
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        if program is not None:
            self.set_program(program)
        if params:
            self.set_params(params)

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def set_program(self, program: Any) -> None:
        super().set_program(program)
        for callback in self.callbacks:
            callback.set_program(program)

    def _forward(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._forward("on_train_begin", logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._forward("on_train_end", logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._forward("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._forward("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._forward("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._forward("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._forward("on_test_begin", logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        self._forward("on_test_end", logs)

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._forward("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._forward("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._forward("on_predict_begin", logs)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._forward("on_predict_end", logs)

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._forward("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._forward("on_predict_batch_end", batch, logs)
