"""The simulated model every benchmark workload talks to.

One responder serves the three clients measured side by side, each in its own prompt
format, and always answers correctly, so every system does the same work (one call per
sample, no parse-failure retries) and its accuracy is a sanity check (1.0):

- synaprefect and the raw litellm reference send a JSON-schema ``response_format`` and
  the question as ``<input>{"question": ...}</input>``: the answer is a JSON object;
- DSPy's default ``ChatAdapter`` sends no schema and expects ``[[ ## answer ## ]]``
  field markers: the answer is text in that format.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["answer_for", "respond"]

_SYNAPREFECT_INPUT = re.compile(r"<input>\s*(.*?)\s*</input>", re.S)
_DSPY_FIELD = re.compile(r"\[\[ ## question ## \]\]\s*(.*?)\s*(?:\n\n|\[\[ ## |$)", re.S)


def answer_for(question: str) -> str:
    """The correct answer to a benchmark question (the question in capitals)."""
    return question.upper()


def _question(user_prompt: str) -> str:
    found = _SYNAPREFECT_INPUT.search(user_prompt)
    if found:
        try:
            return str(json.loads(found.group(1)).get("question", ""))
        except (json.JSONDecodeError, AttributeError):
            return ""
    found = _DSPY_FIELD.search(user_prompt)
    return found.group(1) if found else ""


def respond(request: Any) -> dict | str:
    """Answer a ``SimulatedRequest`` in the format its client asked for."""
    answer = answer_for(_question(request.user_prompt))
    if request.schema is not None:
        value = {key: "" for key in request.schema.get("properties", {})}
        value["answer"] = answer
        return value
    return f"[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
