"""Synalinks scripts that plot programs, histories and scores, log, and turn observability
on, run with ``import synaprefect as synalinks`` against the simulated LM.

Images are checked as images: decoded, sized, not blank, and where the layout is known
(the program graph), its boxes are found in the pixels.
"""

import base64
import io
import logging
import re
import uuid
from xml.etree import ElementTree

import matplotlib.image
import numpy as np
import pytest

import synaprefect as synalinks
from synaprefect.orchestration import tracking
from synaprefect.testing.skills import language_model_for, load_capitals, style_student
from synaprefect.trainers import runtime as runtime_module

ROWS, _ = load_capitals()
KNOWLEDGE = {row["query"]: row["answer"].title() for row in ROWS}
HEADER = np.array([0x2F, 0x3E, 0x4E]) / 255  # the title band of a module box
TAB10_BLUE, TAB10_ORANGE = np.array([31, 119, 180]) / 255, np.array([255, 127, 14]) / 255


class Query(synalinks.DataModel):
    query: str = synalinks.Field(description="The question")


class Answer(synalinks.DataModel):
    answer: str = synalinks.Field(description="The answer")


class Critique(synalinks.DataModel):
    critique: str = synalinks.Field(description="What is wrong with the answers")


def dataset(n: int, start: int = 0):
    rows = ROWS[start : start + n]
    return (
        np.array([Query(query=r["query"]) for r in rows], dtype=object),
        np.array([Answer(answer=r["answer"]) for r in rows], dtype=object),
    )


async def qa_program(server, name: str) -> synalinks.Program:
    server.set_responder(style_student(KNOWLEDGE))
    inputs = synalinks.Input(data_model=Query)
    outputs = await synalinks.Generator(
        data_model=Answer, language_model=language_model_for(server), name="answerer"
    )(inputs)
    program = synalinks.Program(inputs=inputs, outputs=outputs, name=name)
    program.compile(
        reward=synalinks.rewards.ExactMatch(in_mask=["answer"]),
        optimizer=synalinks.optimizers.RandomFewShot(),
    )
    return program


def picture(source) -> np.ndarray:
    """The decoded RGB pixels of a PNG, checked to be a real picture: a sensible size,
    not one flat colour, several distinct colours."""
    image = matplotlib.image.imread(source, format="png")
    height, width = image.shape[:2]
    assert height >= 100 and width >= 100, image.shape
    rgb = image[..., :3]
    assert rgb.std() > 0.05
    channels = (rgb * 255).round().astype(np.uint32)
    colours = np.unique(channels[..., 0] << 16 | channels[..., 1] << 8 | channels[..., 2])
    assert len(colours) >= 8
    return rgb


def has_colour(rgb: np.ndarray, colour: np.ndarray) -> np.ndarray:
    return np.all(np.abs(rgb - colour) < 0.02, axis=-1)


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of the runs of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def boxes_per_layer(path: str) -> list[int]:
    """How many module boxes each layer of a top-to-bottom program plot holds: layers are
    the row bands holding title bands, boxes the runs of title colour along a pixel row
    in the padding above the title text."""
    header = has_colour(picture(path), HEADER)
    return [
        len([r for r in runs_of(header[start + 6]) if r[1] - r[0] > 20])
        for start, end in runs_of(header.any(axis=1))
        if end - start > 10
    ]


# ---- plot_program ----------------------------------------------------------------------


async def test_plot_program_draws_a_branching_program_in_layers(simulated_lm, tmp_path):
    lm = language_model_for(simulated_lm)
    inputs = synalinks.Input(data_model=Query)
    x1 = await synalinks.Generator(data_model=Answer, language_model=lm)(inputs)
    x2 = await synalinks.ChainOfThought(data_model=Answer, language_model=lm)(inputs)
    merged = x1 & x2
    outputs = await synalinks.Generator(data_model=Critique, language_model=lm)(merged)
    program = synalinks.Program(inputs=inputs, outputs=outputs, name="critic_program")

    path = synalinks.utils.plot_program(
        program, to_folder=tmp_path, show_module_names=True, show_trainable=True
    )

    assert path == str(tmp_path / "critic_program.png")  # Synalinks' default name
    rgb = picture(path)
    # Top to bottom: input, the two branches side by side, the merge, the critic.
    assert boxes_per_layer(path) == [1, 2, 1, 1]
    assert has_colour(rgb, np.array([0x2E, 0x8B, 0x57]) / 255).any()  # "Trainable" bands

    wide = picture(
        synalinks.utils.plot_program(program, to_file="lr.png", to_folder=tmp_path, rankdir="LR")
    )
    # Four layers side by side: much wider for its height than four rows of boxes.
    assert wide.shape[1] / wide.shape[0] > 2 * rgb.shape[1] / rgb.shape[0]
    detailed = picture(
        synalinks.utils.plot_program(
            program, to_file="schemas.png", to_folder=tmp_path, show_schemas=True
        )
    )
    assert detailed.size > rgb.size  # the schemas make the boxes bigger

    with pytest.raises(ValueError, match="unrecognized keyword arguments"):
        synalinks.utils.plot_program(program, to_folder=tmp_path, show_shapes=True)
    with pytest.raises(ValueError, match="rankdir"):
        synalinks.utils.plot_program(program, to_folder=tmp_path, rankdir="diagonal")
    with pytest.raises(ValueError, match=r"\.docx"):
        synalinks.utils.plot_program(program, to_file="graph.docx", to_folder=tmp_path)


