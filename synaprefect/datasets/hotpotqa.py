"""HotpotQA: questions whose answer needs facts from two Wikipedia paragraphs.

Rows: ``<datasets dir>/hotpotqa/{train,validation}.jsonl``, from the Hugging Face dataset
``hotpotqa/hotpot_qa`` (config ``fullwiki``; columns ``question``, ``answer``, ``level``,
``context`` = ``{"title": [...], "sentences": [[...], ...]}``). ``load_data`` tests on
the validation rows of level ``hard`` only; ``load_knowledge`` gives the paragraphs of
the training rows' contexts, as documents to index for retrieval.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.hotpotqa.load_data()
documents = synalinks.datasets.hotpotqa.load_knowledge()
```
"""

import json

import numpy as np

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import Arrays, Benchmark
from synaprefect.datasets.rows import DatasetError
from synaprefect.datasets.samples import validated_sample
from synaprefect.trainers.data import object_array

__all__ = [
    "Question",
    "Answer",
    "Document",
    "get_input_data_model",
    "get_output_data_model",
    "get_knowledge_data_model",
    "load_data",
    "load_knowledge",
    "iterable_dataset",
    "expected_file",
]


class Question(DataModel):
    question: str = Field(description="The question")


class Answer(DataModel):
    answer: str = Field(description="The answer, short")


class Document(DataModel):
    title: str = Field(description="The title of the Wikipedia article")
    text: str = Field(description="A paragraph of the article")


_HOTPOTQA = Benchmark(
    name="hotpotqa",
    source="hotpotqa/hotpot_qa",
    config="fullwiki",
    columns=("question", "answer"),
    input_model=Question,
    output_model=Answer,
    inputs=lambda row: {"question": row["question"]},
    outputs=lambda row: {"answer": row["answer"]},
    test_split="validation",
)

get_input_data_model = _HOTPOTQA.get_input_data_model
get_output_data_model = _HOTPOTQA.get_output_data_model
iterable_dataset = _HOTPOTQA.iterable_dataset
expected_file = _HOTPOTQA.expected_file


def get_knowledge_data_model() -> type:
    """The data model of ``load_knowledge``'s documents: ``Document{title, text}``."""
    return Document


def load_data() -> tuple[Arrays, Arrays]:
    """``(x_train, y_train), (x_test, y_test)``: every training row, and the validation
    rows of level ``hard``.

    Example: ``(x_train, y_train), (x_test, y_test) = hotpotqa.load_data()``
    """
    return (
        _HOTPOTQA.load_split("train"),
        _HOTPOTQA.load_split("validation", keep=lambda row: row.get("level") == "hard"),
    )


def load_knowledge() -> np.ndarray:
    """A numpy object array of ``Document``, one per paragraph of the training rows'
    contexts (its sentences joined by newlines), in order.

    Example: ``documents = hotpotqa.load_knowledge()  # documents[0].title``
    """
    rows, documents = _HOTPOTQA.rows("train"), []
    for index, row in enumerate(rows):
        context, where = row.get("context") or {}, rows.where(index)
        titles = context.get("title", []) if isinstance(context, dict) else None
        paragraphs = context.get("sentences", []) if isinstance(context, dict) else None
        if titles is None or paragraphs is None or len(titles) != len(paragraphs):
            raise DatasetError(
                f'{where}: a hotpotqa context must be {{"title": [...], '
                f'"sentences": [[...], ...]}}, one title per paragraph; '
                f"got {json.dumps(context)[:80]}."
            )
        documents += [
            validated_sample(Document, {"title": title, "text": "\n".join(lines)}, where)
            for title, lines in zip(titles, paragraphs)
        ]
    return object_array(documents)
