"""The ``synaprefect`` command line: help, exit codes, one-line errors, every command."""

import io
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from synaprefect import datasets, recipes
from synaprefect.cli import main
from synaprefect.orchestration import is_tracking
from synaprefect.testing import SimulatedLM

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "flows" / "data" / "capitals.jsonl"
HOLDOUT = ROOT / "flows" / "data" / "capitals_holdout.jsonl"
COMMANDS = ("demo", "fit", "evaluate", "predict", "tune", "serve-lm", "runs")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    # What the command line sets for its own process stays inside each test.
    monkeypatch.setenv("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    monkeypatch.setenv("SYNAPREFECT_HOME", str(tmp_path / "home"))


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """The one error line; argparse's usage lines may come before it."""
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1, err
    assert err.rstrip("\n").endswith(errors[0]), err
    return errors[0]


@pytest.fixture(scope="module")
def untrained(tmp_path_factory) -> Path:
    """A saved default program for the capitals, never trained."""
    import asyncio

    path = tmp_path_factory.mktemp("programs") / "capitals.json"

    async def build():
        with recipes.open_language_model() as lm:
            inputs, outputs = datasets.data_models_for(datasets.load_rows(TRAIN))
            program = await recipes.default_program(inputs, outputs, lm, name="capitals")
        program.save(path)

    asyncio.run(build())
    return path


# ---- help and usage --------------------------------------------------------------------


def test_the_installed_command_lists_every_command_and_the_exit_codes():
    script = Path(sys.executable).with_name("synaprefect")
    assert script.exists(), "the `synaprefect` console script is not installed"
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", done.stdout, re.M), command
    assert "exit codes: 0 success, 1 the job failed, 2 bad usage." in done.stdout
    assert "--model takes any litellm model string" in done.stdout


@pytest.mark.parametrize(
    "command, expected",
    [
        ("demo", ["--model MODEL"]),
        (
            "fit",
            [
                "DATA",
                "-o PATH, --output PATH",
                "--program PATH",
                "--input-fields A,B",
                "--output-fields C",
                "--epochs N",
                "--model MODEL",
                "--api-base URL",
                "--no-tracking",
                "the last column is the output",
            ],
        ),
        ("evaluate", ["DATA", "--program PATH", "--json", "--model MODEL"]),
        ("predict", ["DATA", "--program PATH", "-o PATH, --output PATH", "JSON Lines"]),
        ("tune", ["--flow PATH", "--param KEY=VALUE", "flows/tune.py", "--model MODEL"]),
        ("serve-lm", ["--port PORT", "0 picks a free port", "base URL"]),
        ("runs", ["--program NAME", "--prune", "--keep N", "--unfinished", "resumes"]),
    ],
)
def test_each_command_explains_itself(capsys, command, expected):
    code, out, err = run(capsys, command, "--help")
    assert code == 0 and not err
    assert out.startswith(f"usage: synaprefect {command} ")
    text = " ".join(out.split())
    for phrase in expected:
        assert " ".join(phrase.split()) in text, phrase


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "synaprefect: error: choose a command"),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
        (["fit", TRAIN], "the following arguments are required: -o/--output"),
        (
            ["fit", "missing.jsonl", "-o", "out.json"],
            "argument DATA: file not found: 'missing.jsonl'",
        ),
        (["fit", TRAIN, "-o", "out.txt"], "a program file ends with .json, got 'out.txt'"),
        (
            ["fit", TRAIN, "-o", "out.json", "--epochs", "0"],
            "argument --epochs: expected a positive integer, got '0'",
        ),
        (
            ["fit", TRAIN, "-o", "out.json", "--validation-split", "1"],
            "argument --validation-split: expected a number in [0, 1), got '1'",
        ),
        (["fit", TRAIN, "-o", "out.json", "--bogus"], "unrecognized arguments: --bogus"),
        (["evaluate", HOLDOUT], "the following arguments are required: --program"),
        (
            ["evaluate", HOLDOUT, "--program", "gone.json"],
            "argument --program: file not found: 'gone.json'",
        ),
        (["predict", HOLDOUT, "--program", TRAIN], "a program file ends with .json"),
        (["tune", "--param", "no-equals"], "argument --param: expected KEY=VALUE"),
        (["serve-lm", "--port", "eighty"], "argument --port: invalid int value: 'eighty'"),
    ],
)
def test_bad_usage_is_one_error_line_and_exit_code_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and not out
    line = error_line(err)
    assert line.startswith("synaprefect") and message in line, err


