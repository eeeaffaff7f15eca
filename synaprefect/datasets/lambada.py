"""LAMBADA: guess the last word of a passage, which needs the whole passage.

Rows: ``<datasets dir>/lambada/test.jsonl``, from the Hugging Face dataset
``EleutherAI/lambada_openai`` (config ``en``; column ``text``). The question is the text
without its last word, ending in ``___``; the answer is that word. One split:
``load_data`` keeps its last ``validation_split`` for testing.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.lambada.load_data()
```
"""

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import SingleSplitBenchmark

__all__ = [
    "LAMBADAQuestion",
    "LAMBADAAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class LAMBADAQuestion(DataModel):
    question: str = Field(description="A passage whose last word is replaced by ___")


class LAMBADAAnswer(DataModel):
    answer: str = Field(description="The missing last word")


def _words(row: dict) -> list[str]:
    words = row["text"].split()
    if len(words) < 2:
        raise ValueError(f"the text needs at least two words, got {row['text']!r}")
    return words


_LAMBADA = SingleSplitBenchmark(
    name="lambada",
    source="EleutherAI/lambada_openai",
    config="en",
    columns=("text",),
    input_model=LAMBADAQuestion,
    output_model=LAMBADAAnswer,
    inputs=lambda row: {"question": " ".join([*_words(row)[:-1], "___"])},
    outputs=lambda row: {"answer": _words(row)[-1]},
    train_split="test",
)

get_input_data_model = _LAMBADA.get_input_data_model
get_output_data_model = _LAMBADA.get_output_data_model
load_data = _LAMBADA.load_data
iterable_dataset = _LAMBADA.iterable_dataset
expected_file = _LAMBADA.expected_file
