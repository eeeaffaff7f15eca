"""Synalinks scripts (``import synaprefect as synalinks``) whose behaviour must match:
custom async optimizers, ``await program.build``, logical circuits over None, named
inputs, the metrics API, the Synalinks keyword arguments and defaults."""

import csv

import litellm
import numpy as np
import pytest

import synaprefect as synalinks
from synaprefect.orchestration import tracking
from synaprefect.testing.skills import (
    embedding_model_for,
    language_model_for,
    style_student,
)


class Query(synalinks.DataModel):
    query: str = synalinks.Field(description="The user query")


class Context(synalinks.DataModel):
    context: str = synalinks.Field(description="Facts that may help")


class Answer(synalinks.DataModel):
    answer: str = synalinks.Field(description="The correct answer")


class Pair(synalinks.DataModel):
    title: str
    body: str


CAPITALS = {
    "France": "Paris",
    "Spain": "Madrid",
    "Italy": "Rome",
    "Japan": "Tokyo",
    "Peru": "Lima",
    "Egypt": "Cairo",
    "Kenya": "Nairobi",
    "Chile": "Santiago",
}
KNOWLEDGE = {f"Capital of {country}?": city for country, city in CAPITALS.items()}


def capitals():
    x = np.array([Query(query=q) for q in KNOWLEDGE], dtype=object)
    y = np.array([Answer(answer=a.upper()) for a in KNOWLEDGE.values()], dtype=object)
    return x, y


@pytest.fixture(autouse=True)
def _no_tracking():
    with tracking(False):
        yield


@pytest.fixture
def lm(simulated_lm):
    simulated_lm.set_responder(style_student(KNOWLEDGE, natural_rate=0.0))
    return language_model_for(simulated_lm)


async def answer_program(lm, name="qa"):
    inputs = synalinks.Input(data_model=Query)
    outputs = await synalinks.Generator(data_model=Answer, language_model=lm, name="answerer")(
        inputs
    )
    return synalinks.Program(inputs=inputs, outputs=outputs, name=name)


# ---- a custom optimizer written for Synalinks --------------------------------------------


class BestExamples(synalinks.optimizers.Optimizer):
    """Few-shot examples: the best-rewarded predictions seen so far."""

    def __init__(self, k=2, **kwargs):
        super().__init__(**kwargs)
        self.k = k
        self.calls = []

    async def build(self, trainable_variables):
        self.calls.append("build")
        self.built = True

    async def on_train_begin(self, trainable_variables):
        self.calls.append("on_train_begin")
        await super().on_train_begin(trainable_variables)

    async def on_epoch_end(self, epoch, trainable_variables):
        await super().on_epoch_end(epoch, trainable_variables)
        self.calls.append(f"on_epoch_end {epoch}")

    async def propose_new_candidates(
        self, step, trainable_variables, x=None, y=None, y_pred=None, training=False
    ):
        name = await self.select_variable_name_to_update(trainable_variables)
        for variable in trainable_variables:
            if variable.name == name:
                merged = await self.select_candidate_to_merge(step, variable)
                self.calls.append(f"propose {step} {len(x)} from {'best' if merged else 'nothing'}")
                predictions = variable.get("predictions")
                best = sorted(predictions, key=lambda p: p["reward"] or 0.0, reverse=True)
                await self.assign_candidate(variable, examples=best[: self.k])


async def test_custom_async_optimizer_trains(simulated_lm):
    # Without a hint, the student writes some answers in the expected uppercase.
    simulated_lm.set_responder(style_student(KNOWLEDGE, natural_rate=0.5))
    program = await answer_program(language_model_for(simulated_lm))
    optimizer = BestExamples(k=2)
    program.compile(reward=synalinks.rewards.ExactMatch(in_mask=["answer"]), optimizer=optimizer)
    x, y = capitals()
    before = await program.evaluate(x, y, verbose=0)
    history = await program.fit(x=x, y=y, epochs=2, batch_size=4, validation_split=0.0, verbose=0)
    after = await program.evaluate(x, y, verbose=0)

    # Its async hooks ran, in order; the second epoch merges from the first one's best.
    assert optimizer.calls == [
        "build",
        "on_train_begin",
        "propose 0 4 from nothing",
        "propose 1 4 from nothing",
        "on_epoch_end 0",
        "propose 0 4 from best",
        "propose 1 4 from best",
        "on_epoch_end 1",
    ]
    assert optimizer.iterations == 4 and optimizer.epochs == 2
    state = program.get_module("answerer").state
    # The uppercase answers scored 1.0: they became the examples, so the student now
    # answers in uppercase.
    assert [e["reward"] for e in state["examples"]] == [1.0, 1.0]
    assert before["reward"] < 1.0 == after["reward"]
    assert len(history.history["reward"]) == 2
    # The bookkeeping stays the optimizer's, out of the saved program variable.
    assert not state["predictions"] and not state["candidates"]


