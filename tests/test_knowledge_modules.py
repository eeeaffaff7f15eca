"""EmbedKnowledge, UpdateKnowledge and RetrieveKnowledge against the simulated LM, in
programs run as Prefect flows: retrievals are module tasks, retried writes leave no
duplicate."""

import hashlib
import json
import uuid
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

import synaprefect as sp
from synaprefect.orchestration import tracking
from synaprefect.testing import FaultPlan
from synaprefect.testing.skills import embedding_model_for, language_model_for, parse_prompt

CORPUS = json.loads(
    (Path(sp.__file__).parent / "testing" / "data" / "knowledge_corpus.json").read_text()
)


class Document(sp.DataModel):
    id: str
    title: str
    content: str
    source: str


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


class Noted(sp.DataModel):
    note: str


class Topic(sp.Entity):
    label: Literal["Topic"]
    name: str


class Uses(sp.Relation):
    subj: Topic
    label: Literal["Uses"]
    obj: Topic


class TopicGraph(sp.KnowledgeGraph):
    entities: list[Topic]
    relations: list[Uses]


class City(sp.Entity):
    label: Literal["City"]
    name: str


class Country(sp.Entity):
    label: Literal["Country"]
    name: str


class IsIn(sp.Relation):
    subj: City
    label: Literal["IsIn"]
    obj: Country


class Places(sp.Relations):
    relations: list[IsIn]


def retriever_and_reader(request) -> dict:
    """Searches for the question's words; answers with the first retrieved title."""
    parts = parse_prompt(request)
    properties = (request.schema or {}).get("properties", {})
    if "search" in properties:
        return {"tables": ["Document"], "search": [parts.inputs["query"]]}
    results = parts.inputs.get("result") or []
    if "answer" in properties:
        return {"answer": results[0]["title"] if results else "unknown"}
    return {"note": "stored"}


@pytest.fixture(autouse=True)
def _fast_task_retries(monkeypatch):
    monkeypatch.setenv("SYNAPREFECT_TASK_RETRY_DELAY", "0")


async def test_embed_knowledge_attaches_vectors_of_the_masked_text(simulated_lm):
    embedder = embedding_model_for(simulated_lm)
    doc = Document(**CORPUS["documents"][5])
    inputs = sp.Input(data_model=Document)
    outputs = await sp.EmbedKnowledge(embedding_model=embedder, in_mask=["content"])(inputs)
    assert outputs.get_schema()["properties"]["embedding"]["type"] == "array"
    program = sp.Program(inputs=inputs, outputs=outputs)
    embedded = await program(doc)
    assert embedded["id"] == doc.id
    assert embedded["embedding"] == (await embedder.embed([doc.content]))[0]

    bread, flour = Topic(label="Topic", name="bread"), Topic(label="Topic", name="flour")
    graph = TopicGraph(entities=[bread], relations=[Uses(subj=bread, label="Uses", obj=flour)])
    vectors = await sp.EmbedKnowledge(embedding_model=embedder, out_mask=["label"])(graph)
    value = vectors.get_json()
    assert "embedding" not in value
    assert value["entities"][0]["embedding"] == (await embedder.embed(["bread"]))[0]
    assert value["relations"][0]["obj"]["embedding"] == (await embedder.embed(["flour"]))[0]


async def test_a_retried_update_knowledge_task_leaves_no_duplicate(
    prefect_api, simulated_lm, tmp_path
):
    # The batch task writes the documents, then its LM call fails: Prefect retries the
    # whole batch (task_granularity="batch"), which writes them again.
    simulated_lm.set_responder(retriever_and_reader)
    kb = sp.KnowledgeBase(uri=f"sqlite://{tmp_path / 'kb.db'}", data_models=[Document])
    inputs = sp.Input(data_model=Document)
    stored = await sp.UpdateKnowledge(knowledge_base=kb, name="store")(inputs)
    noted = await sp.Generator(
        data_model=Noted,
        name="noter",
        language_model=language_model_for(simulated_lm, retry=1, max_concurrency=1),
    )(stored)
    program = sp.Program(inputs=inputs, outputs=noted, name=f"ingest_{uuid.uuid4().hex[:6]}")
    program.compile(task_granularity="batch")
    simulated_lm.set_faults(FaultPlan.at({1: "server_error"}))
    batch = np.array([Document(**d) for d in CORPUS["documents"][:3]], dtype=object)
    outputs = await program.predict(batch, batch_size=3, verbose=0, resume=False)
    assert simulated_lm.stats().requests == 3 + 1  # the failed call was retried by a task
    assert [o["note"] for o in outputs] == ["stored"] * 3
    assert await kb.count(table_name="Document") == 3
    simulated_lm.set_faults(None)
    await program.predict(batch, batch_size=3, verbose=0, resume=False)  # the same batch
    assert await kb.count(table_name="Document") == 3
    await kb.close()


