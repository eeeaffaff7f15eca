"""The exceptions a language-model call can raise.

``PermanentLanguageModelError`` subclasses are raised at once (retrying cannot help);
``TransientLanguageModelError`` is raised only after every retry failed.
"""

__all__ = [
    "LanguageModelError",
    "PermanentLanguageModelError",
    "AuthenticationError",
    "ModelNotFoundError",
    "BadRequestError",
    "TransientLanguageModelError",
    "InvalidOutputError",
]


class LanguageModelError(RuntimeError):
    """Base class: ``model`` names the model, ``cause`` says what went wrong."""

    hint = ""

    def __init__(self, model: str, cause: str):
        self.model = model
        self.cause = cause
        message = f"Language model '{model}': {cause}"
        super().__init__(f"{message}. {self.hint}" if self.hint else message)

    def __reduce__(self):
        # Task runners send errors between processes: rebuild from both arguments.
        return (type(self), (self.model, self.cause))


class PermanentLanguageModelError(LanguageModelError):
    """An error retrying cannot fix."""


class AuthenticationError(PermanentLanguageModelError):
    hint = (
        "Check the API key (the provider's environment variable or `api_key=`) and its permissions."
    )


class ModelNotFoundError(PermanentLanguageModelError):
    hint = "Check the model string, e.g. 'openai/gpt-4o-mini' or 'ollama_chat/llama3'."


class BadRequestError(PermanentLanguageModelError):
    hint = "The provider refused the request itself; check the prompt, schema and options."


class TransientLanguageModelError(LanguageModelError):
    """Rate limits, server errors, timeouts, broken output: every retry failed."""


class InvalidOutputError(TransientLanguageModelError):
    """The model answered, but not with JSON that follows the schema. ``usage`` holds
    what that answer cost (tokens, ``cost``): the provider bills it all the same."""

    def __init__(self, model: str, cause: str):
        super().__init__(model, cause)
        self.usage: dict[str, float] = {}
