from typing import Optional

import pytest

import synaprefect as sp
from synaprefect.data_models import schema as S


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


class Inner(sp.DataModel):
    answer: str
    score: float = 0.0


class Outer(sp.DataModel):
    question: str
    details: Inner
    items: list[Inner] = []


Q = Query(query="q")
A = Answer(answer="a")


def test_schema_and_value_access():
    schema = Query.get_schema()
    assert schema["properties"] == {"query": {"title": "Query", "type": "string"}}
    assert schema["additionalProperties"] is False
    assert list(Query.keys()) == ["query"]
    assert Q.get_json() == {"query": "q"} and Q["query"] == "q" and Q.get("nope") is None
    json_model = Q.to_json_data_model()
    assert isinstance(json_model, sp.JsonDataModel) and json_model["query"] == "q"
    assert Query.to_symbolic_data_model().get_schema() == schema


def test_values_share_their_class_schema_and_get_schema_gives_a_copy():
    first, second = Q.to_json_data_model(), Query(query="r").to_json_data_model()
    assert first.get_schema() is second.get_schema()
    changed = Query.get_schema()
    changed["properties"]["query"]["type"] = "integer"
    assert first.get_schema()["properties"]["query"]["type"] == "string"
    clone = first.clone()
    clone.get_schema()["properties"].clear()
    assert list(second.get_schema()["properties"]) == ["query"]


def test_validation_follows_each_schema_object():
    from synaprefect.data_models.validation import schema_errors

    text, number = Query.get_schema(), Query.get_schema()
    number["properties"]["query"]["type"] = "integer"
    assert schema_errors({"query": "q"}, text) == []
    assert schema_errors({"query": "q"}, number) == ["field `query`: 'q' is not of type 'integer'"]
    assert schema_errors({"query": 1}, text) == ["field `query`: 1 is not of type 'string'"]


def test_extra_fields_are_forbidden():
    with pytest.raises(Exception, match="extra"):
        Query(query="q", other=1)


def test_none_fields_are_kept():
    class Maybe(sp.DataModel):
        value: Optional[str] = None

    assert Maybe().get_json() == {"value": None}


def test_class_union_with_none_stays_a_type():
    assert (Answer | None) == Optional[Answer]


@pytest.mark.parametrize("left,right", [(Q, A), (Query, Answer), (Q, Answer)])
def test_concat_schema_and_kind(left, right):
    result = left + right
    assert list(result.get_schema()["properties"]) == ["query", "answer"]
    concrete = not isinstance(left, type) and not isinstance(right, type)
    assert isinstance(result, sp.JsonDataModel if concrete else sp.SymbolicDataModel)
    if concrete:
        assert result.get_json() == {"query": "q", "answer": "a"}


def test_concat_duplicate_keys_are_renamed_in_schema_and_value():
    result = Q + Q + Q
    schema = result.get_schema()
    assert list(schema["properties"]) == ["query", "query_1", "query_2"]
    assert schema["properties"]["query_1"]["title"] == "Query 1"
    assert schema["required"] == ["query", "query_1", "query_2"]
    assert result.get_json() == {"query": "q", "query_1": "q", "query_2": "q"}


def test_concat_merges_defs():
    result = Query + Outer
    assert "Inner" in result.get_schema()["$defs"]


# None rules of the operators, eager --------------------------------------------------


def test_concat_with_none_raises_clear_error():
    with pytest.raises(ValueError, match="second operand is None"):
        Q + None
    with pytest.raises(ValueError, match="first operand is None"):
        None + Q


def test_and_rules():
    assert (Q & A).get_json() == {"query": "q", "answer": "a"}
    assert (Q & None) is None
    assert (None & Q) is None


def test_or_rules():
    assert (Q | A).get_json() == {"query": "q", "answer": "a"}
    assert (Q | None).get_json() == {"query": "q"}
    assert (None | A).get_json() == {"answer": "a"}
    both = Q | Q
    assert both.get_json() == {"query": "q", "query_1": "q"}


def test_xor_rules():
    assert (Q ^ A) is None
    assert (Q ^ None).get_json() == {"query": "q"}
    assert (None ^ A).get_json() == {"answer": "a"}


def test_not_rule():
    assert (~Q) is None
    assert (~Q.to_json_data_model()) is None


def test_or_copy_is_independent():
    json_model = Q.to_json_data_model()
    copy = json_model | None
    copy.update({"query": "changed"})
    assert json_model["query"] == "q"


