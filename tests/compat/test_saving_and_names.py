"""Synalinks scripts about saving, data models and settings, run with
``import synaprefect as synalinks`` against the simulated LM; and programs saved by
Synalinks 0.10 (hand-written fixtures in its file format) loaded and run."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import synaprefect as synalinks
from synaprefect.orchestration import tracking
from synaprefect.testing.skills import language_model_for, parse_prompt

FIXTURES = Path(__file__).parent / "fixtures"
SYNALINKS_PROGRAM = FIXTURES / "synalinks_0_10_qa.json"
SYNALINKS_VARIABLES = FIXTURES / "synalinks_0_10_qa.variables.json"


class Query(synalinks.DataModel):
    query: str = synalinks.Field(description="A question about a country")


class Answer(synalinks.DataModel):
    answer: str = synalinks.Field(description="The capital city")


@pytest.fixture(autouse=True)
def _provider_key(monkeypatch):
    """Saved files carry no API key: a loaded model takes the provider's variable."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-simulated")


def recording_capitals(server, seen: list):
    """The simulated LM answers the capital (uppercase) and keeps each prompt."""
    capitals = {
        "Peru": "LIMA",
        "France": "PARIS",
        "Japan": "TOKYO",
        "Chile": "SANTIAGO",
        "Kenya": "NAIROBI",
    }

    def respond(request):
        prompt = parse_prompt(request)
        seen.append(prompt)
        question = prompt.inputs.get("query", "")
        return {"answer": next((c for k, c in capitals.items() if k in question), "?")}

    server.set_responder(respond)


async def qa_program(language_model, name="capital_qa", generator="generator"):
    inputs = synalinks.Input(data_model=Query)
    outputs = await synalinks.Generator(
        data_model=Answer, language_model=language_model, name=generator
    )(inputs)
    return synalinks.Program(inputs=inputs, outputs=outputs, name=name)


# ---- saving names ------------------------------------------------------------------------


@synalinks.saving.register_synalinks_serializable(package="compat_tests")
class Capitalizer(synalinks.Module):
    """A custom module in the style of Synalinks' examples: it holds a language model
    and saves it with ``serialize_synalinks_object``."""

    def __init__(self, language_model=None, name=None, description=None, trainable=True):
        super().__init__(name=name, description=description, trainable=trainable)
        self.language_model = language_model
        self.generator = synalinks.Generator(
            data_model=Answer, language_model=language_model, name=f"{self.name}_generator"
        )

    async def call(self, inputs, training=False):
        return await self.generator(inputs, training=training)

    def get_config(self):
        return {
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
            "language_model": synalinks.saving.serialize_synalinks_object(self.language_model),
        }

    @classmethod
    def from_config(cls, config):
        language_model = synalinks.saving.deserialize_synalinks_object(config.pop("language_model"))
        return cls(language_model=language_model, **config)


async def test_custom_registered_module_saved_and_loaded(simulated_lm, tmp_path):
    seen = []
    recording_capitals(simulated_lm, seen)
    language_model = language_model_for(simulated_lm)
    inputs = synalinks.Input(data_model=Query)
    outputs = await Capitalizer(language_model=language_model, name="capitalizer")(inputs)
    program = synalinks.Program(inputs=inputs, outputs=outputs, name="custom")
    program.get_module("capitalizer").generator.state.update(
        {"instructions": "Uppercase capitals only."}
    )
    program.save(tmp_path / "custom.json")

    loaded = synalinks.Program.load(tmp_path / "custom.json")
    module = loaded.get_module("capitalizer")
    assert type(module) is Capitalizer
    assert module.language_model.get_config() == language_model.get_config()
    result = await loaded(Query(query="What is the capital of Peru?"))
    assert result.get_json() == {"answer": "LIMA"}
    assert seen[-1].instructions == "Uppercase capitals only."
    saved = json.loads((tmp_path / "custom.json").read_text())
    assert saved["config"]["modules"][1]["registered_name"] == "compat_tests>Capitalizer"
    assert "sk-" not in (tmp_path / "custom.json").read_text()  # no API key written


