"""The benchmark harness behind ``make bench``.

It starts the simulated LM (its own process, ``--latency`` seconds per request) and a
Prefect API server (the command and services of Prefect's ephemeral server, on a database
under ``benchmarks/results/scratch/``), then:

1. runs the throughput workloads in ``--rounds`` rounds, each round running every
   workload once, in a fresh process, in an order rotated by one each round;
2. measures what each Prefect object costs (task runs, subflow runs, artifacts, flow
   runs) in ``--rounds`` fresh processes; runs the resume workload, the peak-memory workload and
   ``make demo`` once each;
   the scale-out workload in ``--rounds`` rounds of its own, the epoch-size workload
   (one epoch of fit on 400 and 1,600 samples) in ``--epoch-rounds`` rounds, the storage
   workload (run state on the local disk vs on a loopback S3 bucket) in ``--rounds``;
3. writes medians, ratios and targets to ``benchmarks/results/latest.json`` and
   ``latest.md``.

``python -m benchmarks.run --quick`` is a one-round, small-size sanity run (about four
to five minutes). ``--only`` takes parts as well as throughput keys: ``--only epoch_size`` runs
the epoch-size workload alone, ``--only storage`` the storage one (about 2 minutes),
``--only prefect_costs`` the Prefect objects (about 2 minutes).
Scratch files go to ``benchmarks/results/scratch/`` (not committed).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.launch import REPO, run_worker
from benchmarks.report import write_reports
from benchmarks.workloads.common import (
    PREFECT_SERVER_PID_ENV,
    Endpoint,
    find_api_server_pid,
    reset_server,
    wait_until_idle,
)
from benchmarks.workloads.rate_limit import RATE_LIMIT_MODES
from synaprefect._prefect_defaults import PREFECT_DEFAULTS

__all__ = [
    "Settings",
    "Spec",
    "throughput_specs",
    "epoch_size_specs",
    "storage_specs",
    "PARTS",
    "main",
    "skipped_parts",
    "use_worker_environment",
]

RESULTS = REPO / "benchmarks" / "results"
# The parts of a run, in the order they run; ``--skip`` and ``--only`` take these names.
PARTS = (
    "throughput",
    "prefect_costs",
    "resume",
    "epoch_size",
    "storage",
    "scale_out",
    "memory",
    "demo",
)
PACKAGES = (
    "synaprefect",
    "prefect",
    "litellm",
    "dspy",
    "openai",
    "aiohttp",
    "httpx",
    "jsonschema",
    "pydantic",
)


@dataclass(frozen=True)
class Settings:
    """Sizes and repetitions of one benchmark run."""

    latency: float = 0.05
    concurrency: int = 32
    rounds: int = 3
    warmup: int = 16
    evaluate_samples: int = 1000
    fit_samples: int = 200
    fit_epochs: int = 2
    fit_batch_size: int = 16
    rss_samples: int = 10_000
    rss_batch_size: int = 1000
    rate_limit_calls: int = 200
    scale_out_samples: int = 256
    scale_out_batch_size: int = 16
    scale_out_cpu_ms: float = 50.0
    # One epoch of fit on each size (the smaller first), tracking off and on, in rounds
    # of their own: one round takes about 5 minutes (the 1,600-sample epochs most of it).
    epoch_sizes: tuple[int, int] = (400, 1600)
    epoch_batch_size: int = 16
    epoch_rounds: int = 1
    # Run state on the local disk vs on a loopback S3 bucket: an untracked fit (1 epoch)
    # and an evaluate, in small batches so that there are many steps to persist.
    storage_fit_samples: int = 100
    storage_evaluate_samples: int = 256
    storage_batch_size: int = 8
    # Plain Prefect objects measured per kind in each round (``workloads/prefect_costs``).
    prefect_cost_tasks: int = 200
    prefect_cost_subflows: int = 20
    prefect_cost_artifacts: int = 20

    @property
    def latency_bound_s(self) -> float:
        """The fastest any client can evaluate: n / concurrency round trips."""
        return self.evaluate_samples / self.concurrency * self.latency


@dataclass(frozen=True)
class Spec:
    """One throughput workload: a worker and its arguments."""

    key: str
    label: str
    worker: str
    params: dict[str, Any]


def throughput_specs(settings: Settings) -> list[Spec]:
    """The workloads run in every round. synaprefect runs with its defaults (no
    ``transport`` given, the default task granularity), tracking on and off; evaluate
    with ``transport="litellm"`` too, for comparison."""
    n, c = settings.evaluate_samples, settings.concurrency
    fit = {
        "n": settings.fit_samples,
        "epochs": settings.fit_epochs,
        "batch_size": settings.fit_batch_size,
        "concurrency": c,
    }
    specs = [
        Spec(
            "litellm",
            f"raw litellm.acompletion, gather + semaphore {c}",
            "litellm",
            {"n": n, "concurrency": c},
        ),
        Spec(
            "aiohttp",
            f"bare aiohttp client, gather + semaphore {c} (no validation, journal or retries)",
            "aiohttp",
            {"n": n, "concurrency": c},
        ),
        Spec("dspy", f"DSPy Evaluate, {c} threads (cache off)", "dspy", {"n": n, "threads": c}),
    ]
    runs = [
        ("evaluate", {"n": n, "concurrency": c}, None),
        ("fit", fit, None),
        ("evaluate", {"n": n, "concurrency": c}, "litellm"),
    ]
    for kind, params, transport in runs:
        for tracking in (True, False):
            state = "on" if tracking else "off"
            suffix = f"_{transport}" if transport else ""
            how = f"transport={transport}" if transport else "defaults"
            specs.append(
                Spec(
                    f"{kind}_{state}{suffix}",
                    f"synaprefect {kind}, {how}, tracking {state}",
                    kind,
                    {**params, "tracking": tracking, "transport": transport},
                )
            )
    for mode in RATE_LIMIT_MODES:
        specs.append(
            Spec(
                f"rate_limit_{mode}",
                f"{settings.rate_limit_calls} LM calls, Prefect rate limit taken: {mode}",
                "rate_limit",
                {"n": settings.rate_limit_calls, "concurrency": c, "mode": mode},
            )
        )
    return specs


def epoch_size_specs(settings: Settings) -> list[Spec]:
    """One epoch of ``fit`` (``RandomFewShot``, the defaults) on each of
    ``settings.epoch_sizes`` samples, tracking off and on: how the time of an epoch and
    the variable artifacts grow with the data."""
    specs = []
    for n in settings.epoch_sizes:
        for tracking in (False, True):
            state = "on" if tracking else "off"
            specs.append(
                Spec(
                    f"epoch_{n}_{state}",
                    f"fit, 1 epoch of {n} samples, tracking {state}",
                    "fit",
                    {
                        "n": n,
                        "epochs": 1,
                        "batch_size": settings.epoch_batch_size,
                        "concurrency": settings.concurrency,
                        "tracking": tracking,
                        "name": "bench_epoch_size",
                        "artifact_sizes": True,
                    },
                )
            )
    return specs


def storage_specs(settings: Settings) -> list[Spec]:
    """An untracked fit (``RandomFewShot``, 1 epoch) and evaluate (the defaults)
    in batches of ``settings.storage_batch_size``, with the run store on the local disk
    (the default storage) and on a loopback S3 bucket (``SYNAPREFECT_STORAGE``)."""
    specs = []
    for kind, n in (
        ("fit", settings.storage_fit_samples),
        ("evaluate", settings.storage_evaluate_samples),
    ):
        for storage in ("local", "s3"):
            where = "local disk" if storage == "local" else "loopback S3"
            specs.append(
                Spec(
                    f"storage_{kind}_{storage}",
                    f"{kind} of {n} samples, run state on {where}",
                    "storage",
                    {
                        "kind": kind,
                        "n": n,
                        "batch_size": settings.storage_batch_size,
                        "concurrency": settings.concurrency,
                        "storage": storage,
                    },
                )
            )
    return specs


def _log(message: str, started: float) -> None:
    print(f"[bench {time.perf_counter() - started:6.0f}s] {message}", file=sys.stderr, flush=True)


def _machine() -> dict[str, Any]:
    cpu_model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


def use_worker_environment(scratch: Path) -> dict[str, str]:
    """Make this process's environment the one every worker runs with, and return it:
    its own homes, offline settings, and no inherited Prefect configuration (a
    developer's PREFECT_API_URL must not receive these runs). The Prefect server and
    the simulated LM started here inherit it; call it before anything imports Prefect."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        {
            # The settings a user's process gets from `import synaprefect`: the Prefect
            # server of the benchmark is started with this environment too.
            **PREFECT_DEFAULTS,
            "PREFECT_HOME": str(scratch / "prefect"),
            # What `synaprefect demo` does: Prefect's one line per run stays off the console.
            "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
            "SYNAPREFECT_HOME": str(scratch / "home"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "DSPY_CACHEDIR": str(scratch / "dspy-cache"),
        }
    )
    for key in [key for key in os.environ if key.startswith("PREFECT_")]:
        del os.environ[key]
    os.environ.update(env)
    return env


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = Settings()
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument(
        "--latency",
        type=float,
        default=defaults.latency,
        help="seconds the simulated LM takes per request",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=defaults.evaluate_samples,
        help="samples of the evaluate workloads",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated keys of the throughput workloads and/or parts "
        f"({','.join(PARTS)}): only what is named runs (keys: the throughput part, "
        "with those workloads)",
    )
    parser.add_argument(
        "--skip", default="", help=f"comma-separated parts to skip: {','.join(PARTS)}"
    )
    parser.add_argument(
        "--epoch-sizes",
        default=None,
        help="the two sample counts of the epoch-size workload "
        f"(default: {','.join(map(str, defaults.epoch_sizes))})",
    )
    parser.add_argument(
        "--epoch-rounds",
        type=int,
        default=defaults.epoch_rounds,
        help="rounds of the epoch-size workload (about 5 minutes each)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="one round at small sizes, no demo (a sanity run)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder of latest.json and latest.md (default: "
        "benchmarks/results, or its scratch/ folder with --quick)",
    )
    return parser.parse_args(argv)


def _throughput(
    specs: list[Spec],
    settings: Settings,
    endpoint: Endpoint,
    env: dict[str, str],
    scratch: Path,
    api_pid: int,
    started: float,
) -> dict[str, Any]:
    """Every spec once per round, in an order rotated by one each round."""
    results: dict[str, Any] = {
        spec.key: {"label": spec.label, "worker": spec.worker, "params": spec.params, "runs": []}
        for spec in specs
    }
    for round_index in range(settings.rounds):
        shift = round_index % len(specs)
        for spec in specs[shift:] + specs[:shift]:
            _log(f"round {round_index + 1}/{settings.rounds}: {spec.key}", started)
            reset_server(endpoint)
            results[spec.key]["runs"].append(
                run_worker(
                    spec.worker,
                    endpoint.base_url,
                    spec.params,
                    env=env,
                    scratch=scratch,
                    warmup=settings.warmup,
                )
            )
            wait_until_idle(api_pid)
    return results


def _prefect_costs(
    settings: Settings, endpoint: Endpoint, env: dict[str, str], scratch: Path, api_pid: int
) -> dict[str, Any]:
    """The Prefect objects measured in ``settings.rounds`` fresh worker processes, each
    kind once per round, the kinds' order rotated by one each round."""
    params = {
        "tasks": settings.prefect_cost_tasks,
        "subflows": settings.prefect_cost_subflows,
        "artifacts": settings.prefect_cost_artifacts,
    }
    runs = []
    for round_index in range(settings.rounds):
        wait_until_idle(api_pid)
        runs.append(
            run_worker(
                "prefect_costs",
                endpoint.base_url,
                {**params, "order": round_index},
                env=env,
                scratch=scratch,
            )
        )
    return {"params": params, "runs": runs}


def _with_servers(
    report: dict[str, Any],
    settings: Settings,
    args: argparse.Namespace,
    skip: set[str],
    env: dict[str, str],
    scratch: Path,
    started: float,
) -> None:
    """The workloads that need the simulated LM and the Prefect API; fills ``report``."""
    from benchmarks.workloads.resume import resume_workload
    from synaprefect.testing import SimulatedLM
    from synaprefect.testing.prefect_harness import start_prefect_api

    _log(f"starting the simulated LM ({settings.latency * 1000:.0f} ms) and Prefect API", started)
    with SimulatedLM(
        latency=settings.latency, mode="process", responder="benchmarks.responders:respond"
    ) as server:
        api = start_prefect_api(scratch / "prefect-db", template_dir=scratch / "template")
        try:
            api_pid = find_api_server_pid(api.api_url)
            env = {**env, "PREFECT_API_URL": api.api_url, PREFECT_SERVER_PID_ENV: str(api_pid)}
            endpoint = Endpoint(server.base_url)
            if "throughput" not in skip:
                keys = [key for key in args.only.split(",") if key and key not in PARTS]
                specs = [
                    spec for spec in throughput_specs(settings) if not keys or spec.key in keys
                ]
                report["throughput"] = _throughput(
                    specs, settings, endpoint, env, scratch, api_pid, started
                )
            if "prefect_costs" not in skip:
                _log("Prefect objects: task runs, subflow runs, artifacts", started)
                report["prefect_costs"] = _prefect_costs(settings, endpoint, env, scratch, api_pid)
            if "resume" not in skip:
                _log("resume: uninterrupted, killed at 50 %, resumed", started)
                report["resume"] = resume_workload(
                    endpoint,
                    {
                        "n": settings.fit_samples,
                        "epochs": settings.fit_epochs,
                        "batch_size": settings.fit_batch_size,
                        "concurrency": settings.concurrency,
                        "tracking": True,
                    },
                    env=env,
                    scratch=scratch,
                )
            if "epoch_size" not in skip:
                _log(
                    "epoch size: one epoch of fit on "
                    f"{' and '.join(map(str, settings.epoch_sizes))} samples",
                    started,
                )
                report["epoch_size"] = _throughput(
                    epoch_size_specs(settings),
                    replace(settings, rounds=settings.epoch_rounds),
                    endpoint,
                    env,
                    scratch,
                    api_pid,
                    started,
                )
            if "storage" not in skip:
                from benchmarks.workloads.storage import storage_workload

                _log("storage: run state on the local disk vs on a loopback S3 bucket", started)
                report["storage"] = storage_workload(
                    endpoint,
                    storage_specs(settings),
                    rounds=settings.rounds,
                    env=env,
                    scratch=scratch,
                    warmup=settings.warmup,
                    log=lambda message: _log(message, started),
                )
            if "scale_out" not in skip:
                from benchmarks.workloads.scale_out import scale_out_workload

                _log("scale-out: in-process vs work pool vs Dask", started)
                report["scale_out"] = scale_out_workload(
                    endpoint,
                    {
                        "n": settings.scale_out_samples,
                        "concurrency": settings.concurrency,
                        "batch_size": settings.scale_out_batch_size,
                        "cpu_ms": settings.scale_out_cpu_ms,
                    },
                    rounds=settings.rounds,
                    env=env,
                    scratch=scratch,
                    warmup=settings.warmup,
                )
            if "memory" not in skip:
                _log(f"memory: evaluate of {settings.rss_samples} samples", started)
                reset_server(endpoint)
                report["memory"] = {
                    "defaults": run_worker(
                        "rss",
                        endpoint.base_url,
                        {
                            "n": settings.rss_samples,
                            "concurrency": settings.concurrency,
                            "batch_size": settings.rss_batch_size,
                        },
                        env=env,
                        scratch=scratch,
                        warmup=settings.warmup,
                    )
                }
        finally:
            api.stop()


def skipped_parts(only: str, skip: str) -> set[str]:
    """The parts a run leaves out, from ``--only`` and ``--skip`` (comma-separated):
    naming anything in ``--only`` runs only that; a throughput key runs the throughput
    part (with the keys named).

    Example: ``skipped_parts("fit_on,fit_off", "")`` is every part but ``throughput``.
    """
    skipped = set(filter(None, skip.split(",")))
    named = set(filter(None, only.split(",")))
    if named:
        skipped |= set(PARTS) - named - ({"throughput"} if named - set(PARTS) else set())
    return skipped


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    settings = Settings(rounds=args.rounds, latency=args.latency, evaluate_samples=args.samples)
    skip = skipped_parts(args.only, args.skip)
    if args.quick:
        settings = Settings(
            rounds=1,
            latency=args.latency,
            warmup=8,
            evaluate_samples=128,
            fit_samples=40,
            rss_samples=500,
            rss_batch_size=100,
            rate_limit_calls=64,
            scale_out_samples=64,
            epoch_sizes=(40, 160),
            storage_fit_samples=40,
            storage_evaluate_samples=64,
            prefect_cost_tasks=50,
            prefect_cost_subflows=5,
            prefect_cost_artifacts=5,
        )
        skip.add("demo")
    settings = replace(settings, epoch_rounds=args.epoch_rounds)
    if args.epoch_sizes:
        small, big = (int(size) for size in args.epoch_sizes.split(","))
        settings = replace(settings, epoch_sizes=(small, big))
    started = time.perf_counter()
    scratch = RESULTS / "scratch"
    for folder in ("home", "prefect-db"):  # every run starts from empty databases
        shutil.rmtree(scratch / folder, ignore_errors=True)
    (scratch / "prefect-db").mkdir(parents=True)
    env = use_worker_environment(scratch)
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "settings": {**asdict(settings), "latency_bound_s": settings.latency_bound_s},
        "load_average_start": os.getloadavg(),
    }
    _with_servers(report, settings, args, skip, env, scratch, started)
    if "demo" not in skip:
        from benchmarks.workloads.demo import demo_workload

        _log("make demo: fresh, then warm PREFECT_HOME", started)
        report["demo"] = demo_workload(env, scratch)
    report["load_average_end"] = os.getloadavg()
    report["duration_s"] = time.perf_counter() - started
    out = args.out or (scratch if args.quick else RESULTS)
    json_path, markdown_path = write_reports(report, out)
    _log(f"done: {json_path} and {markdown_path}", started)
    print(markdown_path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
