"""Synalinks scripts that use the built-in benchmark datasets (``import synaprefect as
synalinks``), read from a small cache written by the test: nothing is downloaded."""

import json

import numpy as np
import pytest

import synaprefect as synalinks
from synaprefect.config import synaprefect_home
from synaprefect.orchestration import tracking
from synaprefect.testing.skills import language_model_for, parse_prompt

# Rows as the Hugging Face dataset openai/gsm8k (config main) has them.
GSM8K = {
    "train": [
        (
            "Ann has 3 apples and buys 4 more. How many apples does she have?",
            "She has 3 + 4 = <<3+4=7>>7 apples.\n#### 7",
        ),
        ("A pen costs $2. How much do 6 pens cost?", "6 * 2 = <<6*2=12>>12\n#### 12"),
        (
            "Tom reads 10 pages a day. How many pages does he read in a week?",
            "10 * 7 = <<10*7=70>>70 pages.\n#### 70",
        ),
        (
            "A farm has 1,200 hens and sells 200. How many hens are left?",
            "1,200 - 200 = <<1200-200=1000>>1,000 hens.\n#### 1,000",
        ),
        ("Sue had 9 stickers and gave away 5. How many are left?", "9 - 5 = <<9-5=4>>4\n#### 4"),
    ],
    "test": [
        ("Bob has 5 boxes of 6 eggs. How many eggs does he have?", "5 * 6 = 30\n#### 30"),
        (
            "A train travels 60 km an hour for 3 hours. How far does it go?",
            "60 * 3 = 180 km\n#### 180",
        ),
        ("Lia saved $15 and spent $7. How much is left?", "15 - 7 = 8\n#### 8"),
    ],
}
# What the simulated model answers: right, except for the train question (42 instead of 180).
SOLUTIONS = {"Bob has 5": 30.0, "A train travels": 42.0, "Lia saved": 8.0}