async def test_plot_program_expands_a_nested_program(simulated_lm, tmp_path):
    lm = language_model_for(simulated_lm)
    inner_inputs = synalinks.Input(data_model=Query)
    draft = await synalinks.Generator(data_model=Answer, language_model=lm)(inner_inputs)
    polished = await synalinks.Generator(data_model=Answer, language_model=lm)(draft)
    pipeline = synalinks.Program(inputs=inner_inputs, outputs=polished, name="pipeline")
    inputs = synalinks.Input(data_model=Query)
    direct = await synalinks.Generator(data_model=Answer, language_model=lm)(inputs)
    outputs = await pipeline(inputs) + direct
    program = synalinks.Program(inputs=inputs, outputs=outputs, name="nesting")

    # input; the pipeline and the direct generator; the concatenation
    assert boxes_per_layer(synalinks.utils.plot_program(program, to_folder=tmp_path)) == [1, 2, 1]
    # input; the pipeline's input and the direct generator; its two generators; concat
    expanded = synalinks.utils.plot_program(
        program, to_file="expanded.png", to_folder=tmp_path, expand_nested=True
    )
    assert boxes_per_layer(expanded) == [1, 2, 1, 1, 1]


# ---- plot_history and the metrics plots, from real runs --------------------------------


async def test_plot_history_of_a_short_fit(simulated_lm, tmp_path):
    program = await qa_program(simulated_lm, "plotted_fit")
    x, y = dataset(12)
    with tracking(False):
        history = await program.fit(
            x=x, y=y, epochs=2, batch_size=4, validation_split=0.25, verbose=0
        )
    assert set(history.history) >= {"reward", "val_reward"}

    path = synalinks.utils.plot_history(history, to_folder=tmp_path)

    assert path == str(tmp_path / "training_history.png")
    rgb = picture(path)
    # One line per metric, in the first two tab10 colours.
    assert has_colour(rgb, TAB10_BLUE).sum() > 50 and has_colour(rgb, TAB10_ORANGE).sum() > 50
    only_reward = picture(
        synalinks.utils.plot_history(
            history, to_file="reward.png", to_folder=tmp_path, metrics_filter=["reward"]
        )
    )
    assert has_colour(only_reward, TAB10_BLUE).sum() > 50
    assert not has_colour(only_reward, TAB10_ORANGE).any()
    with pytest.raises(ValueError, match="metrics_filter"):
        synalinks.utils.plot_history(history, to_folder=tmp_path, metrics_filter=["accuracy"])

    # A second run of the same script: the spread over runs, and the runs side by side.
    synalinks.set_seed(7)
    again = await qa_program(simulated_lm, "plotted_fit_again")
    with tracking(False):
        second = await again.fit(x=x, y=y, epochs=2, batch_size=4, validation_split=0.25, verbose=0)
    paths = [
        synalinks.utils.plot_history_with_mean_and_std([history, second], to_folder=tmp_path),
        synalinks.utils.plot_history_comparison(
            {"first": history, "second": second}, to_folder=tmp_path
        ),
        synalinks.utils.plot_history_comparison_with_mean_and_std(
            {"both": [history, second], "second": [second]}, to_folder=tmp_path
        ),
    ]
    assert [p.rsplit("/", 1)[1] for p in paths] == [
        "training_history_with_mean_and_std.png",
        "training_history_comparison.png",
        "training_history_comparison_with_mean_and_std.png",
    ]
    for path in paths:
        assert has_colour(picture(path), TAB10_BLUE).sum() > 50
    with pytest.raises(ValueError, match="history_list"):
        synalinks.utils.plot_history_with_mean_and_std([], to_folder=tmp_path)


