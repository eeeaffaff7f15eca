"""The benchmark datasets: each one's upstream row -> data models, the cache layout, the
streamed batches, ARC-AGI's sample construction and the errors."""

import json
import subprocess
import sys

import pytest

from synaprefect import datasets
from synaprefect.config import synaprefect_home
from synaprefect.datasets import DatasetError, DatasetNotFoundError, arcagi

# benchmark, split load_data reads first, one upstream row, the input and target it gives
CASES = [
    (
        "gsm8k",
        "train",
        {"question": "2 + 2?", "answer": "Add them.\n#### 4"},
        {"question": "2 + 2?"},
        {"thinking": "Add them.", "answer": 4.0},
    ),
    (
        "mmlu",
        "validation",
        {"question": "Q?", "subject": "math", "choices": ["a", "b", "c", "d"], "answer": 2},
        {"question": "Q?", "choices": ["a", "b", "c", "d"], "subject": "math"},
        {"answer": "C"},
    ),
    (
        "hotpotqa",
        "train",
        {"question": "Q?", "answer": "A", "level": "hard"},
        {"question": "Q?"},
        {"answer": "A"},
    ),
    (
        "arc_challenge",
        "train",
        {
            "question": "Why?",
            "choices": {"text": ["x", "y"], "label": ["1", "2"]},
            "answerKey": "2",
        },
        {"question": "Why?\n1) x\n2) y"},
        {"answer": "2"},
    ),
    (
        "bbh",
        "test",
        {"input": "not True", "target": "False"},
        {"question": "not True"},
        {"answer": False},
    ),
    (
        "bbq",
        "age",
        {"context": "C.", "question": "Who?", "choices": ["p", "q", "r"], "answer": 1},
        {"question": "C.\nWho?\nA) p\nB) q\nC) r"},
        {"answer": "B"},
    ),
    (
        "boolq",
        "train",
        {"question": "is it", "passage": "P.", "answer": True},
        {"question": "P.\n\nQuestion: is it?"},
        {"answer": True},
    ),
    (
        "drop",
        "train",
        {
            "passage": "P.",
            "question": "How many?",
            "answers_spans": {"spans": ["3", "three"], "types": ["number"]},
        },
        {"question": "P.\n\nQuestion: How many?"},
        {"answer": "3"},
    ),
    (
        "hellaswag",
        "train",
        {"ctx": "He", "endings": ["a", "b", "c", "d"], "label": "3"},
        {"question": "He\nA) a\nB) b\nC) c\nD) d"},
        {"answer": "D"},
    ),
    (
        "humaneval",
        "test",
        {"prompt": "def f():\n", "canonical_solution": "    return 1\n"},
        {"prompt": "def f():\n"},
        {"completion": "    return 1\n"},
    ),
    (
        "ifeval",
        "train",
        {"prompt": "Say hi in 3 words."},
        {"prompt": "Say hi in 3 words."},
        {"response": "Say hi in 3 words."},
    ),
    (
        "lambada",
        "test",
        {"text": "the cat sat on the mat"},
        {"question": "the cat sat on the ___"},
        {"answer": "mat"},
    ),
    (
        "logiqa",
        "train",
        {"context": "C.", "question": "Q?", "options": ["A. x", "B. y"], "answer": "B"},
        {"question": "C.\n\nQuestion: Q?\nA. x\nB. y"},
        {"answer": "B"},
    ),
    (
        "squad",
        "train",
        {
            "context": "C.",
            "question": "Q?",
            "answers": {"text": ["ans", "other"], "answer_start": [0, 4]},
        },
        {"question": "C.\n\nQuestion: Q?"},
        {"answer": "ans"},
    ),
    (
        "truthfulqa",
        "validation",
        {"question": "Q?", "mc1_targets": {"choices": ["no", "yes"], "labels": [0, 1]}},
        {"question": "Q?\nA) no\nB) yes"},
        {"answer": "B"},
    ),
    (
        "winogrande",
        "train",
        {"sentence": "The _ fell.", "option1": "cup", "option2": "sky", "answer": "1"},
        {"question": "The _ fell.\n1) cup\n2) sky"},
        {"answer": 1},
    ),
]


def write_split(name, split, rows, folder=None):
    path = (folder or datasets.datasets_dir()) / name / f"{split}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.parametrize("name,split,row,inputs,outputs", CASES, ids=[c[0] for c in CASES])
def test_a_benchmark_row_becomes_its_data_models(name, split, row, inputs, outputs):
    module = getattr(datasets, name)
    write_split(name, split, [row] * 5)
    x, y = (
        getattr(datasets, name)
        .iterable_dataset(
            batch_size=None, **({"category": split} if name == "bbq" else {"split": split})
        )
        .materialize()
    )
    assert isinstance(x[0], module.get_input_data_model())
    assert isinstance(y[0], module.get_output_data_model())
    assert (x[0].get_json(), y[0].get_json()) == (inputs, outputs)