@synalinks.saving.register_synalinks_serializable(package="compat_tests")
class Reasoner(synalinks.Program):
    """A subclassed program with its own get_config / from_config (Synalinks' 1b)."""

    def __init__(self, language_model=None, name=None, description=None, trainable=True):
        super().__init__(name=name, description=description, trainable=trainable)
        self.language_model = language_model
        self.answer_generator = synalinks.Generator(
            data_model=Answer, language_model=language_model, name=f"{self.name}_answer"
        )

    async def call(self, inputs, training=False):
        return await self.answer_generator(inputs)

    def get_config(self):
        return {
            "name": self.name,
            "language_model": synalinks.saving.serialize_synalinks_object(self.language_model),
        }

    @classmethod
    def from_config(cls, config):
        language_model = synalinks.saving.deserialize_synalinks_object(config.pop("language_model"))
        return cls(language_model=language_model, **config)


async def test_subclassed_program_round_trips_through_files_and_json(simulated_lm, tmp_path):
    seen = []
    recording_capitals(simulated_lm, seen)
    program = Reasoner(language_model=language_model_for(simulated_lm), name="reasoner")
    program.answer_generator.state.update({"instructions": "Think of the map."})
    program.save(tmp_path / "reasoner.json")
    loaded = synalinks.Program.load(tmp_path / "reasoner.json")
    assert isinstance(loaded, Reasoner) and loaded.name == "reasoner"
    assert (await loaded(Query(query="Capital of Japan?"))).get_json() == {"answer": "TOKYO"}
    assert seen[-1].instructions == "Think of the map."
    # to_json: the architecture only, so the clone starts from fresh variables.
    clone = synalinks.programs.program_from_json(program.to_json())
    assert isinstance(clone, Reasoner)
    assert clone.answer_generator.state["instructions"] != "Think of the map."


async def test_to_json_and_program_from_json(simulated_lm):
    seen = []
    recording_capitals(simulated_lm, seen)
    program = await qa_program(language_model_for(simulated_lm))
    program.get_module("generator").state.update({"instructions": "Trained."})
    text = program.to_json()
    assert isinstance(text, str) and "variables" not in json.loads(text)
    clone = synalinks.programs.program_from_json(text)
    assert clone.get_config() == program.get_config()
    assert clone.get_module("generator").state["instructions"] != "Trained."
    assert (await clone(Query(query="Capital of France?"))).get_json() == {"answer": "PARIS"}
    # get_config / from_config of a module, as Synalinks scripts call them.
    generator = program.get_module("generator")
    copy = synalinks.Generator.from_config(generator.get_config())
    assert copy.get_config() == generator.get_config()


async def test_registered_reward_function_survives_save_and_load(simulated_lm, tmp_path):
    @synalinks.saving.register_synalinks_serializable(package="compat_tests")
    async def same_capital(y_true, y_pred):
        return float(y_true.get("answer").lower() == y_pred.get("answer").lower())

    recording_capitals(simulated_lm, [])
    program = await qa_program(language_model_for(simulated_lm))
    program.compile(
        reward=synalinks.rewards.RewardFunctionWrapper(fn=same_capital),
        optimizer=synalinks.optimizers.RandomFewShot(),
    )
    program.save(tmp_path / "rewarded.json")
    assert "compat_tests>same_capital" in (tmp_path / "rewarded.json").read_text()
    loaded = synalinks.Program.load(tmp_path / "rewarded.json")
    with tracking(False):
        scores = await loaded.evaluate(
            np.array([Query(query="Capital of Peru?")]),
            np.array([Answer(answer="lima")]),
            verbose=0,
        )
    assert scores["reward"] == 1.0


