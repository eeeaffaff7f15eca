"""How the command line fails: a usage error (exit 2) or a one-line description of the
error that ended the job (exit 1)."""

from synaprefect.language_models.errors import LanguageModelError

__all__ = ["UsageError", "describe"]


class UsageError(Exception):
    """A bad command line found after parsing: reported like argparse's errors (exit 2).

    Example: ``raise UsageError("--keep must be >= 0, got -1")``
    """


def describe(error: BaseException) -> str:
    """One line: the message of an error about the inputs, else its type and message.

    Example: ``describe(KeyError("x"))  # "KeyError: 'x'"``
    """
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if error.__cause__ is not None and not isinstance(error, (ValueError, OSError)):
        message = f"{message} ({describe(error.__cause__)})"
    # Our model errors and errors about the inputs describe themselves.
    if message and (
        isinstance(error, (ValueError, OSError, LanguageModelError))
        or type(error).__name__ in message
    ):
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