@pytest.mark.parametrize(
    "name,train,test",
    [
        ("gsm8k", "train", "test"),
        ("mmlu", "validation", "test"),
        ("boolq", "train", "validation"),
        ("winogrande", "train", "validation"),
    ],
)
def test_load_data_reads_the_train_and_test_splits(name, train, test):
    row = next(case[2] for case in CASES if case[0] == name)
    write_split(name, train, [row] * 3)
    write_split(name, test, [row] * 2)
    (x_train, y_train), (x_test, y_test) = getattr(datasets, name).load_data()
    assert (len(x_train), len(y_train), len(x_test), len(y_test)) == (3, 3, 2, 2)


def test_single_split_benchmarks_keep_the_tail_for_testing():
    rows = [{"text": f"word{i} end{i}"} for i in range(10)]
    write_split("lambada", "test", rows)
    (x_train, y_train), (x_test, y_test) = datasets.lambada.load_data(validation_split=0.3)
    assert [y.answer for y in y_train] == [f"end{i}" for i in range(7)]
    assert [y.answer for y in y_test] == ["end7", "end8", "end9"]
    write_split("bbq", "gender_identity", [CASES[5][2]] * 4)
    (x_train, _), (x_test, _) = datasets.bbq.load_data(
        category="gender_identity", validation_split=0.25
    )
    assert (len(x_train), len(x_test)) == (3, 1)


def test_the_cache_is_under_the_home_unless_synaprefect_datasets_says(tmp_path, monkeypatch):
    assert datasets.gsm8k.expected_file("test") == (
        synaprefect_home() / "datasets" / "gsm8k" / "test.jsonl"
    )
    monkeypatch.setenv("SYNAPREFECT_DATASETS", str(tmp_path / "elsewhere"))
    assert datasets.gsm8k.expected_file("test") == tmp_path / "elsewhere/gsm8k/test.jsonl"
    with pytest.raises(ValueError, match="plain split name"):
        datasets.gsm8k.expected_file("../secrets")


def test_benchmark_modules_load_on_first_use():
    script = (
        "import sys, synaprefect as synalinks; "
        "assert 'synaprefect.datasets.gsm8k' not in sys.modules; "
        "print(synalinks.datasets.gsm8k.get_input_data_model().__name__)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "MathQuestion\n"), done.stderr


def test_a_missing_split_fails_before_streaming():
    with pytest.raises(DatasetNotFoundError, match="'validation' split is not in the local"):
        datasets.squad.iterable_dataset(split="validation")


def test_a_malformed_row_names_its_file_and_line():
    path = write_split(
        "gsm8k",
        "train",
        [{"question": "ok?", "answer": "x\n#### 1"}, {"question": "no marker", "answer": "7"}],
    )
    with pytest.raises(
        DatasetError,
        match=rf"{path}:2: not a gsm8k row: ValueError: the "
        "answer has no '#### <number>' line",
    ):
        datasets.gsm8k.iterable_dataset(split="train").materialize()
    write_split("mmlu", "validation", [{"question": "Q?", "choices": [], "answer": 0}])
    with pytest.raises(
        DatasetError,
        match=r"validation.jsonl:1: not a mmlu row: missing "
        r"column\(s\) \['subject'\]",
    ):
        datasets.mmlu.load_data()
    write_split("winogrande", "train", [{**CASES[-1][2], "answer": "3"}])
    with pytest.raises(
        DatasetError,
        match=r"train.jsonl:1: the row does not fit "
        "WinoGrandeAnswer: field `answer`",
    ):
        datasets.winogrande.iterable_dataset().materialize()


def test_streamed_batches_repeat_limit_and_count():
    write_split("boolq", "train", [{**CASES[6][2], "question": f"q{i}"} for i in range(5)])
    stream = datasets.boolq.iterable_dataset(repeat=2, batch_size=3, limit=4)
    batches = [[x.question.split()[-1] for x in xs] for xs, _ in stream()]
    assert batches == [["q0?", "q0?", "q1?"], ["q1?", "q2?", "q2?"], ["q3?", "q3?"]]
    assert len(stream) == 3 and len(datasets.boolq.iterable_dataset(batch_size=None)) == 1
    for bad in ({"repeat": 0}, {"batch_size": 0}, {"limit": -1}):
        with pytest.raises(ValueError, match=f"`{next(iter(bad))}` must be"):
            datasets.boolq.iterable_dataset(**bad)


def test_split_train_test_is_the_head_and_tail():
    (x_train, y_train), (x_test, y_test) = datasets.split_train_test(
        list(range(10)), list("abcdefghij"), validation_split=0.2
    )
    assert (x_train, x_test, y_test) == (list(range(8)), [8, 9], ["i", "j"])
    with pytest.raises(ValueError, match="leaves 0 for training"):
        datasets.split_train_test([1], [2], validation_split=0.5)


class Text(datasets.gsm8k.MathQuestion):
    pass


@pytest.mark.parametrize(
    "kwargs,error",
    [
        (
            {"input_template": '{"question": {{ missing }}}'},
            r"q/a/train.jsonl:1: not a q/a row: ValueError: `input_template` cannot render the "
            r"row: 'missing' is undefined",
        ),
        (
            {"input_template": "{{ question }}"},
            r"train.jsonl:1: not a q/a row: ValueError: `input_template` rendered 'Why\?', not JSON",
        ),
        (
            {
                "input_template": '{"question": {{ question | tojson }}}',
                "output_data_model": Text,
                "output_template": "[1]",
            },
            r"`output_template` must render a JSON object",
        ),
        (
            {"input_template": '{"question": {{ n }}}'},
            r"train.jsonl:1: the row does not fit Text: field `question`",
        ),
    ],
)
def test_load_split_errors_name_the_row_and_the_template(kwargs, error):
    write_split("q/a", "train", [{"question": "Why?", "n": 3}])
    with pytest.raises(DatasetError, match=error):
        datasets.load_split(path="q/a", split="train", input_data_model=Text, **kwargs)


def test_load_split_checks_its_arguments_before_reading():
    with pytest.raises(ValueError, match="not a valid Jinja2 template"):
        datasets.load_split(
            path="q", split="train", input_data_model=Text, input_template="{{ oops"
        )
    with pytest.raises(ValueError, match="`output_data_model` and `output_template` together"):
        datasets.load_split(
            path="q",
            split="train",
            input_data_model=Text,
            input_template="{}",
            output_template="{}",
        )
    with pytest.raises(ValueError, match="must name a dataset"):
        datasets.load_split(
            path="../etc", split="train", input_data_model=Text, input_template="{}"
        )
    with pytest.raises(
        DatasetNotFoundError,
        match=r"(?s)q/cfg/test.jsonl.*load_dataset\('q', "
        r"'cfg', split='test'\)",
    ):
        datasets.load_split(
            path="q", name="cfg", split="test", input_data_model=Text, input_template="{}"
        )


# ---- ARC-AGI --------------------------------------------------------------------------

TASK = {
    "train": [
        {"input": [[1]], "output": [[1, 1], [1, 1]]},
        {"input": [[2]], "output": [[2]]},
        {"input": [[3]], "output": [[3, 3]]},
    ],
    "test": [{"input": [[4]], "output": [[4]]}],
}


def write_task(name, task=TASK, version=1, subset="training"):
    path = arcagi.task_folder(version, subset) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(task))
    return path


