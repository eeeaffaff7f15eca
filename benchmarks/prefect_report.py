"""The ``prefect_costs`` part in the reports: medians per Prefect object, and what they
mean for the benchmark's fit."""

from __future__ import annotations

import math
import statistics
from typing import Any

from benchmarks.workloads.prefect_costs import PREFECT_OBJECT_KINDS
from benchmarks.workloads.training import VALIDATION_SPLIT

__all__ = ["summarize_prefect_costs", "fit_prefect_objects", "prefect_cost_lines"]

_LABELS = {
    "task": "task run, awaited one after another",
    "task_gathered": "task run, all gathered at once",
    "nested_task": "task run inside a task run",
    "subflow": "subflow run (a flow called inside a flow)",
    "markdown_artifact": "markdown artifact, created awaited",
    "progress_update": "progress artifact update, awaited",
    "flow": "synaprefect flow run, outermost (`PrefectRuntime.flow`)",
}
# fit's default validation batch size (``Program.fit(validation_batch_size=32)``).
_VALIDATION_BATCH_SIZE = 32
_FIELDS = ("wall_ms_per_object", "cpu_ms_per_object", "server_cpu_ms_per_object")


def summarize_prefect_costs(part: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per kind of object: the medians over the rounds of client wall, client CPU and
    Prefect server CPU per object, and whether every round's objects were all found in
    the API (``counted``)."""
    summary = {}
    for kind in PREFECT_OBJECT_KINDS:
        costs = [run["costs"][kind] for run in part["runs"] if kind in run.get("costs", {})]
        if not costs:
            continue
        row = {
            "count": costs[0]["count"],
            "rounds": len(costs),
            "counted": all(cost["read_back"] == cost["expected"] for cost in costs),
            "read_back": costs[-1]["read_back"],
            "expected": costs[-1]["expected"],
        }
        for field in _FIELDS:
            values = [cost[field] for cost in costs if cost[field] is not None]
            row[field] = statistics.median(values) if values else None
        summary[kind] = row
    return summary


def fit_prefect_objects(settings: dict[str, Any]) -> dict[str, int]:
    """The Prefect objects the throughput table's tracked fit makes, at the default task
    granularity (a task per module per batch) with its one ``Generator``."""
    validation = int(settings["fit_samples"] * VALIDATION_SPLIT)
    steps = math.ceil((settings["fit_samples"] - validation) / settings["fit_batch_size"])
    validation_batches = math.ceil(validation / _VALIDATION_BATCH_SIZE)
    epochs = settings["fit_epochs"]
    # A step: the batch task and the optimizer-update task; a validation batch: its task.
    # Each holds the module's task, and each epoch's task holds them all.
    holding = epochs * (2 * steps + validation_batches)
    return {
        "steps": epochs * steps,
        "epochs": epochs,
        "outer_tasks": holding + epochs,
        "nested_tasks": holding,
        "name": f"the benchmark's tracked fit ({settings['fit_samples']} samples x "
        f"{epochs} epochs, batch {settings['fit_batch_size']})",
        "documents": epochs * steps + epochs + 1,
    }


def _meaning(kind: str, row: dict[str, Any], settings: dict[str, Any]) -> str:
    fit = fit_prefect_objects(settings)

    def cost(count: int) -> str:
        server = row["server_cpu_ms_per_object"]
        server_text = (
            "" if server is None else (f", {count * server / 1000:.2f} s of Prefect server CPU")
        )
        return (
            f"about {count * row['wall_ms_per_object'] / 1000:.2f} s of wall if awaited "
            f"in turn, {count * row['cpu_ms_per_object'] / 1000:.2f} s of client CPU"
            f"{server_text}"
        )

    if kind == "task":
        return (
            f"A training step makes 4 task runs at the default granularity: the batch "
            f"task and the optimizer-update task, each holding the module's task "
            f"(*task run inside a task run*); a validation batch makes 2; an epoch is "
            f"one more, holding its batches. {fit['name'].capitalize()}, "
            f"{fit['steps']} steps, makes {fit['outer_tasks']} that are not a module's "
            f"({fit['epochs']} of them epochs): {cost(fit['outer_tasks'])}."
        )
    if kind == "task_gathered":
        return (
            'Task runs started together, as with `task_granularity="sample"` (one per '
            "sample, gathered): the wall per object against the row above is what "
            "concurrency hides; the CPU is paid all the same, for every sample."
        )
    if kind == "nested_task":
        return (
            f"The module's task inside each batch or optimizer-update task: half of a "
            f"step's task runs, {fit['nested_tasks']} in {fit['name']}: "
            f'{cost(fit["nested_tasks"])}. `task_granularity="batch"` drops them.'
        )
    if kind == "subflow":
        return (
            f"A tuner trial is a subflow run. An epoch was one until 2026-12-03 and is "
            f"now a task run: {fit['name']} would pay {cost(fit['epochs'])} for its "
            f"{fit['epochs']} epochs as subflows, and the creation of each met the "
            f"SQLite API still writing the previous epoch's task runs (503, then "
            f"Prefect's 2 s client back-off)."
        )
    if kind == "markdown_artifact":
        return (
            f"A variable's version (only when its value changed: at most one per step), "
            f"the history table of each epoch, the summary: at most {fit['documents']} "
            f"in {fit['name']}, {cost(fit['documents'])}. Published in the "
            f"background, so their wall is off the fit's path; the CPU is not."
        )
    if kind == "flow":
        return (
            "What each fit, evaluate and predict pays to start and end its flow run, "
            "outside any flow run: about nine API round trips (flow, flow run, name, "
            "two states, two reads of the server's default result storage...). Since "
            "2026-12-03 it shares one async and one sync client with Prefect's engine "
            "(`orchestration/api_clients.py`), which built three, each with an SSL "
            f"context (about 35 ms). {fit['name'].capitalize()} has one: "
            f"{cost(1)}."
        )
    return (
        f"The fit's progress bar: at most one update per 2 s (the last value always "
        f"sent), in the background: a 10 s fit sends about 6 whatever its size, "
        f"{cost(6)}."
    )


def prefect_cost_lines(report: dict[str, Any]) -> list[str]:
    """The markdown table of the ``prefect_costs`` part and a sentence per object."""
    part = report["prefect_costs"]
    summary = part.get("summary") or summarize_prefect_costs(part)
    settings = report["settings"]
    lines = [
        "## What each Prefect object costs",
        "",
        "Plain `prefect` objects with synaprefect's options (async, `cache_policy=NONE`, "
        "`persist_result=False`), made in a row inside a flow run of their own in a "
        f"fresh worker process; medians of {len(part['runs'])} rounds. Client CPU "
        "includes sending Prefect's events; server CPU runs until the server has "
        "digested the objects, less its idle CPU over as long. Counted: the objects "
        "read back from the API (task runs, subflow runs, artifacts of the flow run).",
        "",
        "| Prefect object | per round | client wall / object | client CPU / object | "
        "Prefect server CPU / object | counted (expected) |",
        "|---|---|---|---|---|---|",
    ]
    for kind, row in summary.items():
        counted = ", ".join(
            _counted(name, value) for name, value in row["read_back"].items() if value
        )
        expected = "" if row["counted"] else f" **expected {row['expected']}**"
        lines.append(
            f"| {_LABELS[kind]} | {row['count']} | {_ms(row['wall_ms_per_object'])} | "
            f"{_ms(row['cpu_ms_per_object'])} | {_ms(row['server_cpu_ms_per_object'])} | "
            f"{counted or '-'}{expected} |"
        )
    lines.append("")
    lines += [
        f"- *{_LABELS[kind]}*: {_meaning(kind, row, settings)}" for kind, row in summary.items()
    ]
    return lines + [""]


def _counted(name: str, value: int) -> str:
    """``3 task runs``, ``1 artifact``."""
    words = name.replace("_", " ")
    return f"{value} {words[:-1] if value == 1 else words}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"