def test_serialize_and_deserialize_synalinks_object():
    language_model = synalinks.LanguageModel("openai/gpt-4o-mini", temperature=0.2)
    config = synalinks.saving.serialize_synalinks_object(
        {"models": [language_model], "limit": 3, "none": None}
    )
    assert config["limit"] == 3 and config["none"] is None
    json.dumps(config)  # plain JSON
    revived = synalinks.saving.deserialize_synalinks_object(config)
    assert isinstance(revived["models"][0], synalinks.LanguageModel)
    assert revived["models"][0].get_config() == language_model.get_config()
    assert synalinks.saving.get_registered_name(Capitalizer) == "compat_tests>Capitalizer"
    assert synalinks.saving.get_registered_object("compat_tests>Capitalizer") is Capitalizer
    assert synalinks.saving.get_custom_objects()["compat_tests>Capitalizer"] is Capitalizer


def test_loading_never_imports_or_reaches_arbitrary_attributes():
    sys.modules.pop("antigravity", None)
    with pytest.raises(ValueError, match="Unknown class 'open'.*register"):
        synalinks.saving.deserialize_synalinks_object(
            {"module": "antigravity", "class_name": "open", "config": {}}
        )
    assert "antigravity" not in sys.modules
    # Reachable from a synaprefect module, but not defined there.
    with pytest.raises(ValueError, match="Unknown class 'Path'"):
        synalinks.saving.deserialize_synalinks_object(
            {"module": "synaprefect.config", "class_name": "Path", "config": {}}
        )


def test_a_class_with_a_scope_loads_without_registering():
    class Local(synalinks.Module):
        pass

    entry = {"module": "my_project", "class_name": "Local", "config": {"name": "local"}}
    with pytest.raises(ValueError, match="Unknown class 'Local'"):
        synalinks.saving.deserialize_synalinks_object(entry)
    with synalinks.saving.CustomObjectScope({"Local": Local}):
        assert synalinks.saving.deserialize_synalinks_object(entry).name == "local"
    assert (
        type(synalinks.saving.deserialize_synalinks_object(entry, custom_objects={"Local": Local}))
        is Local
    )


# ---- programs saved by Synalinks 0.10 ------------------------------------------------------


def synalinks_file_for(server, tmp_path, edit=None) -> Path:
    """The fixture, its model pointed at ``server`` (the key it carries stays wrong)."""
    document = json.loads(SYNALINKS_PROGRAM.read_text())
    model = document["config"]["modules"][1]["config"]["language_model"]["config"]
    model.update(model=server.model, api_base=server.base_url)
    if edit:
        edit(document)
    path = tmp_path / "synalinks_program.json"
    path.write_text(json.dumps(document))
    return path


async def test_a_program_saved_by_synalinks_loads_and_runs(
    simulated_lm_factory, tmp_path, monkeypatch
):
    # The server wants its own key: the file's key would be refused (401), so the call
    # succeeding shows the file's key was dropped and the environment's used.
    server = simulated_lm_factory(api_key="sk-the-real-key")
    seen = []
    recording_capitals(server, seen)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-real-key")
    program = synalinks.Program.load(synalinks_file_for(server, tmp_path))

    assert program.name == "capital_qa" and not program.compiled
    generator = program.get_module("generator")
    assert "api_key" not in json.dumps(generator.get_config())
    result = await program(Query(query="What is the capital of Kenya?"))
    assert result.get_json() == {"answer": "NAIROBI"}
    # The trained instructions and few-shot examples from the file, in the file's template.
    assert seen[-1].instructions == "Answer with the capital city in uppercase letters."
    assert [e[1] for e in seen[-1].examples] == [{"answer": "LIMA"}, {"answer": "SANTIAGO"}]
    # Saved again by synaprefect: same variables, no key.
    program.save(tmp_path / "moved.json")
    assert "sk-written-by-synalinks" not in (tmp_path / "moved.json").read_text()
    again = synalinks.Program.load(tmp_path / "moved.json")
    assert again.get_module("generator").state.value() == generator.state.value()


