"""KnowledgeBase on both backends (embedded SQLite, PostgreSQL): retrieval on the bundled
corpus, idempotent writes, the graph, the storage setting, clear errors.

The PostgreSQL cases start a throwaway cluster (``synaprefect.testing.postgres``) and are
``e2e``. Each runs twice: with vectors as ``real[]`` scored in plain SQL (forced), and in
the mode the server offers (pgvector when installed, else the same fallback).
"""

import asyncio
import json
import logging
import uuid
from pathlib import Path
from typing import Literal

import pytest

import synaprefect as sp
from synaprefect.config import set_storage
from synaprefect.knowledge_bases import KnowledgeBase, reciprocal_rank_fusion
from synaprefect.testing.postgres import Postgres
from synaprefect.testing.skills import embedding_model_for

CORPUS = json.loads(
    (Path(sp.__file__).parent / "testing" / "data" / "knowledge_corpus.json").read_text()
)


class Document(sp.DataModel):
    id: str = sp.Field(description="Document id")
    title: str
    content: str
    source: str


class City(sp.Entity):
    label: Literal["City"]
    name: str
    description: str


class Country(sp.Entity):
    label: Literal["Country"]
    name: str
    description: str


class Continent(sp.Entity):
    label: Literal["Continent"]
    name: str
    description: str


class LocatedIn(sp.Relation):
    subj: City
    label: Literal["LocatedIn"]
    obj: Country


class PartOf(sp.Relation):
    subj: Country
    label: Literal["PartOf"]
    obj: Continent


@pytest.fixture(scope="module")
def postgres():
    database = Postgres()
    yield database
    database.stop()


def _new_database(server: Postgres) -> str:
    return asyncio.run(server.create_database(f"kb_{uuid.uuid4().hex[:10]}"))


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql-plain", marks=pytest.mark.e2e),
        pytest.param("postgresql-auto", marks=pytest.mark.e2e),
    ]
)
def kb_args(request, tmp_path):
    """The arguments of a fresh database of each backend: a SQLite file, or a new
    PostgreSQL database with vectors as ``real[]`` (plain) or as the server allows
    (auto)."""
    if request.param == "sqlite":
        return {"uri": f"sqlite://{tmp_path / 'kb.db'}"}
    uri = _new_database(request.getfixturevalue("postgres"))
    return {"uri": uri, "vector_extension": False if request.param.endswith("plain") else None}


async def test_retrieval_returns_the_expected_rows_on_the_corpus(kb_args, simulated_lm_factory):
    # 256 dimensions: the simulated bag-of-words vectors barely collide on this corpus.
    server = simulated_lm_factory(embedding_dim=256)
    kb = KnowledgeBase(
        **kb_args, data_models=[Document], embedding_model=embedding_model_for(server)
    )
    try:
        await kb.update([Document(**d) for d in CORPUS["documents"]])
        for query in CORPUS["queries"]:
            search = query["search"]
            fulltext = await kb.fulltext_search(search, table_name="Document", k=3)
            vector = await kb.similarity_search(search, table_name="Document", k=3)
            hybrid = await kb.hybrid_fts_search(search, table_name="Document", k=3)
            assert fulltext[0]["id"] == query["fulltext"], (search, fulltext)
            assert vector[0]["id"] == query["vector"], (search, vector)
            assert hybrid[0]["id"] == query["hybrid"], (search, hybrid)
            assert [r["score"] for r in vector] == sorted(r["score"] for r in vector)
            assert fulltext[0]["title"] == next(
                d["title"] for d in CORPUS["documents"] if d["id"] == query["fulltext"]
            )
        # Full text finds only documents sharing a word; vectors rank every document.
        assert [r["id"] for r in await kb.fulltext_search("sourdough", table_name="Document")] == [
            "doc-06"
        ]
        assert len(await kb.similarity_search("sourdough", table_name="Document")) == 10
        # A word no document has: nothing by full text, so hybrid is the vector ranking.
        assert await kb.fulltext_search("zeppelin", table_name="Document") == []
    finally:
        await kb.close()


async def test_search_by_given_vectors_needs_no_embedding_model(kb_args):
    kb = KnowledgeBase(**kb_args, data_models=[Document])
    try:
        for i, vector in enumerate([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.7, 0.7, 0.0]]):
            doc = Document(id=f"v{i}", title="t", content="c", source="s")
            await kb.update(
                sp.JsonDataModel(
                    json={**doc.get_json(), "embedding": vector}, schema=Document.get_schema()
                )
            )
        found = await kb.similarity_search(
            table_name="Document", vector_or_vectors=[0.9, 0.1, 0.0], k=2
        )
        assert [r["id"] for r in found] == ["v0", "v2"]
        assert "embedding" not in found[0]
        with pytest.raises(ValueError, match="no `embedding_model`"):
            await kb.similarity_search("text", table_name="Document")
        with pytest.raises(ValueError, match="dimensions"):
            await kb.similarity_search(table_name="Document", vector_or_vectors=[1.0, 0.0])
    finally:
        await kb.close()