async def test_mean_std_and_comparison_plots_of_evaluations(simulated_lm, tmp_path):
    program = await qa_program(simulated_lm, "plotted_evaluations")
    with tracking(False):
        runs = [await program.evaluate(*dataset(6, start), verbose=0) for start in (0, 6, 12)]
    assert all(set(run) == set(runs[0]) for run in runs)

    single = synalinks.utils.plot_metrics(runs[0], to_folder=tmp_path)
    spread = synalinks.utils.plot_metrics_with_mean_and_std(
        runs, to_folder=tmp_path, show_values=True
    )
    compared = synalinks.utils.plot_metrics_comparison_with_mean_and_std(
        {"first half": runs[:2], "last": runs[2:]}, to_folder=tmp_path
    )

    side_by_side = synalinks.utils.plot_metrics_comparison(
        {"first": runs[0], "second": runs[1]}, to_folder=tmp_path
    )

    assert side_by_side == str(tmp_path / "evaluation_metrics_comparison.png")
    assert single == str(tmp_path / "evaluation_metrics.png")
    assert spread == str(tmp_path / "evaluation_metrics_with_mean_and_std.png")
    assert compared == str(tmp_path / "evaluation_metrics_comparison_with_mean_and_std.png")
    for path in (single, spread, side_by_side):
        picture(path)
    bars = picture(compared)
    # One colour per setting.
    assert has_colour(bars, TAB10_BLUE).sum() > 50 and has_colour(bars, TAB10_ORANGE).sum() > 50
    with pytest.raises(ValueError, match="keys"):
        synalinks.utils.plot_metrics_with_mean_and_std(
            [runs[0], {"other": 1.0}], to_folder=tmp_path
        )


# ---- enable_logging / enable_observability ---------------------------------------------


PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


@pytest.fixture
def restore_logging(monkeypatch, capsys):
    """enable_logging changes the process's loggers and Prefect's logging variables: put
    them back."""
    # Prefect's console handler keeps the stream it finds when it configures its logging:
    # not this test's captured stderr, which is closed after it (later tests' run messages
    # would fail to print).
    with capsys.disabled():
        import prefect.logging.handlers
        import prefect.main  # configures Prefect's logging, as a tracked run does

    for name in (
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL",
        "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL",
        "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)  # restored at teardown
    logger = logging.getLogger("synaprefect")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    consoles = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, prefect.logging.handlers.PrefectConsoleHandler)
    ]
    levels = {h: h.level for h in consoles}
    levels.update({name: logging.getLogger(name).level for name in PREFECT_RUN_LOGGERS})
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:], logger.level, logger.propagate = saved
    for target, level in levels.items():
        (logging.getLogger(target) if isinstance(target, str) else target).setLevel(level)


async def test_enable_logging_prints_records_at_the_level_given(
    simulated_lm, tmp_path, capsys, restore_logging
):
    program = await qa_program(simulated_lm, "logged")
    query = Query(query=ROWS[0]["query"])

    synalinks.enable_logging(log_level="debug", log_to_file=tmp_path / "run.log")
    answer = await program(query)
    console = capsys.readouterr().err
    assert re.search(
        r"\| DEBUG +\| synaprefect\.modules - answerer \(Generator\) called "
        r"with \[\{\"query\": ",
        console,
    )
    assert f'answerer (Generator) returned {{"answer": "{answer.get("answer")}"' in console
    assert "answerer (Generator) called with" in (tmp_path / "run.log").read_text()

    synalinks.enable_logging(log_level="warning")
    await program(query)
    program.compile(reward=synalinks.rewards.ExactMatch(in_mask=["answer"]))  # no optimizer:
    with tracking(False):
        await program.fit(*dataset(2), epochs=1, verbose=0)  # worth a warning
    console = capsys.readouterr().err
    assert "called with" not in console and "DEBUG" not in console
    assert "| WARNING | synaprefect.trainers - fit() without an optimizer" in console
    # Prefect's run messages (states, run logs) follow the same level on the console.
    assert not any(logging.getLogger(n).isEnabledFor(logging.INFO) for n in PREFECT_RUN_LOGGERS)
    synalinks.enable_logging(log_level="info")
    assert all(logging.getLogger(n).isEnabledFor(logging.INFO) for n in PREFECT_RUN_LOGGERS)
    with pytest.raises(ValueError, match="log_level"):
        synalinks.enable_logging(log_level="verbose")