async def test_update_knowledge_writes_a_graph_once(tmp_path):
    kb = sp.KnowledgeBase(uri=f"sqlite://{tmp_path / 'kb.db'}")
    paris, france = City(label="City", name="Paris"), Country(label="Country", name="France")
    relations = Places(relations=[IsIn(subj=paris, label="IsIn", obj=france)])
    update = sp.UpdateKnowledge(knowledge_base=kb)
    for _ in range(2):
        assert (await update(relations)).get_json() == relations.get_json()
    neighbours = await kb.neighborhood("France", label="Country")
    assert [(r["subj"]["name"], r["obj"]["name"]) for r in neighbours.get_json()["relations"]] == [
        ("Paris", "France")
    ]
    assert await kb.count(table_name="City") == 1
    await kb.close()


async def test_a_rag_program_answers_from_retrieved_rows_with_retrievals_as_tasks(
    prefect_api, simulated_lm, tmp_path
):
    simulated_lm.set_responder(retriever_and_reader)
    lm = language_model_for(simulated_lm)
    kb = sp.KnowledgeBase(
        uri=f"sqlite://{tmp_path / 'kb.db'}",
        data_models=[Document],
        embedding_model=embedding_model_for(simulated_lm),
    )
    await kb.update([Document(**d) for d in CORPUS["documents"]])
    inputs = sp.Input(data_model=Query)
    retrieved = await sp.RetrieveKnowledge(
        knowledge_base=kb, language_model=lm, search_type="fulltext", k=2, name="retriever"
    )(inputs)
    assert list(retrieved.get_schema()["properties"]) == ["query", "tables", "search", "result"]
    answer = await sp.Generator(data_model=Answer, language_model=lm, name="reader")(retrieved)
    name = f"rag_{uuid.uuid4().hex[:6]}"
    program = sp.Program(inputs=inputs, outputs=answer, name=name)
    assert {v.path for v in program.trainable_variables} == {
        "search_query_generator_retriever/state_search_query_generator_retriever",
        "reader/state_reader",
    }
    x = np.array(
        [
            Query(query="Why do ocean tides move?"),
            Query(query="How does espresso get its pressure?"),
        ],
        dtype=object,
    )
    outputs = await program.predict(x, batch_size=2, verbose=0, resume=False)
    assert [o["answer"] for o in outputs] == ["Tides", "Espresso"]
    async with prefect_api.client() as client:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"predict-{name}"]))
        )
    task_runs = await prefect_api.read_task_runs([r.id for r in runs], count=3)
    names = [run.name for run in task_runs]
    assert sum(n.endswith("retriever") for n in names) == 1, names
    assert sum(n.endswith("reader") for n in names) == 1, names
    await kb.close()


def test_retrieve_knowledge_names_what_was_expected(tmp_path):
    kb = sp.KnowledgeBase(uri="sqlite://:memory:", data_models=[Document])
    with pytest.raises(ValueError, match="`search_type` must be one of"):
        sp.RetrieveKnowledge(knowledge_base=kb, language_model="openai/x", search_type="regex")
    with pytest.raises(ValueError, match="needs tables to search"):
        sp.RetrieveKnowledge(
            knowledge_base=sp.KnowledgeBase(uri="sqlite://:memory:"), language_model="openai/x"
        )
    with pytest.raises(ValueError, match="needs `knowledge_base=`"):
        sp.UpdateKnowledge()


class Recipe(sp.DataModel):
    id: str
    title: str
    content: str


