"""Generator and friends against the simulated LM."""

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import synaprefect as sp
from synaprefect.modules.recording import PredictionRecorder, recording, sample_scope
from synaprefect.testing.skills import language_model_for, parse_prompt

SNAPSHOTS = Path(__file__).parent / "snapshots"


class Query(sp.DataModel):
    query: str = sp.Field(description="The question")


class Answer(sp.DataModel):
    answer: str = sp.Field(description="The answer")


def check_snapshot(name: str, messages: list[dict]) -> None:
    """Compare with the stored prompt; set UPDATE_SNAPSHOTS=1 to rewrite it on purpose."""
    text = "\n\n".join(f"=== {m['role']} ===\n{m['content']}" for m in messages) + "\n"
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(text)
    assert path.exists(), f"no snapshot {path.name}: write it with UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), "prompt changed: review and rerun with UPDATE_SNAPSHOTS=1"


def test_prompt_snapshot_default():
    generator = sp.Generator(data_model=Answer, language_model="openai/x", name="gen")
    check_snapshot(
        "generator_default",
        generator.format_messages(Query(query="Capital of France?").to_json_data_model()),
    )


def test_prompt_snapshot_with_examples_and_schemas():
    generator = sp.Generator(
        data_model=Answer,
        language_model="openai/x",
        name="gen",
        instructions="Answer in one word.",
        use_inputs_schema=True,
        use_outputs_schema=True,
        examples=[({"query": "Capital of Spain?"}, {"answer": "Madrid"})],
    )
    check_snapshot(
        "generator_examples_schemas",
        generator.format_messages(Query(query="Capital of France?").to_json_data_model()),
    )


def test_variable_shape_and_trainability():
    generator = sp.Generator(
        data_model=Answer, language_model="openai/x", name="gen", seed_instructions=["Be brief."]
    )
    state = generator.state
    assert state.path == "gen/state_gen" and state.trainable
    value = state.value()
    assert list(value)[:9] == list(sp.Trainable.model_fields)
    assert value["instructions"] == "Answer with a JSON object that has the keys ['answer']."
    assert value["seed_candidates"] == [{"instructions": "Be brief."}]
    assert generator.trainable_variables == [state]


async def test_generator_uses_instructions_from_its_variable(simulated_lm):
    seen = []

    def responder(request):
        seen.append(parse_prompt(request))
        return {"answer": "ok"}

    simulated_lm.set_responder(responder)
    generator = sp.Generator(data_model=Answer, language_model=language_model_for(simulated_lm))
    generator.state.update({"instructions": "Changed by an optimizer."})
    result = await generator(Query(query="q"))
    assert result.get_json() == {"answer": "ok"}
    assert seen[0].instructions == "Changed by an optimizer."
    assert seen[0].inputs == {"query": "q"}


async def test_training_records_predictions_by_sample(simulated_lm_factory):
    async def responder(request):
        query = parse_prompt(request).inputs["query"]
        await asyncio.sleep(0.05 * (3 - int(query)))  # later samples answer first
        return {"answer": f"a{query}"}

    server = simulated_lm_factory(responder=responder)
    generator = sp.Generator(data_model=Answer, language_model=language_model_for(server))

    async def run(index):
        with sample_scope(index):
            return await generator(Query(query=str(index)), training=True)

    recorder = PredictionRecorder()
    with recording(recorder):
        await asyncio.gather(*(run(i) for i in range(3)))
        await generator(Query(query="1"))  # inference: nothing recorded
    recorded = recorder.take()[generator.state.path]
    assert sorted(recorded) == [0, 1, 2]
    for index, predictions in recorded.items():
        assert predictions == [
            {"inputs": {"query": str(index)}, "outputs": {"answer": f"a{index}"}, "reward": None}
        ]


async def test_direct_training_calls_keep_nothing_without_a_recorder(simulated_lm):
    # A serving process calling a module directly must not grow its memory per call.
    generator = sp.Generator(data_model=Answer, language_model=language_model_for(simulated_lm))

    def footprint() -> int:
        return len(repr(sorted(vars(generator).items(), key=str)))

    await generator(Query(query="0"), training=True)
    before = footprint()
    for index in range(5):
        await generator(Query(query=str(index)), training=True)
    assert footprint() == before


async def test_none_input_gives_none_and_no_call(simulated_lm):
    generator = sp.Generator(data_model=Answer, language_model=language_model_for(simulated_lm))
    assert await generator(None) is None
    assert simulated_lm.stats().requests == 0


async def test_return_inputs_and_chain_of_thought(simulated_lm):
    lm = language_model_for(simulated_lm)
    x0 = sp.Input(data_model=Query)
    x1 = await sp.ChainOfThought(data_model=Answer, language_model=lm, return_inputs=True)(x0)
    assert list(x1.get_schema()["properties"]) == ["query", "thinking", "answer"]
    program = sp.Program(inputs=x0, outputs=x1)
    result = await program(Query(query="q"))
    assert list(result.get_json()) == ["query", "thinking", "answer"]


async def test_self_critique_reward_is_in_range(simulated_lm):
    critique = sp.SelfCritique(language_model=language_model_for(simulated_lm))
    result = await critique(Answer(answer="Paris"))
    assert 0.0 <= result["reward"] <= 1.0 and "critique" in result.get_json()
    assert result["answer"] == "Paris"  # return_inputs=True by default