def _same_rows_and_scores(mine: list[dict], theirs: list[dict]) -> bool:
    """Same scores in order, and at each rank the same row or one tied with it: rows whose
    distances agree to float32 precision may come in either order."""
    if [r["score"] for r in mine] != pytest.approx(
        [r["score"] for r in theirs], rel=1e-5, abs=1e-6
    ):
        return False
    return all(
        row["id"]
        in {
            r["id"] for r in theirs if r["score"] == pytest.approx(row["score"], rel=1e-5, abs=1e-6)
        }
        for row in mine
    )


@pytest.mark.e2e
@pytest.mark.parametrize("metric", ["cosine", "l2sq", "ip"])
async def test_postgresql_without_pgvector_ranks_and_scores_as_with_it(
    metric, postgres, simulated_lm_factory, tmp_path
):
    """Vectors as real[] scored in plain SQL give the rows and scores of the server's own
    mode (pgvector here when installed) and of the embedded backend."""
    embedder = embedding_model_for(simulated_lm_factory(embedding_dim=256))
    plain = {
        "uri": await postgres.create_database(f"kb_{uuid.uuid4().hex[:10]}"),
        "vector_extension": False,
    }
    auto = {"uri": await postgres.create_database(f"kb_{uuid.uuid4().hex[:10]}")}
    embedded = {"uri": f"sqlite://{tmp_path / 'kb.db'}"}
    results, modes = [], []
    for args in (plain, auto, embedded):
        kb = KnowledgeBase(**args, data_models=[Document], embedding_model=embedder, metric=metric)
        try:
            await kb.update([Document(**d) for d in CORPUS["documents"]])
            # Every document: unrelated ones tie, and ties are cut differently at a k.
            results.append(
                [
                    await kb.similarity_search(
                        query["search"], k=len(CORPUS["documents"]), table_name="Document"
                    )
                    for query in CORPUS["queries"]
                ]
            )
            modes.append(getattr(kb.backend, "uses_pgvector", None))
        finally:
            await kb.close()
    assert modes == [False, await postgres.offers_extension("vector"), None]
    plain_rows, *others = results
    for other in others:
        for mine, theirs in zip(plain_rows, other, strict=True):
            assert mine[0]["id"] == theirs[0]["id"]
            assert _same_rows_and_scores(mine, theirs), (
                [(r["id"], r["score"]) for r in mine],
                [(r["id"], r["score"]) for r in theirs],
            )


@pytest.mark.e2e
async def test_a_role_that_may_not_create_the_extension_gets_plain_sql(postgres, caplog):
    """The default mode falls back when CREATE EXTENSION fails (here: a role that is not a
    superuser, pgvector being untrusted; on a server without pgvector: not installed)."""
    import asyncpg

    role, database = f"kb_role_{uuid.uuid4().hex[:8]}", f"kb_{uuid.uuid4().hex[:10]}"
    uri = await postgres.create_database(database)
    connection = await asyncpg.connect(uri)
    try:
        await connection.execute(f"CREATE ROLE {role} LOGIN")
        await connection.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    finally:
        await connection.close()
    uri = uri.replace("//postgres@", f"//{role}@")
    caplog.set_level(logging.INFO, logger="synaprefect.knowledge_bases")
    kb = KnowledgeBase(uri=uri, data_models=[Document])
    try:
        for i, vector in enumerate([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]):
            doc = Document(id=f"v{i}", title="t", content="c", source="s")
            await kb.update(
                sp.JsonDataModel(
                    json={**doc.get_json(), "embedding": vector}, schema=Document.get_schema()
                )
            )
        found = await kb.similarity_search(table_name="Document", vector_or_vectors=[0.0, 2.0], k=3)
        assert [r["id"] for r in found] == ["v1", "v2", "v0"]
        assert [r["score"] for r in found] == pytest.approx([0.0, 0.2, 1.0], abs=1e-6)
        assert kb.backend.uses_pgvector is False
        assert "vectors as real[] scored exactly in SQL (pgvector is not available" in caplog.text
    finally:
        await kb.close()
    strict = KnowledgeBase(uri=uri, data_models=[Document], vector_extension=True)
    with pytest.raises(RuntimeError, match="vector_extension=True needs the pgvector"):
        await strict.count(table_name="Document")
    await strict.close()


