"""Scripted behaviours for the simulated LM that read synaprefect's prompt format.

A responder receives the request, so it can see the instructions and few-shot examples the
program sent, and answer like a model that follows them (or not).
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PromptParts",
    "parse_prompt",
    "style_student",
    "instruction_writer",
    "classroom",
    "load_capitals",
    "language_model_for",
    "embedding_model_for",
]

_EXAMPLE = re.compile(
    r"<example>\s*<input>\s*(?P<input>.*?)\s*</input>\s*<output>\s*(?P<output>.*?)\s*"
    r"</output>\s*</example>",
    re.S,
)
_INSTRUCTIONS = re.compile(r"<instructions>\s*(.*?)\s*</instructions>", re.S)
_INPUT = re.compile(r"<input>\s*(.*?)\s*</input>", re.S)


@dataclass
class PromptParts:
    instructions: str = ""
    examples: list[tuple[dict, dict]] = field(default_factory=list)
    inputs: dict = field(default_factory=dict)


def parse_prompt(request) -> PromptParts:
    """Instructions, few-shot examples and inputs of a Generator's request."""
    system, user = request.system_prompt or "", request.user_prompt or ""
    found = _INSTRUCTIONS.search(system)
    examples = []
    for match in _EXAMPLE.finditer(system):
        try:
            examples.append((json.loads(match["input"]), json.loads(match["output"])))
        except json.JSONDecodeError:
            continue
    inputs_match = _INPUT.search(user)
    try:
        inputs = json.loads(inputs_match.group(1)) if inputs_match else {}
    except json.JSONDecodeError:
        inputs = {}
    return PromptParts(found.group(1) if found else "", examples, inputs)


def _fraction(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def style_student(
    knowledge: dict[str, str],
    *,
    question_key: str = "query",
    answer_key: str = "answer",
    natural_rate: float = 0.3,
    style: Callable[[str], str] = str.upper,
    instruction_word: str = "uppercase",
) -> Callable:
    """A student that knows the facts but not the expected answer style.

    It answers ``knowledge[question]``, styled with ``style`` (uppercase by default) when
    its prompt shows it: a few-shot example whose answer is styled, or instructions that
    mention ``instruction_word``. Without such a hint it styles only a fixed
    ``natural_rate`` fraction of the questions (chosen by hash, deterministic); with
    examples that are not styled, it copies them and does not style either.
    """

    def respond(request) -> dict:
        parts = parse_prompt(request)
        question = str(parts.inputs.get(question_key, ""))
        fact = knowledge.get(question, "unknown")
        shown = [o.get(answer_key) for _, o in parts.examples if isinstance(o, dict)]
        if instruction_word.lower() in parts.instructions.lower():
            styled = True
        elif shown:
            styled = any(isinstance(a, str) and a == style(a) != a.lower() for a in shown)
        else:
            styled = _fraction(question) < natural_rate
        answer = style(fact) if styled else fact.lower()
        schema = request.schema or {}
        keys = list(schema.get("properties", {}))
        value: dict[str, Any] = {key: "" for key in keys}
        if "thinking" in value:
            value["thinking"] = f"The answer to {question!r} is {fact}."
        value[answer_key] = answer
        return value

    return respond


def language_model_for(server, **kwargs):
    """A ``LanguageModel`` pointed at a ``SimulatedLM`` (fast retries for tests)."""
    from synaprefect.language_models import LanguageModel

    kwargs.setdefault("retry_backoff", 0.01)
    kwargs.setdefault("api_key", getattr(server, "api_key", None) or "sk-simulated")
    return LanguageModel(server.model, api_base=server.base_url, **kwargs)


def embedding_model_for(server, **kwargs):
    """An ``EmbeddingModel`` pointed at a ``SimulatedLM``."""
    from synaprefect.language_models import EmbeddingModel

    kwargs.setdefault("retry_backoff", 0.01)
    kwargs.setdefault("api_key", getattr(server, "api_key", None) or "sk-simulated")
    return EmbeddingModel(server.model, api_base=server.base_url, **kwargs)


def instruction_writer(*, ground_truth_key: str = "answer", hint: str = "uppercase"):
    """A teacher for OMEGA's requests: when the ground truth is styled (uppercase) and
    the predictions are not, it writes instructions that say so; otherwise it keeps the
    current variable."""

    def respond(request) -> dict:
        inputs = parse_prompt(request).inputs
        current = dict(inputs.get("current_variable") or {})
        truths = [
            t.get(ground_truth_key)
            for t in inputs.get("program_ground_truth") or []
            if isinstance(t, dict)
        ]
        styled = [t for t in truths if isinstance(t, str) and t == t.upper() != t.lower()]
        if styled and len(styled) == len(truths):
            current["instructions"] = f"Answer with the capital in {hint} letters."
        value = {key: current.get(key, "") for key in (request.schema or {}).get("properties", {})}
        if "thinking" in value:
            value["thinking"] = "The ground truth answers share a style."
        return value

    return respond


def classroom(student, teacher):
    """Route OMEGA's requests (they carry ``program_ground_truth``) to ``teacher`` and
    everything else to ``student``."""

    def respond(request):
        if "program_ground_truth" in parse_prompt(request).inputs:
            return teacher(request)
        return student(request)

    return respond


def load_capitals() -> tuple[list[dict], str]:
    """The demo dataset: ``(rows, description)`` with rows ``{"query", "answer"}``."""
    from importlib import resources

    document = json.loads(
        resources.files("synaprefect.testing")
        .joinpath("data/capitals.json")
        .read_text(encoding="utf-8")
    )
    return document["rows"], document["description"]