async def test_a_sequential_program_saved_by_synalinks_loads(simulated_lm, tmp_path):
    seen = []
    recording_capitals(simulated_lm, seen)

    def as_sequential(document):
        modules = document["config"]["modules"]
        for module in modules:
            module.pop("inbound_nodes")
        document.update(
            module="synalinks",
            class_name="Sequential",
            registered_name=None,
            config={
                "name": "capital_seq",
                "description": "Capitals.",
                "trainable": True,
                "modules": modules,
                "build_input_schema": modules[0]["config"]["schema"],
            },
        )

    program = synalinks.Program.load(synalinks_file_for(simulated_lm, tmp_path, as_sequential))
    assert isinstance(program, synalinks.Sequential) and program.name == "capital_seq"
    assert (await program(Query(query="Capital of Peru?"))).get_json() == {"answer": "LIMA"}
    assert seen[-1].instructions == "Answer with the capital city in uppercase letters."


async def test_synalinks_variables_file_loads_into_the_same_program(simulated_lm):
    program = await qa_program(language_model_for(simulated_lm))
    program.compile(
        reward=synalinks.ExactMatch(in_mask=["answer"]),
        optimizer=synalinks.optimizers.RandomFewShot(),
    )
    program.load_variables(SYNALINKS_VARIABLES)
    state = program.get_module("generator").state
    assert state["instructions"] == "Name the capital city, in uppercase."
    assert state["examples"][0]["outputs"] == {"answer": "NAIROBI"}
    assert program.optimizer.iterations == 0  # Synalinks' optimizer state is not ours


async def test_a_registered_custom_module_in_a_synalinks_file(simulated_lm, tmp_path):
    seen = []
    recording_capitals(simulated_lm, seen)
    document = json.loads(synalinks_file_for(simulated_lm, tmp_path).read_text())
    generator = document["config"]["modules"][1]
    generator.update(
        module="__main__",
        class_name="Capitalizer",
        registered_name="compat_tests>Capitalizer",
        config={
            key: generator["config"][key]
            for key in ("name", "description", "trainable", "language_model")
        },
    )
    del document["variables"]  # as Synalinks' to_json() writes it
    program = synalinks.programs.program_from_json(json.dumps(document))
    module = program.get_module("generator")
    assert type(module) is Capitalizer
    assert module.language_model.model == simulated_lm.model
    assert "api_key" not in json.dumps(module.get_config())
    assert (await program(Query(query="Capital of Chile?"))).get_json() == {"answer": "SANTIAGO"}


def test_synalinks_generator_options_map_onto_subclasses(simulated_lm, tmp_path):
    def as_chain_of_thought(document):
        module = document["config"]["modules"][1]
        module["class_name"] = "ChainOfThought"
        module["config"]["reasoning_effort"] = "low"

    program = synalinks.Program.load(
        synalinks_file_for(simulated_lm, tmp_path, as_chain_of_thought)
    )
    module = program.get_module("generator")
    assert type(module) is synalinks.ChainOfThought
    assert list(module.output_schema["properties"]) == ["thinking", "answer"]
    assert module.reasoning_effort == "low" and module.sampling == {"temperature": 0.0}


@pytest.mark.parametrize(
    "edit,message",
    [
        (
            lambda d: d["config"]["modules"][1].update(class_name="DeepAgent"),
            r"capital_qa > generator uses the Synalinks class 'DeepAgent'",
        ),
        (
            lambda d: d["config"]["modules"][1].update(
                module="my_project.modules", class_name="Shouter", registered_name="Custom>Shouter"
            ),
            r"Unknown class 'Shouter'.*register",
        ),
        (
            lambda d: d["config"]["modules"][1]["config"].update(
                tool_schemas=[{"type": "function"}]
            ),
            r"cannot offer `tools`: use two generators",
        ),
        (
            lambda d: d["variables"]["trainable_variables"]["generator"].update(
                state_other={"instructions": "x"}
            ),
            r"unexpected \['generator/state_other'\]",
        ),
    ],
)
def test_what_cannot_be_loaded_is_named(simulated_lm, tmp_path, edit, message):
    with pytest.raises(ValueError, match=message):
        synalinks.Program.load(synalinks_file_for(simulated_lm, tmp_path, edit))


# ---- train, save the variables, load them into an inference program -----------------------