@pytest.mark.e2e
async def test_a_real_array_table_asked_for_pgvector_names_the_option(postgres):
    uri = await postgres.create_database(f"kb_{uuid.uuid4().hex[:10]}")
    plain = KnowledgeBase(uri=uri, data_models=[Document], vector_extension=False)
    await plain.update(Document(id="a", title="t", content="c", source="s"))
    await plain.close()
    # With pgvector installed: the table's vectors are real[]; without: no pgvector.
    strict = KnowledgeBase(uri=uri, data_models=[Document], vector_extension=True)
    with pytest.raises((ValueError, RuntimeError), match="vector_extension="):
        await strict.count(table_name="Document")
    await strict.close()


async def test_a_repeated_write_leaves_no_duplicate(kb_args, simulated_lm):
    kb = KnowledgeBase(
        **kb_args, data_models=[Document], embedding_model=embedding_model_for(simulated_lm)
    )
    try:
        batch = [Document(**d) for d in CORPUS["documents"]]
        assert await kb.update(batch) == [d["id"] for d in CORPUS["documents"]]
        await kb.update(batch)  # a retried task writes the same batch again
        assert await kb.count(table_name="Document") == 10
        changed = Document(**{**CORPUS["documents"][0], "content": "Rewritten zeppelin text"})
        assert await kb.update(changed) == "doc-01"
        assert await kb.count(table_name="Document") == 10
        assert (await kb.get("doc-01", table_name="Document"))[
            "content"
        ] == "Rewritten zeppelin text"
        # The indexes follow the new version: the old words are gone, the new ones found.
        assert [r["id"] for r in await kb.fulltext_search("zeppelin", table_name="Document")] == [
            "doc-01"
        ]
        assert "doc-01" not in [
            r["id"] for r in await kb.fulltext_search("explicit rules", table_name="Document")
        ]
        assert [
            r.get_json()["id"] for r in await kb.getall(table_name="Document", limit=2, offset=1)
        ] == ["doc-02", "doc-03"]
        assert await kb.delete(["doc-01", "missing"], table_name="Document") == 1
        assert await kb.get("doc-01", table_name="Document") is None
    finally:
        await kb.close()


async def _load_graph(kb) -> None:
    graph = CORPUS["graph"]
    cities = {c["name"]: City(**c) for c in graph["cities"]}
    countries = {c["name"]: Country(**c) for c in graph["countries"]}
    continents = {c["name"]: Continent(**c) for c in graph["continents"]}
    await kb.update_entities(list(continents.values()))
    await kb.update_relations(
        [
            LocatedIn(subj=cities[s], label="LocatedIn", obj=countries[o])
            for s, o in graph["located_in"]
        ]
        + [
            PartOf(subj=countries[s], label="PartOf", obj=continents[o])
            for s, o in graph["part_of"]
        ]
    )


def _names(graph) -> set[str]:
    return {e["name"] for e in graph.get_json()["entities"]}


async def test_graph_retrieval_follows_relations(kb_args):
    kb = KnowledgeBase(
        **kb_args, entity_models=[City, Country, Continent], relation_models=[LocatedIn, PartOf]
    )
    try:
        await _load_graph(kb)
        await _load_graph(kb)  # written twice: still one edge per relation
        one_hop = await kb.neighborhood("Paris", label="City")
        assert _names(one_hop) == {"Paris", "France"}
        assert [
            (r["subj"]["name"], r["label"], r["obj"]["name"])
            for r in one_hop.get_json()["relations"]
        ] == [("Paris", "LocatedIn", "France")]
        two_hops = await kb.neighborhood("Paris", label="City", max_hops=2)
        assert _names(two_hops) == {"Paris", "France", "Lyon", "Europe"}
        only_located = await kb.neighborhood(
            "France", label="Country", max_hops=3, rel_label="LocatedIn"
        )
        assert _names(only_located) == {"France", "Paris", "Lyon"}
        seeded = await kb.local_graph_search("imperial capital", label="City", k=1, max_hops=2)
        assert _names(seeded) == {"Kyoto", "Japan", "Asia"}
        paths = await kb.path_fulltext_search(
            "Berlin", "Europe", subj_label="City", obj_label="Continent", max_hops=2
        )
        assert [
            [(r["subj"]["name"], r["label"], r["obj"]["name"]) for r in p["relations"]]
            for p in paths
        ] == [[("Berlin", "LocatedIn", "Germany"), ("Germany", "PartOf", "Europe")]]
        assert paths[0]["hops"] == 2 and paths[0]["subj"]["name"] == "Berlin"
        # Paths follow the direction of relations and the hop limit.
        assert (
            await kb.path_fulltext_search(
                "Europe", "Berlin", subj_label="Continent", obj_label="City"
            )
            == []
        )
        assert (
            await kb.path_fulltext_search(
                "Berlin", "Europe", subj_label="City", obj_label="Continent", max_hops=1
            )
            == []
        )
        assert await kb.count(table_name="City") == 4
    finally:
        await kb.close()


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "a"]], k_rank=1)
    assert fused == pytest.approx({"a": 1 / 2 + 1 / 4, "b": 1 / 3 + 1 / 2, "c": 1 / 4 + 1 / 3})
    assert max(fused, key=fused.get) == "b"


