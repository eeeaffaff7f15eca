"""Which sample of a batch a call belongs to, so recorded predictions stay aligned with
samples whatever order the language model answers in."""

import contextlib
import contextvars

__all__ = ["sample_scope", "current_sample"]

_sample: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "synaprefect_sample", default=None
)


def current_sample() -> int | None:
    return _sample.get()


@contextlib.contextmanager
def sample_scope(index: int):
    token = _sample.set(index)
    try:
        yield
    finally:
        _sample.reset(token)
