"""Medians, ratios against the targets, and the JSON and markdown reports."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.prefect_report import prefect_cost_lines, summarize_prefect_costs

__all__ = ["summarize", "storage_costs", "targets", "to_markdown", "write_reports"]

# Goals of issue 15 ("Fast by default"), with synaprefect's defaults: ratios of wall
# times, and the client's CPU per LM call in ms.
EVALUATE_VS_DSPY_MIN = 1.5
LATENCY_BOUND_MIN = 0.6
FIT_ON_OFF_MAX = 1.2
CPU_PER_CALL_MAX_MS = 1.5
# Other goals: megabytes, seconds.
RSS_MAX_MB = 500.0
DEMO_MAX_S = 60.0
# An epoch on 4x the samples may take at most 5x as long (linear: 4x); for other sizes the
# same allowance, 1.25x the ratio of the sizes.
EPOCH_SIZE_SLACK = 1.25


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median wall and CPU time of a workload's runs, with the spread and per-request
    client CPU (CPU time of the client process divided by the LM requests)."""
    walls = [run["wall_s"] for run in runs]
    cpus = [run["cpu_s"] for run in runs]
    requests = statistics.median(run["requests"] for run in runs)
    server = [
        run["prefect_server_cpu_s"] for run in runs if run.get("prefect_server_cpu_s") is not None
    ]
    summary = {
        "wall_s": statistics.median(walls),
        "wall_min_s": min(walls),
        "wall_max_s": max(walls),
        "cpu_s": statistics.median(cpus),
        "cpu_ms_per_request": 1000 * statistics.median(cpus) / requests if requests else None,
        "requests": requests,
        "prefect_server_cpu_s": statistics.median(server) if server else None,
        "rounds": len(runs),
    }
    for key in ("accuracy", "val_reward"):
        if key in runs[0]:
            summary[key] = min(run[key] for run in runs)
    for key in ("largest_variable_artifact_bytes", "variable_artifact_versions"):
        if key in runs[0]:
            summary[key] = max(run[key] for run in runs)
    # The storage workload: the run store's I/O, counted and timed in the worker.
    for key in (
        "persisted_steps",
        "expected_steps",
        "replayed_steps",
        "persist_s",
        "persist_ms_per_step",
        "store_open_s",
        "store_finish_s",
        "remote_objects_written",
        "remote_write_s",
        "s3_server_cpu_s",
    ):
        values = [run[key] for run in runs if run.get(key) is not None]
        if values:
            summary[key] = statistics.median(values)
    return summary


def _per_step(difference_s: float, steps: float | None) -> float | None:
    """Seconds over ``steps`` steps, in ms per step."""
    return 1000 * difference_s / steps if steps else None


