"""Bookkeeping that waits for the program to wait.

Work that must happen but that nobody is waiting for (Prefect recording that a task run
ended, say) parks with ``until_program_waits`` and goes on when the program next starts
waiting for a model's answer (``program_waits``, called where a request goes out), or
after ``timeout`` seconds: it then runs while the program is idle rather than between
two of its steps.

Example:
```python
await until_program_waits(0.05)   # the bookkeeping, parked
program_waits()                   # where the program sends a request and waits
```
"""

from __future__ import annotations

import asyncio
import weakref

__all__ = ["program_waits", "until_program_waits"]

# The futures parked on each event loop, released together.
_parked: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[asyncio.Future]] = (
    weakref.WeakKeyDictionary()
)


def program_waits() -> None:
    """The program is about to wait: release what is parked on the running loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    for future in _parked.pop(loop, ()):
        if not future.done():
            future.set_result(None)


async def until_program_waits(timeout: float) -> None:
    """Return once the program waits (``program_waits``), or after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    _parked.setdefault(loop, []).append(future)
    try:
        await asyncio.wait({future}, timeout=timeout)
    finally:
        if not future.done():  # timed out or cancelled: not parked any more
            future.cancel()
            parked = _parked.get(loop)
            if parked is not None:
                parked.remove(future)
                if not parked:  # an empty list must not keep the loop alive
                    del _parked[loop]