def test_fields_of_a_new_program_do_not_go_with_a_saved_program(capsys, untrained):
    code, _, err = run(
        capsys,
        "fit",
        TRAIN,
        "-o",
        untrained,
        "--program",
        untrained,
        "--input-fields",
        "query",
        "--no-tracking",
    )
    assert code == 2
    assert error_line(err).startswith(
        "synaprefect fit: error: --input-fields/--output-fields shape a new program"
    )


# ---- jobs ------------------------------------------------------------------------------


def test_fit_evaluate_predict_round_trip_offline(capsys, tmp_path):
    program = tmp_path / "capitals.json"
    code, out, err = run(
        capsys,
        "fit",
        TRAIN,
        "-o",
        program,
        "--epochs",
        "2",
        "--batch-size",
        "7",
        "--validation-split",
        "0.25",
        "--seed",
        "7",
        "--no-tracking",
    )
    assert code == 0, err
    assert "Epoch 2/2" in out and re.search(r"\d+/3 \[=+\]", out)  # fit's progress bar
    assert out.splitlines()[-1].startswith(f"Saved capitals to {program}; reward ")
    assert is_tracking()  # --no-tracking held for that command only

    code, out, _ = run(capsys, "evaluate", HOLDOUT, "--program", program, "--json", "--no-tracking")
    scores = json.loads(out)
    assert code == 0 and list(scores) == ["reward"] and scores["reward"] > 0.5

    predictions = tmp_path / "out" / "answers.jsonl"
    code, out, _ = run(
        capsys, "predict", HOLDOUT, "--program", program, "-o", predictions, "--no-tracking"
    )
    assert code == 0 and out == f"Wrote 12 predictions to {predictions}\n"
    answers = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(answers) == 12 and all(set(a) == {"answer"} for a in answers)
    expected = [row["answer"] for row in datasets.load_rows(HOLDOUT)]
    assert sum(a["answer"] == e for a, e in zip(answers, expected)) / 12 == scores["reward"]

    code, out, _ = run(capsys, "predict", HOLDOUT, "--program", program, "--no-tracking")
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == answers


def test_fit_names_the_fields_of_a_new_program(capsys, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "question,notes,reply\nWhat is the capital of France?,x,PARIS\n"
        "What is the capital of Spain?,y,MADRID\n"
    )
    program = tmp_path / "qa.json"
    code, _, err = run(
        capsys,
        "fit",
        rows,
        "-o",
        program,
        "--input-fields",
        "question",
        "--output-fields",
        "reply",
        "--name",
        "qa",
        "--validation-split",
        "0",
        "--verbose",
        "0",
        "--no-tracking",
    )
    assert code == 0, err
    document = json.loads(program.read_text())
    assert document["config"]["name"] == "qa"
    generator = document["config"]["modules"][-1]["config"]
    assert list(generator["schema"]["properties"]) == ["reply"]
    code, out, err = run(capsys, "predict", rows, "--program", program, "--no-tracking")
    assert code == 0, err
    assert [list(json.loads(line)) for line in out.splitlines()] == [["reply"], ["reply"]]


def test_a_malformed_row_exits_1_naming_the_file_and_line(capsys, tmp_path, untrained):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(HOLDOUT.read_text().splitlines()[0] + '\n\n{"query": "Capital?"}\n')
    for argv in (
        ["fit", rows, "-o", tmp_path / "out.json"],
        ["evaluate", rows, "--program", untrained],
    ):
        code, out, err = run(capsys, *argv, "--no-tracking")
        assert code == 1 and not out
        assert error_line(err) == (
            f"synaprefect {argv[0]}: error: {rows}:3: missing column 'answer' (field "
            "'answer' of Outputs); the row has the columns ['query']."
        )
    bad_json = tmp_path / "rows.json"
    bad_json.write_text('[\n  {"query": "a", "answer": "b"},\n  {"query": "c",}\n]\n')
    code, _, err = run(capsys, "predict", bad_json, "--program", untrained, "--no-tracking")
    assert code == 1
    assert error_line(err).startswith(f"synaprefect predict: error: {bad_json}:3: not valid JSON")


