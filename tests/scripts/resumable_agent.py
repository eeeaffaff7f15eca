"""An agent run in a subprocess by test_agents.py: argv = base_url, work folder, output
path, and "tracked" to run it on the Prefect API of ``$PREFECT_API_URL``.

The agent calls ``record_order`` (a side effect: a line in ``orders.log``), then ``ship``,
which SIGKILLs its own process while ``<work>/kill-armed`` exists (it removes the file
first, so the rerun goes through)."""

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

import synaprefect as sp
from synaprefect.orchestration import set_tracking

WORK = Path(sys.argv[2])


class Order(sp.DataModel):
    item: str = sp.Field(description="What to order")


class Status(sp.DataModel):
    status: str = sp.Field(description="Where the order stands")


def record_order(item: str) -> dict:
    """Record an order.

    Args:
        item: What is ordered.
    """
    with open(WORK / "orders.log", "a") as handle:
        handle.write(f"{item}\n")
    return {"order_id": 1}


async def ship(item: str) -> dict:
    """Ship an order.

    Args:
        item: What to ship.
    """
    armed = WORK / "kill-armed"
    if armed.exists():
        armed.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    with open(WORK / "shipments.log", "a") as handle:
        handle.write(f"{item}\n")
    return {"shipped": True}


async def main(base_url: str, output: str, tracked: bool) -> None:
    set_tracking(tracked)
    lm = sp.LanguageModel("openai/simulated", api_base=base_url, api_key="sk-sim")
    inputs = sp.Input(data_model=Order)
    outputs = await sp.FunctionCallingAgent(
        data_model=Status,
        tools=[sp.Tool(record_order), sp.Tool(ship)],
        language_model=lm,
        name="shop_agent",
    )(inputs)
    program = sp.Program(inputs=inputs, outputs=outputs, name="shop")
    predictions = await program.predict(
        np.array([Order(item="tea")], dtype=object), verbose=0, resume=True
    )
    Path(output).write_text(json.dumps(predictions[0].get_json()))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[3], sys.argv[4:] == ["tracked"]))