# ---- program.build, named inputs, None in logical circuits -------------------------------


class Shout(synalinks.Program):
    def __init__(self, language_model=None, name=None):
        super().__init__(name=name)
        self.answerer = synalinks.Generator(data_model=Answer, language_model=language_model)

    async def call(self, inputs, training=False):
        return await self.answerer(inputs)


async def test_await_build_of_a_subclassed_program(lm):
    program = Shout(language_model=lm)
    await program.build(Query)
    assert program.built
    result = await program(Query(query="Capital of Peru?"))
    assert result["answer"] == "lima"


async def test_named_dict_inputs(lm, simulated_lm):
    query = synalinks.Input(data_model=Query, name="query")
    context = synalinks.Input(data_model=Context, name="context")
    outputs = await synalinks.Generator(data_model=Answer, language_model=lm)(query & context)
    program = synalinks.Program(inputs={"query": query, "context": context}, outputs=outputs)

    result = await program(
        {"query": Query(query="Capital of Chile?"), "context": Context(context="South America")}
    )
    assert result["answer"] == "santiago"
    # No context: the And gate closes, the generator is skipped (no LM request).
    requests = simulated_lm.stats().requests
    assert await program({"query": Query(query="Capital of Chile?"), "context": None}) is None
    assert simulated_lm.stats().requests == requests
    with pytest.raises(ValueError, match=r"Missing program inputs \['context'\]"):
        await program({"query": Query(query="Capital of Chile?")})


async def test_none_program_input_flows_through_logic_gates():
    a = synalinks.Input(data_model=Answer)
    b = synalinks.Input(data_model=Context)
    program = synalinks.Program(
        inputs=[a, b], outputs=[a | b, a & b, a ^ b, await synalinks.Identity()([a, b])]
    )
    either, both, exactly_one, copies = await program([Answer(answer="x"), None])
    assert either.get_json() == {"answer": "x"}
    assert both is None
    assert exactly_one.get_json() == {"answer": "x"}
    assert copies[0].get_json() == {"answer": "x"} and copies[1] is None
    assert await program([None, None]) == [None, None, None, [None, None]]


async def test_masks_and_identity_on_lists_of_data_models():
    inputs = synalinks.Input(data_model=Pair)
    outputs = await synalinks.InMask(mask=["title"])([inputs, inputs])
    dropped = await synalinks.OutMask(mask=["title"])([inputs])
    program = synalinks.Program(inputs=inputs, outputs=[outputs, dropped])
    (kept_a, kept_b), (body,) = await program(Pair(title="T", body="B"))
    assert kept_a.get_json() == kept_b.get_json() == {"title": "T"}
    assert body.get_json() == {"body": "B"}
    same = await synalinks.Identity()([Pair(title="1", body="2"), None])
    assert same[0].get_json() == {"title": "1", "body": "2"} and same[1] is None
    masked = await synalinks.OutMask(mask=["title"])((Pair(title="1", body="2"), None))
    assert masked[0].get_json() == {"body": "2"} and masked[1] is None


# ---- the metrics API and Synalinks' defaults ---------------------------------------------


async def test_metrics_api_after_evaluate(lm):
    program = await answer_program(lm)
    assert program.reward is None and program.metrics == []
    reward = synalinks.rewards.ExactMatch(in_mask=["answer"])
    program.compile(
        reward=reward, metrics=[synalinks.metrics.F1Score(), synalinks.metrics.Precision()]
    )
    assert program.reward is reward
    assert program.metrics_names == ["reward", "f1_score", "precision"]
    x, y = capitals()
    y = np.array([Answer(answer=a) for a in KNOWLEDGE.values()], dtype=object)
    scores = await program.evaluate(x, y, verbose=0)
    # Lower-case answers: wrong for ExactMatch, right token for token for F1.
    assert scores == {"reward": 0.0, "f1_score": 1.0, "precision": 1.0}
    assert program.get_metrics_result() == scores
    program.reset_metrics()
    assert program.get_metrics_result() == {"reward": 0.0, "f1_score": 0.0, "precision": 0.0}