@pytest.fixture
def restore_tracking():
    """enable_observability sets process-wide switches: reset them afterwards."""
    yield
    runtime_module._tracking_default = None
    runtime_module.set_run_tags([])


async def test_enable_observability_tracks_runs_tagged_with_the_experiment(
    prefect_api, simulated_lm, restore_tracking
):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    program = await qa_program(simulated_lm, f"observed_{uuid.uuid4().hex[:8]}")
    experiment = f"experiment-{uuid.uuid4().hex[:8]}"
    runtime_module.set_tracking(False)
    assert not synalinks.is_observability_enabled()
    with pytest.raises(ValueError, match="Prefect API"):
        synalinks.enable_observability(tracking_uri="file:./mlruns")

    # The same server, named without /api (as an MLflow server URL would be).
    synalinks.enable_observability(
        tracking_uri=prefect_api.api_url.removesuffix("/api"), experiment_name=experiment
    )
    assert synalinks.is_observability_enabled()
    await program.evaluate(*dataset(3), verbose=0)

    async with prefect_api.client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[experiment]))
        )
    assert [run.name for run in runs] == [f"evaluate-{program.name}"]
    assert runs[0].state.is_completed()
    task_runs = await prefect_api.read_task_runs([runs[0].id], count=2)
    assert task_runs and all(experiment in run.tags for run in task_runs)


# ---- the plots artifact of a tracked fit -----------------------------------------------


async def test_a_tracked_fit_publishes_its_curves_and_graph(prefect_api, simulated_lm, monkeypatch):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    program = await qa_program(simulated_lm, f"pictured_{uuid.uuid4().hex[:8]}")
    await program.fit(
        *dataset(8), epochs=2, batch_size=4, validation_split=0.25, verbose=0, resume=False
    )

    key = synalinks.orchestration.plots_key(program.name)
    async with prefect_api.client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert len(found) == 1  # one per fit, not per epoch
    markdown = found[0].data
    images = re.findall(r"!\[([^\]]*)\]\(data:image/([a-z+]+);base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert [(alt, kind) for alt, kind, _ in images] == [
        ("curves per epoch", "svg+xml"),  # written directly: no matplotlib at a fit's end
        ("program graph", "png"),
    ]
    curves = ElementTree.fromstring(base64.b64decode(images[0][2]))
    lines = {
        line.get("stroke"): line.get("points").split()
        for line in curves.iter("{http://www.w3.org/2000/svg}polyline")
    }
    assert len(lines["#1f77b4"]) == 2  # the reward line (tab10 blue), one point per epoch
    graph = picture(io.BytesIO(base64.b64decode(images[1][2])))
    assert has_colour(graph, HEADER).sum() > 100  # module boxes
    assert "http" not in markdown  # nothing to fetch: the UI needs no network

    monkeypatch.setenv("SYNAPREFECT_FIT_PLOTS", "off")  # the switch for fits that must be lean
    quiet = await qa_program(simulated_lm, f"unpictured_{uuid.uuid4().hex[:8]}")
    await quiet.fit(
        *dataset(4), epochs=1, batch_size=4, validation_split=0.25, verbose=0, resume=False
    )
    async with prefect_api.client() as client:
        assert not await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[synalinks.orchestration.plots_key(quiet.name)])
            )
        )
        summaries = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[synalinks.orchestration.summary_key(quiet.name)])
            )
        )
    assert len(summaries) == 1  # the fit itself was tracked


async def test_a_graph_that_cannot_be_drawn_leaves_the_fit_and_its_curves_alone(
    prefect_api, simulated_lm, monkeypatch, caplog
):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    import synaprefect.trainers.reporting as reporting

    def broken_drawing(*args, **kwargs):
        def draw():
            raise RuntimeError("no font")  # what a broken matplotlib install raises

        return draw

    monkeypatch.setattr(reporting, "program_drawing", broken_drawing)
    program = await qa_program(simulated_lm, f"undrawn_{uuid.uuid4().hex[:8]}")
    with caplog.at_level(logging.WARNING, logger="synaprefect.trainers"):
        history = await program.fit(
            *dataset(4), epochs=1, batch_size=4, validation_split=0.25, verbose=0, resume=False
        )
    assert history.history["reward"]
    assert f"The plots of {program.name} leave out the graph: RuntimeError" in caplog.text
    async with prefect_api.client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[synalinks.orchestration.plots_key(program.name)])
            )
        )
    assert len(found) == 1
    assert "curves per epoch" in found[0].data and "program graph" not in found[0].data