def test_runs_lists_and_prunes_the_state_of_jobs(capsys, tmp_path, untrained):
    # An unfinished job (its folder was left by a crash) is listed as resumable and is
    # deleted only when asked; a finished job's folder is gone once it ends.
    from synaprefect.trainers.replay import results_root

    code, _, _ = run(capsys, "evaluate", HOLDOUT, "--program", untrained, "--no-tracking")
    assert code == 0
    code, out, _ = run(capsys, "runs")
    assert code == 0 and out == ""
    crashed = results_root() / "capitals" / "evaluate-0123"
    (crashed / "steps").mkdir(parents=True)
    (crashed / "calls.jsonl").write_text('["k", {"answer": "Paris"}]\n')
    code, out, _ = run(capsys, "runs", "--program", "capitals")
    assert code == 0 and "evaluate-0123\tunfinished (resumes)" in out
    code, out, _ = run(capsys, "runs", "--prune")
    assert code == 0 and out == "" and crashed.exists()
    code, out, _ = run(capsys, "runs", "--prune", "--unfinished")
    assert code == 0 and out == f"deleted {crashed}\n" and not crashed.exists()
    code, _, err = run(capsys, "runs", "--prune", "--keep", "-1")
    assert code == 2 and "--keep must be >= 0" in err


def test_traceback_shows_where_a_job_failed(tmp_path, untrained):
    rows = tmp_path / "rows.csv"
    rows.write_text("query\nWhat?\n")
    with pytest.raises(datasets.DatasetError, match="missing column 'answer'"):
        main(["evaluate", str(rows), "--program", str(untrained), "--no-tracking", "--traceback"])


def test_model_option_takes_a_litellm_model_string(capsys, monkeypatch, untrained):
    with recipes.simulated_lm() as server:
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        code, out, err = run(
            capsys,
            "evaluate",
            HOLDOUT,
            "--program",
            untrained,
            "--model",
            server.model,
            "--api-base",
            server.base_url,
            "--no-tracking",
        )
        assert code == 0, err
        assert server.stats().completed == 12
    assert re.fullmatch(r"reward: \d\.\d{4}\n", out)


def test_a_failing_model_exits_1_with_its_error(capsys, monkeypatch, untrained):
    with SimulatedLM(api_key="sk-the-right-one") as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-a-wrong-one")
        code, out, err = run(
            capsys,
            "predict",
            HOLDOUT,
            "--program",
            untrained,
            "--model",
            server.model,
            "--api-base",
            server.base_url,
            "--no-tracking",
        )
    assert code == 1 and not out
    line = error_line(err)
    assert line.startswith("synaprefect predict: error: Language model 'openai/simulated'")
    assert "Check the API key" in line and "sk-a-wrong-one" not in err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_evaluate_and_predict_draw_a_progress_bar_on_a_terminal(capsys, monkeypatch, untrained):
    for command in ("evaluate", "predict"):
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        code, out, _ = run(capsys, command, HOLDOUT, "--program", untrained, "--no-tracking")
        assert code == 0 and out
        last = terminal.getvalue().split("\r")[-1]
        assert last == f"{command}: 12/12 LM calls [{'=' * 30}]\n"


def test_no_progress_bar_when_stderr_is_not_a_terminal(capsys, untrained):
    code, _, err = run(capsys, "evaluate", HOLDOUT, "--program", untrained, "--no-tracking")
    assert code == 0 and "LM calls" not in err