def _fraction(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def table_guesser(request) -> dict:
    """A retriever that guesses the table (Document for about a third of the questions,
    else Recipe) unless its few-shot examples show which table to search; the reader
    answers with the first retrieved title."""
    parts = parse_prompt(request)
    properties = (request.schema or {}).get("properties", {})
    if "search" in properties:
        question = parts.inputs["query"]
        shown = [o["tables"] for _, o in parts.examples if isinstance(o, dict)]
        tables = shown[0] if shown else (["Document"] if _fraction(question) < 0.35 else ["Recipe"])
        return {"tables": tables, "search": [question]}
    results = parts.inputs.get("result") or []
    return {"answer": results[0]["title"] if results else "unknown"}


async def test_few_shot_training_lifts_a_retrieval_programs_reward(simulated_lm, tmp_path):
    simulated_lm.set_responder(table_guesser)
    lm = language_model_for(simulated_lm)
    kb = sp.KnowledgeBase(uri=f"sqlite://{tmp_path / 'kb.db'}", data_models=[Document, Recipe])
    await kb.update([Document(**d) for d in CORPUS["documents"]])
    await kb.update(
        [
            Recipe(id=f"r{i}", title=f"Recipe {i}", content=text)
            for i, text in enumerate(
                [
                    "Bread dough with water and flour",
                    "Coffee with hot water",
                    "Sugar syrup for plants and tides of guests",
                ]
            )
        ]
    )
    inputs = sp.Input(data_model=Query)
    retrieved = await sp.RetrieveKnowledge(
        knowledge_base=kb, language_model=lm, search_type="fulltext", k=1, name="retriever"
    )(inputs)
    answer = await sp.Generator(
        data_model=Answer, language_model=lm, name="reader", trainable=False
    )(retrieved)
    program = sp.Program(inputs=inputs, outputs=answer, name="rag_training")
    program.compile(reward=sp.rewards.ExactMatch(in_mask=["answer"]), optimizer="random_few_shot")
    documents = CORPUS["documents"]
    x = np.array([Query(query=" ".join(d["content"].split()[:6])) for d in documents], dtype=object)
    y = np.array([Answer(answer=d["title"]) for d in documents], dtype=object)
    with tracking(False):
        before = await program.evaluate(x, y, verbose=0)
        await program.fit(x, y, epochs=2, batch_size=5, verbose=0)
        after = await program.evaluate(x, y, verbose=0)
    assert before["reward"] < 0.6
    assert after["reward"] == 1.0
    state = program.get_module("retriever").search_query_generator.state.value()
    assert all(e["outputs"]["tables"] == ["Document"] for e in state["examples"])
    await kb.close()


async def test_a_saved_rag_program_loads_with_its_knowledge_base(
    simulated_lm, tmp_path, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-simulated")  # secrets are never saved
    simulated_lm.set_responder(retriever_and_reader)
    lm = language_model_for(simulated_lm)
    embedder = embedding_model_for(simulated_lm)
    kb = sp.KnowledgeBase(
        uri=f"sqlite://{tmp_path / 'kb.db'}", data_models=[Document], embedding_model=embedder
    )
    await kb.update([Document(**d) for d in CORPUS["documents"]])
    inputs = sp.Input(data_model=Query)
    retrieved = await sp.RetrieveKnowledge(
        knowledge_base=kb, language_model=lm, k=2, name="retriever"
    )(inputs)
    embedded = await sp.EmbedKnowledge(embedding_model=embedder, in_mask=["query"])(inputs)
    stored = await sp.UpdateKnowledge(knowledge_base=kb)(
        await sp.Generator(data_model=Noted, language_model=lm, name="noter")(inputs)
    )
    answer = await sp.Generator(data_model=Answer, language_model=lm, name="reader")(retrieved)
    program = sp.Program(inputs=inputs, outputs=[answer, embedded, stored], name="rag")
    program.save(tmp_path / "rag.json")
    await kb.close()

    loaded = sp.Program.load(tmp_path / "rag.json")
    answer, embedded, stored = await loaded(Query(query="Why do ocean tides move?"))
    assert answer["answer"] == "Tides"
    assert embedded["embedding"] == (await embedder.embed(["Why do ocean tides move?"]))[0]
    retriever = loaded.get_module("retriever")
    assert retriever.knowledge_base.uri == f"sqlite://{tmp_path / 'kb.db'}"
    assert await retriever.knowledge_base.get("stored", table_name="Noted") is not None
    await retriever.knowledge_base.close()


async def test_embed_knowledge_keeps_vectors_already_there(simulated_lm):
    embedder = embedding_model_for(simulated_lm)
    module = sp.EmbedKnowledge(embedding_model=embedder)
    once = await module(Document(**CORPUS["documents"][0]))
    assert simulated_lm.stats().embeddings == 1
    again = await module(once)
    assert again["embedding"] == once["embedding"]
    assert simulated_lm.stats().embeddings == 1
