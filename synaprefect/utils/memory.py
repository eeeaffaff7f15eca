"""Keep the cyclic garbage collector off the objects that were there before a run."""

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["frozen_heap"]

_lock = threading.Lock()
_depth = 0


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """While the block runs, the collector's full passes skip every object that existed
    when the outermost such block began (``gc.freeze``): with Prefect, litellm and
    pydantic imported, a full pass over them costs 0.1-0.25 s, paid again and again
    in a long evaluate. They are handed back to the collector (``gc.unfreeze``) when the
    outermost block ends, so nothing that becomes garbage meanwhile is kept for good. A
    process that froze its heap itself (a pre-fork server) is left as it is.

    Example:
    ```python
    with frozen_heap():
        run_the_job()
    ```
    """
    global _depth
    with _lock:
        owner = _depth > 0 or gc.get_freeze_count() == 0
        if owner:
            if _depth == 0:
                gc.freeze()
            _depth += 1
    try:
        yield
    finally:
        if owner:
            with _lock:
                _depth -= 1
                if _depth == 0:
                    gc.unfreeze()