async def test_the_default_file_follows_the_storage_setting(tmp_path):
    set_storage(tmp_path / "state")
    try:
        kb = KnowledgeBase(data_models=[Document], name="docs")
        await kb.update(Document(id="1", title="t", content="hello", source="s"))
        await kb.close()
        assert (tmp_path / "state" / "knowledge" / "docs.db").exists()
        reopened = KnowledgeBase(name="docs")
        assert (await reopened.get("1", table_name="Document"))["content"] == "hello"
        assert [m.get_schema()["title"] for m in reopened.get_symbolic_data_models()] == [
            "Document"
        ]
        await reopened.close()
        set_storage("s3://bucket/prefix")
        with pytest.raises(ValueError, match="s3://bucket/prefix"):
            KnowledgeBase(data_models=[Document])
    finally:
        set_storage(None)


async def test_bad_inputs_name_what_was_expected(tmp_path):
    with pytest.raises(ValueError, match="`uri` must start with"):
        KnowledgeBase(uri="mysql://x")
    with pytest.raises(ValueError, match="`metric` must be one of"):
        KnowledgeBase(uri="sqlite://:memory:", metric="manhattan")
    kb = KnowledgeBase(uri="sqlite://:memory:", data_models=[Document])
    with pytest.raises(ValueError, match="No table named 'Documents'.*Document"):
        await kb.fulltext_search("x", table_name="Documents")
    with pytest.raises(ValueError, match="No table named"):  # never reaches SQL
        await kb.get("1", table_name='Document"; DROP TABLE x; --')
    with pytest.raises(ValueError, match="`label` must be a name.*'New City'"):
        await kb.update_entities(
            sp.JsonDataModel(json={"label": "New City", "name": "x"}, schema=City.get_schema())
        )
    with pytest.raises(ValueError, match="key field `id`"):
        await kb.update(sp.JsonDataModel(json={"title": "no id"}, schema=Document.get_schema()))
    await kb.close()


async def test_two_knowledge_bases_on_one_file_see_each_others_writes(tmp_path):
    uri = f"sqlite://{tmp_path / 'shared.db'}"
    writer, reader = (KnowledgeBase(uri=uri, data_models=[Document]) for _ in range(2))
    first = Document(id="a", title="t", content="c", source="s").get_json()
    await writer.update(
        sp.JsonDataModel(json={**first, "embedding": [1.0, 0.0]}, schema=Document.get_schema())
    )
    assert [
        r["id"]
        for r in await reader.similarity_search(table_name="Document", vector_or_vectors=[0.0, 1.0])
    ] == ["a"]
    await writer.update(
        sp.JsonDataModel(
            json={**first, "id": "b", "embedding": [0.0, 1.0]}, schema=Document.get_schema()
        )
    )
    assert [
        r["id"]
        for r in await reader.similarity_search(table_name="Document", vector_or_vectors=[0.0, 1.0])
    ] == ["b", "a"]
    await writer.close()
    await reader.close()


async def test_a_data_model_with_a_label_field_is_a_table_row_unless_written_as_an_entity():
    class Review(sp.DataModel):
        label: str
        text: str

    kb = KnowledgeBase(uri="sqlite://:memory:")
    assert await kb.update(Review(label="positive", text="great bread")) == "positive"
    assert (await kb.get("positive", table_name="Review"))["text"] == "great bread"
    assert await kb.update_entities(Review(label="Opinion", text="fine")) == "fine"
    assert await kb.count(table_name="Opinion") == 1
    await kb.close()


async def test_concurrent_first_writes_set_up_and_wipe_once(kb_args):
    first = KnowledgeBase(**kb_args, data_models=[Document])
    await first.update(Document(id="old", title="t", content="c", source="s"))
    await first.close()
    kb = KnowledgeBase(**kb_args, data_models=[Document], wipe_on_start=True)
    docs = [Document(id=f"n{i}", title="t", content="c", source="s") for i in range(12)]
    await asyncio.gather(*(kb.update(doc) for doc in docs))
    assert await kb.count(table_name="Document") == 12
    assert await kb.get("old", table_name="Document") is None
    await kb.close()