def storage_costs(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per kind of job of the storage workload (``fit``, ``evaluate``): the medians on
    the local disk and on S3, and what S3 adds per persisted step.

    ``steps`` is the median count of steps the S3 runs persisted (``RunStore._persist``
    calls, counted in the worker); ``added_ms_per_step`` is (median wall on S3 - median
    wall local) / steps, and ``persist_added_ms_per_step`` the same for the time spent
    inside ``_persist`` (the step's writes alone). ``fixed_added_s``: what opening and
    finishing the store (listing, deleting, the complete marker, retention) adds."""
    entries = report.get("storage", {})
    costs = {}
    for kind in dict.fromkeys(entry["params"]["kind"] for entry in entries.values()):
        local = entries.get(f"storage_{kind}_local", {}).get("summary")
        remote = entries.get(f"storage_{kind}_s3", {}).get("summary")
        if not local or not remote:
            continue
        steps = remote.get("persisted_steps")
        expected = entries[f"storage_{kind}_s3"].get("expected_steps")
        fixed = [s.get("store_open_s", 0.0) + s.get("store_finish_s", 0.0) for s in (local, remote)]
        costs[kind] = {
            "n": entries[f"storage_{kind}_s3"]["params"]["n"],
            "batch_size": entries[f"storage_{kind}_s3"]["params"]["batch_size"],
            "steps": steps,
            "expected_steps": expected,
            "steps_match": steps == expected == local.get("persisted_steps"),
            "wall_local_s": local["wall_s"],
            "wall_s3_s": remote["wall_s"],
            "wall_ratio": _ratio(remote["wall_s"], local["wall_s"]),
            "added_ms_per_step": _per_step(remote["wall_s"] - local["wall_s"], steps),
            "persist_ms_per_step_local": local.get("persist_ms_per_step"),
            "persist_ms_per_step_s3": remote.get("persist_ms_per_step"),
            "persist_added_ms_per_step": _per_step(
                remote.get("persist_s", 0.0) - local.get("persist_s", 0.0), steps
            ),
            "fixed_added_s": fixed[1] - fixed[0],
        }
    return costs


def _epoch_sizes(report: dict[str, Any]) -> tuple[int, int] | None:
    """The smaller and larger sample counts of the epoch-size workload, if it ran."""
    sizes = sorted({entry["params"]["n"] for entry in report.get("epoch_size", {}).values()})
    return (sizes[0], sizes[-1]) if len(sizes) >= 2 else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _throughput_targets(
    settings: dict[str, Any],
    wall: dict[str, float],
    per_request: dict[str, float | None],
    machine_cpu: dict[str, float],
    add: Callable[..., None],
) -> None:
    """The rows of issue 15 (``issue=True``) and the informative rows of the throughput
    part, added with ``add``."""

    def at_least(value: float | None, goal: float) -> bool | None:
        return None if value is None else value >= goal

    def at_most(value: float | None, goal: float) -> bool | None:
        return None if value is None else value <= goal

    bound = settings["latency_bound_s"]
    evaluate = f"evaluate {settings['evaluate_samples']:,} samples, one Generator, defaults"
    # The four measures of issue 15, from this run's medians.
    for state in ("on", "off"):
        value = _ratio(wall.get("dspy"), wall.get(f"evaluate_{state}"))
        add(
            f"{evaluate}, tracking {state}: DSPy Evaluate time / synaprefect time",
            value,
            f">= {EVALUATE_VS_DSPY_MIN}x",
            at_least(value, EVALUATE_VS_DSPY_MIN),
            "x",
            True,
        )
    for state in ("on", "off"):
        value = _ratio(bound, wall.get(f"evaluate_{state}"))
        add(
            f"{evaluate}, tracking {state}: latency bound ({bound:.2f} s) / synaprefect time",
            value,
            f">= {LATENCY_BOUND_MIN}",
            at_least(value, LATENCY_BOUND_MIN),
            "x",
            True,
        )
    value = _ratio(wall.get("fit_on"), wall.get("fit_off"))
    add(
        f"fit {settings['fit_samples']} samples x {settings['fit_epochs']} epochs, batch "
        f"{settings['fit_batch_size']}, RandomFewShot: tracked / untracked wall (defaults)",
        value,
        f"<= {FIT_ON_OFF_MAX}x",
        at_most(value, FIT_ON_OFF_MAX),
        "x",
        True,
    )
    for state in ("on", "off"):
        value = per_request.get(f"evaluate_{state}")
        add(
            f"client CPU per LM call, {evaluate}, tracking {state}",
            value,
            f"<= {CPU_PER_CALL_MAX_MS} ms",
            at_most(value, CPU_PER_CALL_MAX_MS),
            "ms",
            True,
        )
    # Informative: where the defaults stand against the litellm transport and DSPy, and
    # what a bare client gets on this machine (the goal against DSPy is only reachable
    # when 1.5x DSPy is slower than that).
    add(
        "DSPy Evaluate time / bare aiohttp client time",
        _ratio(wall.get("dspy"), wall.get("aiohttp")),
        "informative: the most any client could reach against DSPy here",
        None,
        "x",
    )
    for state in ("on", "off"):
        add(
            f"bare aiohttp client time / synaprefect evaluate time, defaults, tracking {state}",
            _ratio(wall.get("aiohttp"), wall.get(f"evaluate_{state}")),
            "informative: the share of a bare client's speed the defaults keep",
            None,
            "x",
        )
    for state in ("on", "off"):
        add(
            f"DSPy Evaluate time / synaprefect evaluate time, transport=litellm, tracking {state}",
            _ratio(wall.get("dspy"), wall.get(f"evaluate_{state}_litellm")),
            "informative: the litellm transport, for comparison",
            None,
            "x",
        )
    for key, label in (
        ("aiohttp", "bare aiohttp client"),
        ("dspy", "DSPy Evaluate"),
        ("evaluate_on_litellm", "evaluate, transport=litellm, tracking on"),
        ("evaluate_off_litellm", "evaluate, transport=litellm, tracking off"),
        ("fit_on", "fit, defaults, tracking on"),
        ("fit_off", "fit, defaults, tracking off"),
    ):
        add(
            f"client CPU per LM call, {label}",
            per_request.get(key),
            "informative: the per-call cost of the client stack",
            None,
            "ms",
        )
    add(
        "fit tracked / untracked, client + Prefect server CPU (defaults)",
        _ratio(machine_cpu.get("fit_on"), machine_cpu.get("fit_off")),
        "informative: CPU that tracking adds",
        None,
        "x",
    )
    for mode in ("shared", "per_call"):
        add(
            f"LM calls with a Prefect rate limit taken {mode.replace('_', ' ')} / without "
            f"one (wall)",
            _ratio(wall.get(f"rate_limit_{mode}"), wall.get("rate_limit_none")),
            "informative: what sharing a provider's rate limit costs",
            None,
            "x",
        )


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it is met (None: not measured)."""
    summary = {key: entry["summary"] for key, entry in report.get("throughput", {}).items()}
    wall = {key: value["wall_s"] for key, value in summary.items()}
    per_request = {key: value["cpu_ms_per_request"] for key, value in summary.items()}
    # Client and Prefect server CPU together: what tracking costs a machine, whatever else
    # runs on it.
    machine_cpu = {
        key: value["cpu_s"] + (value["prefect_server_cpu_s"] or 0.0)
        for key, value in summary.items()
    }
    rows = []

    def add(
        name: str, value: float | None, goal: str, met: bool | None, unit: str, issue: bool = False
    ) -> None:
        rows.append(
            {
                "target": name,
                "measured": value,
                "unit": unit,
                "goal": goal,
                "met": met,
                "issue": issue,
            }
        )

    settings = report["settings"]
    if summary:  # the throughput part ran
        _throughput_targets(settings, wall, per_request, machine_cpu, add)
    for configuration, run in report.get("memory", {}).items():
        add(
            f"peak RSS, evaluate of {settings['rss_samples']} samples ({configuration})",
            run["peak_rss_mb"],
            f"<= {RSS_MAX_MB:.0f} MB",
            run["peak_rss_mb"] <= RSS_MAX_MB,
            "MB",
        )
    sizes = _epoch_sizes(report)
    if sizes:
        small, big = sizes
        epoch = {key: entry["summary"] for key, entry in report["epoch_size"].items()}
        goal = EPOCH_SIZE_SLACK * big / small
        epoch_cpu = {
            key: value["cpu_s"] + (value["prefect_server_cpu_s"] or 0.0)
            for key, value in epoch.items()
        }
        for state in ("off", "on"):
            value = _ratio(
                epoch.get(f"epoch_{big}_{state}", {}).get("wall_s"),
                epoch.get(f"epoch_{small}_{state}", {}).get("wall_s"),
            )
            add(
                f"epoch {big}/{small} time ratio (tracking {state})",
                value,
                f"<= {goal:g} (linear: {big / small:g})",
                None if value is None else value <= goal,
                "x",
            )
        for state in ("off", "on"):
            add(
                f"epoch {big}/{small} client + Prefect server CPU ratio (tracking {state})",
                _ratio(
                    epoch_cpu.get(f"epoch_{big}_{state}"), epoch_cpu.get(f"epoch_{small}_{state}")
                ),
                "informative: steadier than wall time on a loaded machine",
                None,
                "x",
            )
        for n in sizes:
            add(
                f"largest variable artifact version, epoch of {n} samples (tracking on)",
                epoch.get(f"epoch_{n}_on", {}).get("largest_variable_artifact_bytes"),
                "informative: what each step publishes",
                None,
                "bytes",
            )
    for kind, cost in storage_costs(report).items():
        job = f"{kind} of {cost['n']} samples, {cost['steps']} steps"
        add(
            f"remote storage cost per step, loopback S3 vs local disk (ms) ({job})",
            cost["added_ms_per_step"],
            "informative: (wall S3 - wall local) / steps",
            None,
            "ms",
        )
        add(
            f"step writes per step, loopback S3 - local disk (ms) ({job})",
            cost["persist_added_ms_per_step"],
            "informative: time inside RunStore._persist",
            None,
            "ms",
        )
        add(
            f"wall with run state on loopback S3 / on local disk ({job})",
            cost["wall_ratio"],
            "informative",
            None,
            "x",
        )
    for home, run in report.get("demo", {}).items():
        add(
            f"make demo ({home.replace('_', ' ')})",
            run["wall_s"],
            f"<= {DEMO_MAX_S:.0f} s",
            run["wall_s"] <= DEMO_MAX_S,
            "s",
        )
    return rows


def _number(value: float | None, digits: int = 2, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def to_markdown(report: dict[str, Any]) -> str:
    """The tables of ``latest.md``."""
    settings, machine = report["settings"], report["machine"]
    packages = ", ".join(
        f"{name} {version}" for name, version in machine["packages"].items() if version
    )
    lines = [
        "# synaprefect benchmarks",
        "",
        f"{report['started_at']}; {machine['nproc']} CPUs ({machine['cpu_model']}), Python "
        f"{machine['python']}; {packages}. Load average at start / end: "
        f"{', '.join(f'{v:.1f}' for v in report['load_average_start'])} / "
        f"{', '.join(f'{v:.1f}' for v in report['load_average_end'])}. "
        f"Total {report['duration_s'] / 60:.1f} min.",
        "",
        f"Simulated LM latency {settings['latency'] * 1000:.0f} ms, concurrency "
        f"{settings['concurrency']}; evaluate: {settings['evaluate_samples']} samples "
        f"(latency bound {settings['latency_bound_s']:.2f} s); fit: "
        f"{settings['fit_samples']} samples x {settings['fit_epochs']} epochs, batch "
        f"{settings['fit_batch_size']}. Medians of {settings['rounds']} interleaved rounds, "
        "one fresh process per run, after a warm-up run in that process.",
        "",
    ]
    if report.get("throughput"):
        lines += [
            "## Throughput",
            "",
            "| workload | wall (median) | min - max | client CPU / request | "
            "Prefect server CPU | LM requests | accuracy |",
            "|---|---|---|---|---|---|---|",
        ]
        for entry in report["throughput"].values():
            s = entry["summary"]
            quality = s.get("accuracy", s.get("val_reward"))
            lines.append(
                f"| {entry['label']} | {s['wall_s']:.2f} s | {s['wall_min_s']:.2f} - "
                f"{s['wall_max_s']:.2f} s | {_number(s['cpu_ms_per_request'], 2, ' ms')} | "
                f"{_number(s['prefect_server_cpu_s'], 2, ' s')} | {s['requests']:.0f} | "
                f"{_number(quality)} |"
            )
        lines.append("")
    issue = [row for row in report.get("targets", []) if row.get("issue")]
    others = [row for row in report.get("targets", []) if not row.get("issue")]
    if issue:
        lines += [
            "## Targets (issue 15: fast by default)",
            "",
            "synaprefect with its defaults (no transport given, the default task "
            "granularity); every ratio from the medians of this run.",
            "",
        ]
        lines += _target_table(issue)
    if report.get("prefect_costs"):
        lines += prefect_cost_lines(report)
    if others:
        lines += ["## Other measures", ""] + _target_table(others)
    if report.get("resume"):
        resume = report["resume"]
        lines += [
            "## Resume (fit, tracking on, killed with SIGKILL at 50 % of its calls)",
            "",
            "| run | wall | LM requests | replayed steps |",
            "|---|---|---|---|",
        ]
        for name in ("uninterrupted", "killed", "resumed"):
            run = resume[name]
            lines.append(
                f"| {name} | {run['wall_s']:.2f} s | {run['requests']} | "
                f"{run.get('replayed_steps', '-')} |"
            )
        lines += [
            "",
            f"Calls paid twice (killed + resumed - uninterrupted): "
            f"{resume['calls_paid_twice']}; resumed / uninterrupted time: "
            f"{resume['resumed_time_ratio']:.2f}.",
            "",
        ]
    if report.get("memory"):
        lines += [
            f"## Memory (tracked evaluate of {settings['rss_samples']} samples, batch "
            f"{settings['rss_batch_size']})",
            "",
            "| configuration | RSS before | peak RSS | wall |",
            "|---|---|---|---|",
        ]
        for configuration, run in report["memory"].items():
            lines.append(
                f"| {configuration} | {run['rss_before_mb']:.0f} MB | "
                f"{run['peak_rss_mb']:.0f} MB | {run['wall_s']:.1f} s |"
            )
        lines.append("")
    if report.get("scale_out"):
        lines += _scale_out_lines(report)
    if report.get("epoch_size"):
        lines += _epoch_size_lines(report)
    if report.get("storage"):
        lines += _storage_lines(report)
    if report.get("demo"):
        demo = report["demo"]
        lines += [
            "## make demo (after setup)",
            "",
            f"Fresh PREFECT_HOME: {demo['fresh_prefect_home']['wall_s']:.1f} s; warm: "
            f"{demo['warm_prefect_home']['wall_s']:.1f} s.",
            "",
        ]
    return "\n".join(lines)


def _target_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | measured | goal | met |", "|---|---|---|---|"]
    for row in rows:
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        unit = {"x": "x", "MB": " MB", "s": " s", "bytes": " bytes", "ms": " ms"}[row["unit"]]
        digits = 0 if row["unit"] == "bytes" else 2
        lines.append(
            f"| {row['target']} | {_number(row['measured'], digits, unit)} | "
            f"{row['goal']} | {met} |"
        )
    return lines + [""]


def _scale_out_lines(report: dict[str, Any]) -> list[str]:
    settings = report["settings"]
    entries = report["scale_out"]
    lines = [
        f"## Scale-out (evaluate of {settings['scale_out_samples']} samples, batch "
        f"{settings['scale_out_batch_size']}, tracking on)",
        "",
        "| CPU per sample (reward) | mode | wall (median) | min - max | vs in-process |",
        "|---|---|---|---|---|",
    ]
    for entry in entries.values():
        s = entry["summary"]
        base = entries[f"in_process_cpu{entry['cpu_ms']:g}"]["summary"]["wall_s"]
        lines.append(
            f"| {entry['cpu_ms']:g} ms | {entry['mode'].replace('_', ' ')} | "
            f"{s['wall_s']:.2f} s | {s['wall_min_s']:.2f} - {s['wall_max_s']:.2f} s "
            f"| {base / s['wall_s']:.2f}x |"
        )
    return lines + [""]


def _epoch_size_lines(report: dict[str, Any]) -> list[str]:
    entries = report["epoch_size"]
    first = next(iter(entries.values()))["params"]
    lines = [
        f"## Epoch size (fit, 1 epoch, RandomFewShot, batch {first['batch_size']}, "
        "validation split 0.2, defaults)",
        "",
        "| samples | tracking | wall (median) | min - max | client CPU | "
        "Prefect server CPU | LM requests | largest variable artifact version |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in entries.values():
        s, params = entry["summary"], entry["params"]
        largest = s.get("largest_variable_artifact_bytes")
        lines.append(
            f"| {params['n']} | {'on' if params['tracking'] else 'off'} | "
            f"{s['wall_s']:.2f} s | {s['wall_min_s']:.2f} - {s['wall_max_s']:.2f} s | "
            f"{s['cpu_s']:.2f} s | {_number(s['prefect_server_cpu_s'], 2, ' s')} | "
            f"{s['requests']:.0f} | "
            f"{'-' if largest is None else f'{largest:,.0f} bytes'} |"
        )
    sizes = _epoch_sizes(report)
    if sizes:
        small, big = sizes
        walls = {key: entry["summary"]["wall_s"] for key, entry in entries.items()}
        ratios = []
        for state in ("off", "on"):
            ratio = _ratio(walls.get(f"epoch_{big}_{state}"), walls.get(f"epoch_{small}_{state}"))
            ratios.append(f"tracking {state} {_number(ratio, 2, 'x')}")
        lines += [
            "",
            f"Time {big} / {small} samples (linear: {big / small:g}x): {'; '.join(ratios)}.",
        ]
    return lines + [""]


def _storage_lines(report: dict[str, Any]) -> list[str]:
    entries = report["storage"]
    first = next(iter(entries.values()))["params"]
    lines = [
        f"## Run state on storage (tracking off, defaults otherwise, batch "
        f"{first['batch_size']}): local disk vs loopback S3 (moto)",
        "",
        "| workload | wall (median) | min - max | client CPU | S3 server CPU | "
        "steps persisted (expected) | step writes / step | store open + finish | "
        "objects written |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in entries.values():
        s = entry["summary"]
        open_finish = s.get("store_open_s", 0.0) + s.get("store_finish_s", 0.0)
        s3_cpu = s.get("s3_server_cpu_s") if entry["params"]["storage"] == "s3" else None
        lines.append(
            f"| {entry['label']} | {s['wall_s']:.2f} s | {s['wall_min_s']:.2f} - "
            f"{s['wall_max_s']:.2f} s | {s['cpu_s']:.2f} s | {_number(s3_cpu, 2, ' s')} | "
            f"{_number(s.get('persisted_steps'), 0)} ({entry.get('expected_steps', '?')}) | "
            f"{_number(s.get('persist_ms_per_step'), 1, ' ms')} | "
            f"{open_finish * 1000:.0f} ms | {_number(s.get('remote_objects_written'), 0)} |"
        )
    lines.append("")
    for kind, cost in storage_costs(report).items():
        check = (
            ""
            if cost["steps_match"]
            else (
                f" **Steps counted ({cost['steps']}) differ from the sizes' "
                f"{cost['expected_steps']}.**"
            )
        )
        lines.append(
            f"- {kind} of {cost['n']} samples, {cost['steps']} steps: S3 / local "
            f"{_number(cost['wall_ratio'], 2, 'x')}; "
            f"{_number(cost['added_ms_per_step'], 1, ' ms')} more per step (difference of "
            f"the wall medians / steps); the step's writes "
            f"{_number(cost['persist_ms_per_step_local'], 1, ' ms')} local, "
            f"{_number(cost['persist_ms_per_step_s3'], 1, ' ms')} on S3; opening and "
            f"finishing the store {cost['fixed_added_s'] * 1000:+.0f} ms per job.{check}"
        )
    return lines + [""]


def write_reports(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Add summaries and targets to ``report``; write ``latest.json`` and ``latest.md``."""
    for entry in [
        *report.get("throughput", {}).values(),
        *report.get("scale_out", {}).values(),
        *report.get("epoch_size", {}).values(),
        *report.get("storage", {}).values(),
    ]:
        entry["summary"] = summarize(entry["runs"])
    report["targets"] = targets(report)
    if report.get("prefect_costs"):
        report["prefect_costs"]["summary"] = summarize_prefect_costs(report["prefect_costs"])
    if report.get("storage"):
        report["storage_costs"] = storage_costs(report)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = folder / "latest.json", folder / "latest.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    markdown_path.write_text(to_markdown(report) + "\n")
    return json_path, markdown_path
