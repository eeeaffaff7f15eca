"""Synalinks knowledge scripts (``import synaprefect as synalinks``): extract records with a
Generator and store them with UpdateKnowledge, search the knowledge base directly, and
answer questions with a RetrieveKnowledge -> Generator program (retrieval-augmented)."""

from typing import Literal

import pytest

import synaprefect as synalinks
from synaprefect.orchestration import tracking
from synaprefect.testing.skills import embedding_model_for, language_model_for, parse_prompt


class DocumentText(synalinks.DataModel):
    text: str = synalinks.Field(description="The raw text of the document")


class Invoice(synalinks.DataModel):
    invoice_number: str = synalinks.Field(description="The invoice number")
    vendor: str = synalinks.Field(description="The vendor")
    total_amount: float = synalinks.Field(description="The total amount due")
    description: str = synalinks.Field(description="What was bought")


class Query(synalinks.DataModel):
    query: str = synalinks.Field(description="The question")


class Answer(synalinks.DataModel):
    answer: str = synalinks.Field(description="The answer from the retrieved records")


class Person(synalinks.Entity):
    label: Literal["Person"]
    name: str = synalinks.Field(description="The person's name")


class Company(synalinks.Entity):
    label: Literal["Company"]
    name: str = synalinks.Field(description="The company's name")


class WorksAt(synalinks.Relation):
    subj: Person
    label: Literal["WorksAt"]
    obj: Company


TEXTS = {
    "INVOICE #INV-001 from TechSupply Co.: 10 USB-C cables, total 307.84": {
        "invoice_number": "INV-001",
        "vendor": "TechSupply Co.",
        "total_amount": 307.84,
        "description": "USB-C cables and wireless mice",
    },
    "Invoice INV-002, Cloud Services Inc., monthly cloud hosting, EUR 149.00": {
        "invoice_number": "INV-002",
        "vendor": "Cloud Services Inc.",
        "total_amount": 149.0,
        "description": "Monthly cloud hosting subscription",
    },
    "BILL INV-003 Office Furniture Ltd. standing desk and chair 1127.00": {
        "invoice_number": "INV-003",
        "vendor": "Office Furniture Ltd.",
        "total_amount": 1127.0,
        "description": "Standing desk and ergonomic chair",
    },
}


def business_model(request) -> dict:
    """Extracts the invoice a text describes; searches with the question; answers with
    the vendor and total of the first retrieved invoice."""
    parts = parse_prompt(request)
    properties = (request.schema or {}).get("properties", {})
    if "invoice_number" in properties:
        return TEXTS[parts.inputs["text"]]
    if "search" in properties:
        return {"tables": ["Invoice"], "search": [parts.inputs["query"]]}
    rows = parts.inputs.get("result") or []
    return {"answer": f"{rows[0]['vendor']}: {rows[0]['total_amount']}" if rows else "none"}


@pytest.fixture(autouse=True)
def _no_tracking():
    with tracking(False):
        yield


async def test_extract_store_and_answer_like_synalinks_examples(simulated_lm, tmp_path):
    simulated_lm.set_responder(business_model)
    language_model = language_model_for(simulated_lm)
    embedding_model = embedding_model_for(simulated_lm)
    db_path = tmp_path / "business_data.db"

    knowledge_base = synalinks.KnowledgeBase(
        uri=f"duckdb://{db_path}",
        data_models=[Invoice],
        embedding_model=embedding_model,
        metric="cosine",
    )
    tables = [m.get_schema()["title"] for m in knowledge_base.get_symbolic_data_models()]
    assert tables == ["Invoice"]

    inputs = synalinks.Input(data_model=DocumentText)
    extracted = await synalinks.Generator(
        data_model=Invoice,
        language_model=language_model,
        instructions="Extract invoice information from the document text.",
    )(inputs)
    stored = await synalinks.UpdateKnowledge(knowledge_base=knowledge_base)(extracted)
    invoice_program = synalinks.Program(inputs=inputs, outputs=stored, name="invoice_extraction")
    for text in TEXTS:
        result = await invoice_program(DocumentText(text=text))
        assert result.get("invoice_number") == TEXTS[text]["invoice_number"]
    await invoice_program(DocumentText(text=next(iter(TEXTS))))  # again: still 3 rows

    results = await knowledge_base.fulltext_search("cloud", table_name="Invoice", k=5)
    assert [r["invoice_number"] for r in results] == ["INV-002"]
    results = await knowledge_base.hybrid_fts_search(
        "standing desk chair", table_name="Invoice", k=5
    )
    assert results[0]["invoice_number"] == "INV-003"
    records = await knowledge_base.getall(table_name="Invoice", limit=10)
    assert [r.get_json()["invoice_number"] for r in records] == ["INV-001", "INV-002", "INV-003"]

    inputs = synalinks.Input(data_model=Query)
    retrieved = await synalinks.RetrieveKnowledge(
        knowledge_base=knowledge_base,
        language_model=language_model,
        search_type="hybrid",
        k=5,
        return_inputs=True,
        return_query=True,
    )(inputs)
    answer = await synalinks.Generator(
        data_model=Answer,
        language_model=language_model,
        instructions="Answer the question based on the retrieved business data.",
    )(retrieved)
    qa_program = synalinks.Program(inputs=inputs, outputs=answer, name="business_qa")
    result = await qa_program(Query(query="Which invoice is for cloud hosting?"))
    assert result.get("answer") == "Cloud Services Inc.: 149.0"
    result = await qa_program(Query(query="How much was the standing desk?"))
    assert result.get("answer") == "Office Furniture Ltd.: 1127.0"
    await knowledge_base.close()


async def test_a_knowledge_graph_like_synalinks_guides(simulated_lm, tmp_path):
    knowledge_base = synalinks.KnowledgeBase(
        uri=f"duckdb://{tmp_path / 'graph.db'}",
        entity_models=[Person, Company],
        relation_models=[WorksAt],
        embedding_model=embedding_model_for(simulated_lm),
    )
    ada = Person(label="Person", name="Ada Lovelace")
    acme = Company(label="Company", name="Acme Analytical Engines")
    works = WorksAt(subj=ada, label="WorksAt", obj=acme)
    embedded = await synalinks.EmbedKnowledge(
        embedding_model=embedding_model_for(simulated_lm), in_mask=["name"]
    )(works)
    assert len(embedded.get_json()["subj"]["embedding"]) == 64
    await synalinks.UpdateKnowledge(knowledge_base=knowledge_base)(embedded)

    found = await knowledge_base.entity_similarity_search("Ada Lovelace", label="Person", k=1)
    assert found[0]["name"] == "Ada Lovelace"
    graph = await knowledge_base.local_graph_search("Ada", label="Person", max_hops=1)
    assert synalinks.is_knowledge_graph(graph)
    assert [
        (r["subj"]["name"], r["label"], r["obj"]["name"]) for r in graph.get_json()["relations"]
    ] == [("Ada Lovelace", "WorksAt", "Acme Analytical Engines")]
    paths = await knowledge_base.path_hybrid_fts_search(
        "Ada", "Acme", subj_label="Person", obj_label="Company", max_hops=2
    )
    assert paths[0]["hops"] == 1
    await knowledge_base.close()