async def test_variables_of_a_trained_program_load_into_an_uncompiled_copy(simulated_lm, tmp_path):
    seen = []
    recording_capitals(simulated_lm, seen)
    trained = await qa_program(language_model_for(simulated_lm))
    trained.compile(
        reward=synalinks.ExactMatch(in_mask=["answer"]),
        optimizer=synalinks.optimizers.RandomFewShot(),
        metrics=[synalinks.metrics.F1Score(in_mask=["answer"])],
    )
    questions = [f"What is the capital of {c}?" for c in ("Peru", "France", "Japan", "Chile")]
    x = np.array([Query(query=q) for q in questions])
    y = np.array([Answer(answer=a) for a in ("LIMA", "PARIS", "TOKYO", "SANTIAGO")])
    with tracking(False):
        await trained.fit(x, y, epochs=1, batch_size=2, verbose=0)
    path = tmp_path / "trained.variables.json"
    trained.save_variables(path)
    assert {"optimizer_variables", "metrics_variables"} <= set(json.loads(path.read_text()))

    inference = await qa_program(language_model_for(simulated_lm))  # never compiled
    inference.load_variables(path)
    trained_state = trained.get_module("generator").state.value()
    assert inference.get_module("generator").state.value() == trained_state
    assert trained_state["examples"], "fit chose few-shot examples"
    await inference(Query(query="What is the capital of Kenya?"))
    assert [e[1]["answer"] for e in seen[-1].examples] == [
        e["outputs"]["answer"] for e in trained_state["examples"]
    ]

    other = await qa_program(language_model_for(simulated_lm), generator="renamed")
    with pytest.raises(ValueError, match=r"unexpected \['generator/state_generator'\]"):
        other.load_variables(path)


# ---- data models, prompt template, settings, top-level names ------------------------------


class Verdict(synalinks.DataModel):
    correctness: synalinks.Score = synalinks.Field(description="How correct the answer is")
    clarity: synalinks.Rating = synalinks.Field(description="How clear, 1 to 5")


async def test_score_scales_constrain_what_the_model_answers(simulated_lm):
    requests = []

    def judge(request):
        requests.append(request)
        return {"correctness": 0.9, "clarity": 4}

    simulated_lm.set_responder(judge)
    judge_module = synalinks.Generator(
        data_model=Verdict, language_model=language_model_for(simulated_lm)
    )
    verdict = await judge_module(Query(query="Is Lima the capital of Peru?"))
    assert verdict.get_json() == {"correctness": 0.9, "clarity": 4}
    schema = json.dumps(requests[0].schema)
    assert "[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]" in schema
    assert "[1, 2, 3, 4, 5]" in schema
    assert synalinks.Score(verdict.get("correctness")) is synalinks.Score.GOOD
    assert synalinks.Score.GOOD + 0.05 == pytest.approx(0.95)
    assert synalinks.FineScore.HIGH == 0.75 and synalinks.FineScore.GOOD == synalinks.Score.GOOD
    assert synalinks.Rating.FOUR / 5 == 0.8 and synalinks.Rating10.SEVEN == 7
    assert [m.value for m in synalinks.Rating20] == list(range(1, 21))
    assert synalinks.Rating20.FIFTEEN.name == "FIFTEEN"
    assert synalinks.data_models.normalize_score(synalinks.Rating.THREE, "Rating") == 0.5
    with pytest.raises(ValueError, match="Unknown score type 'Stars'"):
        synalinks.data_models.get_score_type("Stars")


def test_generic_data_models_and_trainable_checks():
    generator = synalinks.Generator(data_model=Answer, language_model="openai/gpt-4o-mini")
    assert synalinks.is_trainable(generator.state) and synalinks.is_instructions(generator.state)
    assert not synalinks.is_trainable(Answer) and not synalinks.is_prediction(generator.state)
    pair = synalinks.GenericIO(inputs={"query": "q"}, outputs={"answer": "a"})
    assert pair.get_json() == {"inputs": {"query": "q"}, "outputs": {"answer": "a"}}
    assert synalinks.is_prediction(synalinks.Prediction) and not synalinks.is_prediction(pair)
    assert synalinks.GenericResult(result=[1, "two"]).get_json() == {"result": [1, "two"]}
    with pytest.raises(ValueError, match="inputs"):
        synalinks.GenericInputs(inputs="not a dict")