def write_cache(folder, name, splits):
    """``<folder>/<name>/<split>.jsonl``: the cache layout synaprefect reads."""
    (folder / name).mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        lines = [json.dumps(row) for row in rows]
        (folder / name / f"{split}.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture(autouse=True)
def _no_tracking():
    with tracking(False):
        yield


@pytest.fixture
def gsm8k_cache():
    """The default cache, ``<synaprefect home>/datasets``, holding a few gsm8k rows."""
    folder = synaprefect_home() / "datasets"
    write_cache(
        folder,
        "gsm8k",
        {split: [{"question": q, "answer": a} for q, a in rows] for split, rows in GSM8K.items()},
    )
    return folder


@pytest.fixture
def calculator(simulated_lm):
    """A model that reads the question of a Generator's prompt and answers a number."""
    asked = []

    def respond(request):
        question = parse_prompt(request).inputs.get("question", "")
        asked.append(question)
        number = next((v for start, v in SOLUTIONS.items() if question.startswith(start)), 0.0)
        return {"thinking": f"Working out: {question}", "answer": number}

    simulated_lm.set_responder(respond)
    simulated_lm.asked = asked
    return simulated_lm


async def test_gsm8k_baseline_script(gsm8k_cache, calculator):
    # examples/8_training_programs.py, on the cached rows and the simulated model.
    language_model = language_model_for(calculator)
    (x_train, y_train), (x_test, y_test) = synalinks.datasets.gsm8k.load_data()

    inputs = synalinks.Input(data_model=synalinks.datasets.gsm8k.get_input_data_model())
    outputs = await synalinks.Generator(
        data_model=synalinks.datasets.gsm8k.get_output_data_model(),
        language_model=language_model,
    )(inputs)
    program = synalinks.Program(
        inputs=inputs,
        outputs=outputs,
        name="gsm8k_baseline",
        description="A program to solve math problems",
    )
    program.compile(
        reward=synalinks.rewards.ExactMatch(in_mask=["answer"]),
        optimizer=synalinks.optimizers.RandomFewShot(),
    )
    metrics = await program.evaluate(x=x_test, y=y_test, batch_size=32)

    assert isinstance(x_train, np.ndarray) and x_train.dtype == object
    assert (len(x_train), len(y_train), len(x_test), len(y_test)) == (5, 5, 3, 3)
    assert y_train[3].answer == 1000.0  # "#### 1,000": thousands separator dropped
    assert y_train[0].thinking == "She has 3 + 4 = <<3+4=7>>7 apples."
    assert sorted(calculator.asked) == sorted(q for q, _ in GSM8K["test"])
    assert metrics["reward"] == pytest.approx(2 / 3)  # the train question is answered wrong

    history = await program.fit(
        x=x_train, y=y_train, validation_split=0.2, epochs=1, batch_size=32, verbose=0
    )
    assert set(history.history) >= {"reward", "val_reward"}


async def test_streamed_batches_script(gsm8k_cache):
    # Streaming, as for RL-style rollouts: each question twice per batch of two.
    dataset = synalinks.datasets.gsm8k.iterable_dataset(repeat=2, batch_size=2, limit=2)
    batches = [[x.question[:8] for x in xs] for xs, _ in dataset]
    assert batches == [["Ann has ", "Ann has "], ["A pen co", "A pen co"]]
    assert len(dataset) == 2
    x, y = synalinks.datasets.gsm8k.iterable_dataset(batch_size=None, split="test").materialize()
    assert [answer.answer for answer in y] == [30.0, 180.0, 8.0]


async def test_hotpotqa_and_arcagi_scripts(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPREFECT_DATASETS", str(tmp_path))
    context = {
        "title": ["Paris", "Seine"],
        "sentences": [["Paris is the capital.", "It is big."], ["The Seine flows."]],
    }
    write_cache(
        tmp_path,
        "hotpotqa",
        {
            "train": [
                {"question": "Which river?", "answer": "Seine", "level": "easy", "context": context}
            ],
            "validation": [
                {"question": "Q easy", "answer": "a", "level": "easy", "context": {}},
                {"question": "Q hard", "answer": "b", "level": "hard", "context": {}},
            ],
        },
    )
    (x_train, y_train), (x_test, y_test) = synalinks.datasets.hotpotqa.load_data()
    documents = synalinks.datasets.hotpotqa.load_knowledge()
    assert [x.question for x in x_test] == ["Q hard"]  # hard validation rows only
    assert [(d.title, d.text) for d in documents] == [
        ("Paris", "Paris is the capital.\nIt is big."),
        ("Seine", "The Seine flows."),
    ]
    assert synalinks.datasets.hotpotqa.get_knowledge_data_model().__name__ == "Document"

    task = {
        "train": [{"input": [[1]], "output": [[2, 2]]}, {"input": [[3]], "output": [[4]]}],
        "test": [{"input": [[5]], "output": [[6]]}],
    }
    (tmp_path / "arcagi" / "1" / "training").mkdir(parents=True)
    (tmp_path / "arcagi" / "1" / "training" / "62c24649.json").write_text(json.dumps(task))
    (x_train, y_train), (x_test, y_test) = synalinks.datasets.arcagi.load_data(
        task_name="62c24649", arc_version=1
    )
    assert synalinks.datasets.arcagi.get_arcagi1_training_task_names() == ["62c24649"]
    # one-leave-out: each training pair is solved from the other one, smallest output first
    assert [y.output_grid for y in y_train] == [[[4]], [[2, 2]]]
    assert [len(x.examples) for x in x_train] == [1, 1] and len(x_test[0].examples) == 2
    assert "rule" in synalinks.datasets.arcagi.default_instructions()


class Tweet(synalinks.DataModel):
    text: str = synalinks.Field(description="A short message")


class Emotion(synalinks.DataModel):
    joy: bool = synalinks.Field(description="Whether the message expresses joy")


def test_load_split_and_split_train_test_script(tmp_path, monkeypatch):
    # examples/19_multi_objective_lm_selection.py's loader and guide 11's head/tail split.
    monkeypatch.setenv("SYNAPREFECT_DATASETS", str(tmp_path))
    write_cache(
        tmp_path / "dair-ai",
        "emotion",
        {"train": [{"text": f"message {i} <3", "label": i % 2} for i in range(5)]},
    )
    x, y = synalinks.datasets.load_split(
        path="dair-ai/emotion",
        split="train",
        input_data_model=Tweet,
        input_template='{"text": {{ text | tojson }}}',
        output_data_model=Emotion,
        output_template='{"joy": {{ (label == 1) | tojson }}}',
        limit=4,
    )
    (x_train, y_train), (x_test, y_test) = synalinks.datasets.split_train_test(
        x, y, validation_split=0.25
    )
    assert [t.text for t in x_train] == ["message 0 <3", "message 1 <3", "message 2 <3"]
    assert [e.joy for e in y_train] == [False, True, False] and y_test[0].joy is True
    (texts,) = synalinks.datasets.load_split(
        path="dair-ai/emotion",
        split="train",
        input_data_model=Tweet,
        input_template='{"text": {{ text | tojson }}}',
    )
    assert len(texts) == 5


def test_a_benchmark_not_in_the_cache_says_which_file_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPREFECT_DATASETS", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as raised:
        synalinks.datasets.gsm8k.load_data()
    message = str(raised.value)
    expected = tmp_path / "cache" / "gsm8k" / "train.jsonl"
    assert f"expected the file {expected}" in message
    assert "load_dataset('openai/gsm8k', 'main', split='train')" in message
    assert f".to_json('{expected}')" in message and "$SYNAPREFECT_DATASETS" in message
    with pytest.raises(
        FileNotFoundError, match="copy the data/ folder of https://github.com/fchollet/ARC-AGI"
    ):
        synalinks.datasets.arcagi.load_data("62c24649")