# None rules on modules (circuits) ---------------------------------------------------


async def test_module_folds_follow_the_rules():
    q, a = Q.to_json_data_model(), A.to_json_data_model()
    assert await sp.And()([q, None]) is None
    assert (await sp.Or()([None, a])).get_json() == {"answer": "a"}
    assert (await sp.Or()([None, None])) is None
    assert (await sp.Xor()([q, None, None])).get_json() == {"query": "q"}
    assert await sp.Xor()([q, a, None]) is None
    assert await sp.Not()([q, a]) == [None, None]
    with pytest.raises(ValueError, match="operand is None"):
        await sp.Concat()([q, None])


# symbolic specs -----------------------------------------------------------------------


def test_symbolic_specs():
    sq, sa = Query.to_symbolic_data_model(), Answer.to_symbolic_data_model()
    assert list((sq & sa).get_schema()["properties"]) == ["query", "answer"]
    # `|` and `^` declare both sides' keys, none required: either may be missing.
    merged = (sq | sa).get_schema()
    assert list(merged["properties"]) == ["query", "answer"] and "required" not in merged
    assert (sq ^ sa).get_schema() == merged
    # equal schemas (the Branch idiom) keep the schema as it is
    assert (sq | sq).get_schema()["properties"] == sq.get_schema()["properties"]
    assert (~sq).get_schema() == sq.get_schema()


def test_symbolic_values_cannot_be_read():
    with pytest.raises(ValueError, match="symbolic"):
        Query.to_symbolic_data_model()["query"]


def test_contains():
    assert "query" in Q
    assert Query in (Query + Answer)
    assert Answer not in Query.to_symbolic_data_model()


# masks, prefix, suffix, factorize -----------------------------------------------------


def test_base_key_rule():
    assert S.base_key("answer") == "answer"
    assert S.base_key("answer_1") == "answer"
    assert S.base_key("answers") == "answer"
    assert S.base_key("final_answers_2") == "final_answer"
    assert S.base_key("queries") == "query"


def test_in_mask_matches_base_keys_and_values():
    value = (A + A + Q).to_json_data_model()
    masked = value.in_mask(mask=["answers"])
    assert masked.get_json() == {"answer": "a", "answer_1": "a"}
    assert list(masked.get_schema()["properties"]) == ["answer", "answer_1"]


def test_out_mask_and_pattern():
    value = Q + A
    assert value.out_mask(mask=["answer"]).get_json() == {"query": "q"}
    assert value.in_mask(pattern="^q").get_json() == {"query": "q"}


def test_masks_are_recursive_unless_told_not_to():
    outer = Outer(question="?", details=Inner(answer="x", score=1.0), items=[Inner(answer="y")])
    assert outer.in_mask(mask=["answer"]).get_json() == {
        "details": {"answer": "x"},
        "items": [{"answer": "y"}],
    }
    assert outer.in_mask(mask=["answer"], recursive=False).get_json() == {}
    assert outer.out_mask(mask=["score"]).get_json()["details"] == {"answer": "x"}


def test_class_level_masks_honour_recursive():
    recursive = Outer.in_mask(mask=["answer"]).get_schema()
    assert "details" in recursive["properties"]
    flat = Outer.in_mask(mask=["answer"], recursive=False).get_schema()
    assert flat["properties"] == {}


def test_mask_must_be_a_list():
    with pytest.raises(ValueError, match="list"):
        Q.in_mask(mask="query")


def test_prefix_suffix():
    assert (Q + A).prefix("gold").get_json() == {"gold_query": "q", "gold_answer": "a"}
    schema = Query.suffix("v2").get_schema()
    assert list(schema["properties"]) == ["query_v2"] and schema["required"] == ["query_v2"]


def test_factorize():
    value = A + A + Q
    factorized = value.factorize()
    assert factorized.get_json() == {"answers": ["a", "a"], "query": "q"}
    schema = factorized.get_schema()
    assert schema["properties"]["answers"]["type"] == "array"
    assert schema["properties"]["answers"]["items"]["type"] == "string"


def test_json_data_model_errors():
    with pytest.raises(ValueError, match="without arguments"):
        sp.JsonDataModel()
    with pytest.raises(ValueError, match="instantiated"):
        sp.JsonDataModel(data_model=Query)
    with pytest.raises(TypeError, match="dict"):
        sp.JsonDataModel(schema={}, json=[1])


def test_operand_of_wrong_type_is_named():
    with pytest.raises(TypeError, match="got str"):
        Q & "text"