def test_chat_messages():
    history = synalinks.ChatMessages(
        messages=[
            {"role": "user", "content": "What is the capital of Peru?"},
            synalinks.ChatMessage(
                role=synalinks.ChatRole.ASSISTANT,
                content="Lima.",
                tool_calls=[
                    {"id": "c1", "function": {"name": "lookup", "arguments": {"country": "Peru"}}}
                ],
            ),
        ]
    )
    assert history.messages[0].role is synalinks.ChatRole.USER
    assert history.messages[1].tool_calls[0].type == "function"
    assert history.get_json()["messages"][1]["role"] == "assistant"
    assert synalinks.is_chat_messages(history) and not synalinks.is_chat_messages(Query)
    assert synalinks.is_chat_message(history.messages[0])
    assert synalinks.ToolCalling is synalinks.ToolCall
    with pytest.raises(ValueError, match="role"):
        synalinks.ChatMessage(role="narrator", content="x")


async def test_default_prompt_template_is_the_generators(simulated_lm):
    seen = []
    recording_capitals(simulated_lm, seen)
    language_model = language_model_for(simulated_lm)
    assert (
        synalinks.Generator(data_model=Answer, language_model=language_model).prompt_template
        == synalinks.default_prompt_template()
    )
    template = synalinks.default_prompt_template() + "\nAlways answer in capitals."
    generator = synalinks.Generator(
        data_model=Answer,
        language_model=language_model,
        prompt_template=template,
        instructions="Be brief.",
    )
    messages = generator.format_messages(Query(query="q").to_json_data_model())
    assert messages[0]["content"].endswith("Always answer in capitals.")
    assert (await generator(Query(query="Capital of Chile?"))).get_json() == {"answer": "SANTIAGO"}
    assert seen[-1].instructions == "Be brief."


def test_config_functions():
    synalinks.set_seed(value=7)
    assert synalinks.get_seed() == 7 and synalinks.config.get_seed() == 7
    assert synalinks.api_base() == "http://localhost:8000/api"
    synalinks.set_api_base("http://studio:9000/api")
    assert synalinks.config.api_base() == "http://studio:9000/api"
    assert Path(synalinks.synalinks_home()) == synalinks.config.synaprefect_home()
    assert synalinks.config.backend() == "pydantic"
    synalinks.config.set_floatx("float64")
    assert synalinks.config.floatx() == "float64"
    synalinks.config.set_epsilon(1e-5)
    assert synalinks.config.epsilon() == 1e-5
    with pytest.raises(ValueError, match="floatx"):
        synalinks.config.set_floatx("float8")
    with pytest.raises(ValueError, match="backend"):
        synalinks.config.set_backend("jax")
    with pytest.raises(TypeError, match="value"):
        synalinks.set_seed("7")


def test_top_level_names_are_the_submodules_classes():
    assert synalinks.ExactMatch is synalinks.rewards.ExactMatch
    assert synalinks.Reward is synalinks.rewards.Reward
    assert synalinks.LMAsJudge is synalinks.rewards.LMAsJudge
    assert synalinks.ProgramAsJudge is synalinks.rewards.ProgramAsJudge
    assert synalinks.CosineSimilarity is synalinks.rewards.CosineSimilarity
    assert synalinks.BatchReward is synalinks.rewards.BatchReward
    assert synalinks.Metric is synalinks.metrics.Metric
    assert synalinks.OMEGA is synalinks.optimizers.OMEGA
    assert synalinks.Initializer is synalinks.initializers.Initializer
    assert (
        synalinks.register_synalinks_serializable
        is synalinks.saving.register_synalinks_serializable
    )
    assert set(synalinks.__all__) <= set(dir(synalinks))