async def test_jobs_are_tracked_in_prefect_unless_told_not_to(prefect_api, tmp_path, untrained):
    import asyncio

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    program = tmp_path / "tracked_cli.json"
    program.write_text(untrained.read_text().replace('"capitals"', '"tracked_cli"'))

    def evaluate(*extra) -> int:
        return main(["evaluate", str(HOLDOUT), "--program", str(program), *extra])

    assert await asyncio.to_thread(evaluate) == 0
    assert await asyncio.to_thread(evaluate, "--no-tracking") == 0
    async with prefect_api.client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["evaluate-tracked_cli"]))
        )
    assert len(runs) == 1 and runs[0].state.is_completed()


async def test_demo_still_runs(capsys, prefect_api):
    import asyncio

    code = await asyncio.to_thread(main, ["demo"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Language model: openai/simulated (offline simulated LM)" in out
    before = float(re.search(r"before training: (\S+)", out).group(1))
    after = float(re.search(r"after training:\s+(\S+)", out).group(1))
    assert before < after


# ---- tune ------------------------------------------------------------------------------


TUNE_FLOW = """
from prefect import flow
from prefect.context import FlowRunContext

@flow
async def tune(data: str = "flows/data/capitals.jsonl", max_trials: int = 2,
               model: str | None = None):
    return {"data": data, "max_trials": max_trials, "model": model,
            "flow_run": FlowRunContext.get() is not None}
"""


async def test_tune_runs_the_projects_tune_flow_with_parameters(
    capsys, monkeypatch, tmp_path, prefect_api
):
    import asyncio

    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "tune.py").write_text(TUNE_FLOW)
    monkeypatch.chdir(tmp_path)  # flows/tune.py of the project, from its root
    argv = [
        "tune",
        "--param",
        "max_trials=5",
        "--param",
        "data=rows.csv",
        "--model",
        "openai/gpt-4o-mini",
    ]
    for extra, tracked in (["--no-tracking"], False), ([], True):
        code = await asyncio.to_thread(main, argv + extra)
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out) == {
            "data": "rows.csv",
            "max_trials": 5,
            "model": "openai/gpt-4o-mini",
            "flow_run": tracked,
        }


def test_tune_refuses_parameters_its_flow_does_not_take(capsys, tmp_path):
    flow = tmp_path / "search.py"
    flow.write_text(TUNE_FLOW)
    code, _, err = run(capsys, "tune", "--flow", flow, "--param", "trials=5")
    assert code == 2
    assert error_line(err) == (
        f"synaprefect tune: error: {flow}:tune takes no parameter "
        "trials; it takes data, max_trials, model"
    )
    flow.write_text("def search():\n    pass\n")
    code, _, err = run(capsys, "tune", "--flow", flow)
    assert code == 2 and error_line(err).endswith(f"{flow} defines no `tune` flow")
    code, _, err = run(capsys, "tune", "--flow", tmp_path / "gone.py")
    assert code == 2 and "argument --flow: file not found" in error_line(err)


# ---- serve-lm --------------------------------------------------------------------------


def test_serve_lm_serves_the_simulated_lm_until_terminated(tmp_path):
    command = [sys.executable, "-m", "synaprefect.cli", "serve-lm", "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url), server.stderr.read()
        answer = httpx.post(
            f"{url}/chat/completions",
            timeout=30,
            json={
                "model": "simulated",
                "messages": [
                    {
                        "role": "user",
                        "content": '<input>{"query": "What is the capital of France?"}</input>',
                    }
                ],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "Answer",
                        "schema": {
                            "type": "object",
                            "properties": {"answer": {"type": "string"}},
                            "required": ["answer"],
                        },
                    },
                },
            },
        ).json()
        assert json.loads(answer["choices"][0]["message"]["content"])["answer"].lower() == "paris"
        port = url.split(":")[-1].split("/")[0]
        busy = subprocess.run([*command[:-1], port], capture_output=True, text=True, timeout=60)
        assert busy.returncode == 1
        assert error_line(busy.stderr).startswith(
            "synaprefect serve-lm: error: RuntimeError: simulated LM server failed to start"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=20)
        server.stdout.close()
        server.stderr.close()
    assert code == 0