async def test_f_scores_default_to_one_score_per_field():
    f1 = synalinks.metrics.F1Score()
    assert f1.average is None
    await f1.update_state(
        Pair(title="The Quick fox", body="a b c d"), Pair(title="quick FOX jumps", body="a b x")
    )
    assert f1.result() == pytest.approx({"title": 2 / 3, "body": 4 / 7})
    recall = synalinks.metrics.Recall()
    await recall.update_state(Answer(answer="the cat sat"), Answer(answer="the cat"))
    assert recall.result() == pytest.approx(2 / 3)


async def test_chain_of_thought_asks_for_low_reasoning_effort(simulated_lm):
    seen = []

    def respond(request):
        seen.append(request.body.get("reasoning_effort"))
        return {"thinking": "t", "answer": "a"}

    simulated_lm.set_responder(respond)
    lm = language_model_for(simulated_lm)
    assert synalinks.ChainOfThought(data_model=Answer, language_model=lm).reasoning_effort == "low"
    await synalinks.ChainOfThought(data_model=Answer, language_model=lm)(Query(query="q"))
    assert seen == ["low"]


async def test_ops_take_a_description(lm):
    a = synalinks.Input(data_model=Query)
    b = synalinks.Input(data_model=Context)
    both = await synalinks.ops.concat(a, b, name="both", description="query and context")
    kept = await synalinks.ops.in_mask(
        both, mask=["query"], name="kept", description="the query only"
    )
    program = synalinks.Program(inputs=[a, b], outputs=kept)
    module = program.get_module("kept")
    assert module.description == "the query only"
    assert program.get_module("both").description == "query and context"
    result = await program([Query(query="q"), Context(context="c")])
    assert result.get_json() == {"query": "q"}


async def test_csv_logger_takes_filepath(lm, tmp_path):
    program = await answer_program(lm)
    program.compile(
        reward=synalinks.rewards.ExactMatch(in_mask=["answer"]),
        optimizer=synalinks.optimizers.RandomFewShot(),
    )
    x, y = capitals()
    path = tmp_path / "log.csv"
    await program.fit(
        x,
        y,
        epochs=2,
        batch_size=8,
        verbose=0,
        callbacks=[synalinks.callbacks.CSVLogger(filepath=str(path))],
    )
    rows = list(csv.DictReader(path.open()))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    with pytest.raises(ValueError, match="exactly one"):
        synalinks.callbacks.CSVLogger()


def test_lambda_needs_a_data_model():
    with pytest.raises(ValueError, match="`data_model=`.*or `schema=`"):
        synalinks.Lambda(lambda x: {"answer": "a"})


async def test_cosine_similarity_is_the_reward_function(simulated_lm):
    embedder = embedding_model_for(simulated_lm)
    same = await synalinks.rewards.cosine_similarity(
        Answer(answer="Paris"), Answer(answer="Paris"), embedding_model=embedder
    )
    assert same == pytest.approx(1.0)
    reward = synalinks.rewards.CosineSimilarity(embedding_model=embedder)
    assert await reward(Answer(answer="Paris"), Answer(answer="Paris")) == pytest.approx(same)
    with pytest.raises(ValueError, match="needs an embedding model"):
        await synalinks.rewards.cosine_similarity(Answer(answer="a"), Answer(answer="a"))


def test_ollama_embeddings_keep_the_ollama_route():
    embedder = synalinks.EmbeddingModel("ollama/nomic-embed-text")
    chat = synalinks.LanguageModel("ollama/mistral")
    assert embedder.model == "ollama/nomic-embed-text"
    assert chat.model == "ollama_chat/mistral"
    # litellm embeds with Ollama only on the `ollama` route.
    assert litellm.get_llm_provider(embedder.model)[1] == "ollama"
    assert (
        synalinks.EmbeddingModel("ollama_chat/nomic-embed-text").model == "ollama/nomic-embed-text"
    )