def label_responder(request):
    inputs = parse_prompt(request).inputs
    if "question" in inputs:  # the decision
        label = "math" if any(c.isdigit() for c in inputs["query"]) else "geo"
        return {"thinking": "...", "choice": label}
    return {"answer": f"answered by {request.system_prompt.split()[1]}"}


async def test_decision_and_branch_routing(simulated_lm):
    simulated_lm.set_responder(label_responder)
    lm = language_model_for(simulated_lm)
    x0 = sp.Input(data_model=Query)
    math_out, geo_out = await sp.Branch(
        question="Which topic?",
        labels=["math", "geo"],
        language_model=lm,
        branches=[
            sp.Generator(data_model=Answer, language_model=lm, instructions="math-bot"),
            sp.Generator(data_model=Answer, language_model=lm, instructions="geo-bot"),
        ],
    )(x0)
    program = sp.Program(inputs=x0, outputs=[math_out, geo_out, math_out | geo_out])
    math_result, geo_result, merged = await program(Query(query="2+2"))
    assert geo_result is None and math_result["choice"] == "math"
    assert math_result["answer"] == "answered by math-bot"
    assert merged.get_json() == math_result.get_json()
    math_result, geo_result, merged = await program(Query(query="Capital of Peru"))
    assert math_result is None and geo_result["answer"] == "answered by geo-bot"


async def test_multi_decision_and_label_errors(simulated_lm):
    simulated_lm.set_responder(lambda r: {"thinking": "t", "choices": ["a", "b"]})
    decision = sp.MultiDecision(
        question="Which?", labels=["a", "b", "c"], language_model=language_model_for(simulated_lm)
    )
    assert (await decision(Query(query="x")))["choices"] == ["a", "b"]
    with pytest.raises(ValueError, match="labels"):
        sp.Decision(question="?", labels="a,b", language_model="openai/x")
    with pytest.raises(ValueError, match="one module per label"):
        sp.Branch(question="?", labels=["a"], branches=[], language_model="openai/x")


async def test_generator_program_save_and_load(tmp_path, simulated_lm):
    lm = language_model_for(simulated_lm, api_key="sk-never-saved")
    x0 = sp.Input(data_model=Query)
    x1 = await sp.Generator(data_model=Answer, language_model=lm, temperature=0.3)(x0)
    a, b = await sp.Branch(
        question="?", labels=["a", "b"], language_model=lm, branches=[sp.Identity(), sp.Identity()]
    )(x0)
    program = sp.Program(inputs=x0, outputs=[x1, a | b], name="gen_program")
    program.get_module("generator").state.update({"instructions": "Trained."})
    path = tmp_path / "p.json"
    program.save(path)
    assert "sk-never-saved" not in path.read_text()
    loaded = sp.Program.load(path)
    generator = loaded.get_module("generator")
    assert generator.state["instructions"] == "Trained."
    assert generator.sampling == {"temperature": 0.3}
    loaded.save(tmp_path / "again.json")
    assert path.read_text() == (tmp_path / "again.json").read_text()


def test_missing_language_model_is_explained():
    with pytest.raises(ValueError, match="language_model"):
        sp.Generator(data_model=Answer)
    with pytest.raises(ValueError, match="reasoning_effort"):
        sp.Generator(data_model=Answer, language_model="openai/x", reasoning_effort="max")


def test_tracked_training_reaches_only_loopback(simulated_lm, tmp_path):
    """Import synaprefect, start Prefect's embedded API and train as a tracked flow in a
    fresh process; an audit hook records every connection and DNS lookup it makes."""
    code = textwrap.dedent(f"""
        import asyncio, sys
        LOCAL = ("127.0.0.1", "localhost", "::1", "0.0.0.0", None, "")
        remote = []
        def audit(event, args):
            if event == "socket.connect" and isinstance(args[1], tuple):
                if args[1][0] not in LOCAL:
                    remote.append(("connect", args[1][0]))
            elif event == "socket.getaddrinfo" and args[0] not in LOCAL:
                remote.append(("dns", args[0]))
        sys.addaudithook(audit)
        import numpy as np
        import synaprefect as sp
        from synaprefect.testing.skills import language_model_for
        class Q(sp.DataModel):
            query: str
        class A(sp.DataModel):
            answer: str
        class Server:
            model = {simulated_lm.model!r}
            base_url = {simulated_lm.base_url!r}
        async def main():
            x0 = sp.Input(data_model=Q)
            x1 = await sp.Generator(data_model=A, language_model=language_model_for(Server()))(x0)
            program = sp.Program(inputs=x0, outputs=x1, name="offline")
            program.compile(reward=sp.rewards.ExactMatch(), optimizer="random_few_shot")
            x = np.array([Q(query=str(i)) for i in range(4)], dtype=object)
            y = np.array([A(answer=str(i)) for i in range(4)], dtype=object)
            await program.fit(x, y, epochs=1, batch_size=2, validation_split=0.0, verbose=0)
            print("TRACKED", sp.orchestration.is_tracking())
        asyncio.run(main())
        print("REMOTE", sorted(set(remote)))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SYNAPREFECT_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        SYNAPREFECT_HOME=str(tmp_path / "sp"),
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "TRACKED True" in out.stdout
    assert "REMOTE []" in out.stdout, out.stdout
    # Prefect's embedded API runs in a child process, out of the audit hook's reach: its
    # failed attempts to reach the internet show up in its log (stderr).
    assert "telemetry" not in out.stderr.lower(), out.stderr[-2000:]
    assert "Name or service not known" not in out.stderr, out.stderr[-2000:]