def test_arcagi_one_leave_out_permutations_repeat_and_curriculum():
    write_task("t1")
    (x, y), (x_test, y_test) = arcagi.load_data("t1", permutation=True, repeat=2)
    # 3 pairs x 2 orders of the other two x 2 repeats, smallest output grid first
    assert [len(o.output_grid) * len(o.output_grid[0]) for o in y] == [1] * 4 + [2] * 4 + [4] * 4
    assert {tuple(e.input_grid[0][0] for e in s.examples) for s in x[:4]} == {(1, 3), (3, 1)}
    assert [s.input_grid for s in x_test] == [[[4]]] and len(x_test[0].examples) == 3
    (x, y), _ = arcagi.load_data("t1", curriculum_learning=False, one_leave_out=False)
    assert [s.input_grid[0][0] for s in x] == [1, 2, 3]  # each pair once, in file order
    assert all(s.examples == [] for s in x)


def test_arcagi_tasks_by_version_subset_or_path(tmp_path):
    write_task("e2", version=2, subset="evaluation")
    write_task("t2", version=2)
    assert arcagi.get_arcagi2_evaluation_task_names() == ["e2"]
    assert arcagi.get_arcagi2_training_task_names() == ["t2"]
    (x, _), _ = arcagi.load_data("e2", arc_version=2)
    assert len(x) == 3
    own = tmp_path / "mine.json"
    own.write_text(json.dumps({**TASK, "train": TASK["train"][:2]}))
    (x, _), _ = arcagi.load_data("ignored", filepath=own)
    assert len(x) == 2


def test_arcagi_errors_name_the_task_and_file(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"arcagi/1/evaluation holding one"):
        arcagi.get_arcagi1_evaluation_task_names()
    write_task("known")
    with pytest.raises(ValueError, match=r"Unknown ARC-AGI 1 task 'nope'.*\['known'\]"):
        arcagi.load_data("nope")
    bad = write_task("bad", {"train": [{"input": [[1]]}], "test": []})
    with pytest.raises(DatasetError, match=rf"{bad}: an ARC-AGI task needs a 'train' list"):
        arcagi.load_data("bad")
    write_task("colour", {"train": [{"input": [[12]], "output": [[1]]}], "test": []})
    with pytest.raises(DatasetError, match="does not fit ARCAGIInput"):
        arcagi.load_data("colour", one_leave_out=False)
    with pytest.raises(ValueError, match="`arc_version` must be 1 or 2"):
        arcagi.load_data("known", arc_version=3)
