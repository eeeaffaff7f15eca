"""``ProgbarLogger``: a progress bar per epoch (and per evaluation or prediction)."""

import numbers
import sys
import time
from typing import Any

from synaprefect.callbacks.callback import Callback

__all__ = ["ProgbarLogger"]


class ProgbarLogger(Callback):
    """Prints training progress to ``sys.stdout``; ``fit`` adds one unless ``verbose=0``.

    With ``verbose=1`` each epoch prints ``Epoch 2/5`` and a bar such as
    ``3/10 [=========>....................] - 2s - reward: 0.6000``, redrawn in place after
    every batch when stdout is a terminal (otherwise printed once, when the epoch ends,
    with the epoch's logs). With ``verbose=2`` each epoch prints one line without a bar.
    ``evaluate`` and ``predict`` get a bar too when called on their own.

    Args:
        count_mode: "steps": progress is counted in batches.

    Example:
    ```python
    await program.fit(x=x, y=y, epochs=5, verbose=1)  # adds a ProgbarLogger
    ```
    """

    def __init__(self, count_mode: str = "steps"):
        super().__init__()
        if count_mode != "steps":
            raise ValueError(
                f"ProgbarLogger counts progress in batches: count_mode must be 'steps', "
                f"got {count_mode!r}."
            )
        self.count_mode = count_mode
        self.verbose: int = 1
        self._in_fit = False
        self._bar: _Bar | None = None

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._in_fit = True

    def on_train_end(self, logs: dict | None = None) -> None:
        self._in_fit = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.verbose:
            epochs = self.params.get("epochs")
            _write(f"Epoch {epoch + 1}" + (f"/{epochs}" if epochs else "") + "\n")
            self._start()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.update(batch + 1, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._finish(logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self.verbose and not self._in_fit:
            self._start()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None and not self._in_fit:
            self._bar.update(batch + 1, logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        if self.verbose:
            self._start()

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.update(batch + 1, None)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._finish(None)

    def _start(self) -> None:
        self._bar = _Bar(
            self.params.get("steps"),
            show_bar=self.verbose == 1,
            live=self.verbose == 1 and _stdout_is_terminal(),
        )

    def _finish(self, logs: dict | None) -> None:
        if self._bar is not None:
            self._bar.finish(logs)
            self._bar = None


class _Bar:
    """One progress line: ``seen/target [====>....] - elapsed - key: value ...``."""

    width = 30

    def __init__(self, target: int | None, show_bar: bool, live: bool):
        self.target = target
        self.show_bar = show_bar
        self.live = live
        self.seen = 0
        self.start = time.monotonic()
        self._drawn = 0

    def update(self, seen: int, logs: dict | None) -> None:
        self.seen = seen
        if self.live:
            self._draw(logs, end="")

    def finish(self, logs: dict | None) -> None:
        if self.live:
            self._draw(logs, end="\n")
        else:
            _write(self._line(logs) + "\n")

    def _draw(self, logs: dict | None, end: str) -> None:
        line = self._line(logs)
        _write("\r" + line.ljust(self._drawn) + end)
        self._drawn = len(line)

    def _line(self, logs: dict | None) -> str:
        if self.target:
            counter = f"{self.seen:>{len(str(self.target))}}/{self.target}"
        else:
            counter = f"{self.seen}/Unknown"
        parts = [counter]
        if self.show_bar and self.target:
            parts[0] += " " + self._bar(self.target)
        parts.append(_duration(time.monotonic() - self.start))
        parts += [f"{key}: {_value(value)}" for key, value in (logs or {}).items()]
        return " - ".join(parts)

    def _bar(self, target: int) -> str:
        done = min(self.width, int(self.width * self.seen / target))
        if done == 0:
            return "[" + "." * self.width + "]"
        head = ">" if self.seen < target else "="
        return "[" + "=" * (done - 1) + head + "." * (self.width - done) + "]"


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _stdout_is_terminal() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _value(value: Any) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)
        return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.4e}"
    return str(value)
