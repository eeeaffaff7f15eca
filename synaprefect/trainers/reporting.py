"""What a job reports: money spent, and the artifacts a user reads in the Prefect UI
(variables, progress, History, the fit summary, evaluation scores)."""

import asyncio
import base64
import logging

from synaprefect.config import fit_plots
from synaprefect.data_models.trainable import trained_fields
from synaprefect.language_models.phases import PHASES
from synaprefect.language_models.usage import add_usage
from synaprefect.trainers import artifact_keys as artifacts
from synaprefect.trainers.host import ProgramHost
from synaprefect.trainers.job import current_job
from synaprefect.trainers.runtime import Runtime
from synaprefect.utils.history_svg import history_svg
from synaprefect.utils.json_utils import pretty_dumps, stable_hash
from synaprefect.utils.plot_program import program_drawing
from synaprefect.utils.plotting import figure_bytes

__all__ = ["ReportingMixin", "publish_evaluation"]

logger = logging.getLogger("synaprefect.trainers")

# Resolution of the images in the plots artifact: readable in the UI, tens of kB each.
_ARTIFACT_DPI = 80


class ReportingMixin(ProgramHost):
    """Spending and artifacts, mixed into ``Program`` through ``Trainer``."""

    def _live_usage(self) -> dict[str, float]:
        """Cost, calls and tokens of this process's models so far: not cache hits and
        journal replays (``spent_totals`` adds what replays cost); failed calls count
        as calls (a provider bills a malformed answer)."""
        totals = {"cost": 0.0, "calls": 0.0, "tokens": 0.0}
        for model in self.language_models():
            counters = model.counters()
            totals["cost"] += counters["cost"]
            totals["calls"] += counters["calls"] - counters["cache_hits"]
            totals["tokens"] += counters["total_tokens"]
        return totals

    def spent_totals(self) -> dict[str, float]:
        """Cost (USD), paid calls and tokens of the program's models so far, including
        what the replayed work of a resumed job (finished steps, journaled calls) cost
        when it first ran.

        Example: ``program.spent_totals()  # {"cost": 0.42, "calls": 310.0, "tokens": ...}``
        """
        totals = self._live_usage()
        job = current_job()
        store = job.store if job is not None else None
        if store is not None:
            add_usage(totals, store.replayed_usage)
        return totals

    def _counters_by_phase(self) -> dict[str, dict[str, float]]:
        models = self.language_models()
        return {
            phase: {
                k: sum(m.counters(phase)[k] for m in models)
                for k in ("calls", "failed_calls", "total_tokens", "cost")
            }
            for phase in PHASES
        }

    async def _publish_variables(self, runtime: Runtime) -> None:
        if not runtime.tracking:
            return
        # A version per change of what the program uses, not per batch: versions that
        # repeat the last one cost the API and tell the user nothing.
        job = current_job()
        published = job.published if job is not None else {}
        step = self.optimizer.iterations if self.optimizer is not None else 0
        for variable in self.trainable_variables:
            key = artifacts.variable_artifact_key(self.name, variable.path)
            value = trained_fields(variable.value())
            digest = stable_hash(value)
            if published.get(key) == digest:
                continue
            published[key] = digest
            await runtime.publish_json(key, value, f"{variable.path} after optimizer step {step}")

    async def _publish_progress(self, runtime: Runtime, percent: float) -> None:
        if runtime.tracking:
            await runtime.progress(
                artifacts.progress_key(self.name), percent, f"fit progress of {self.name}"
            )

    async def _publish_history(self, runtime: Runtime) -> None:
        if not runtime.tracking or self.history is None:
            return
        keys = list(self.history.history)
        rows = [
            {
                "epoch": epoch + 1,
                **{k: self.history.history[k][i] for k in keys if i < len(self.history.history[k])},
            }
            for i, epoch in enumerate(self.history.epoch)
        ]
        await runtime.publish_table(
            artifacts.history_table_key(self.name), rows, f"History of {self.name}"
        )

    def _draw_graph_image(self, runtime: Runtime) -> "asyncio.Future[bytes] | None":
        """Start drawing the program graph's PNG for the plots artifact, in a thread: at
        the fit's start (a fit changes variables' values, not the graph; the graph is
        read now), its tens of milliseconds of text layout overlap the first LM calls
        instead of delaying the fit's end. None when no plots are published or the
        program has no graph."""
        if not runtime.tracking or not fit_plots() or self.get_graph() is None:
            return None
        try:
            draw = program_drawing(self, show_module_names=True, show_trainable=True)
        except Exception as error:  # an artifact never fails the run it describes
            _left_out("graph", self.name, error)
            return None
        image = asyncio.ensure_future(
            asyncio.to_thread(lambda: figure_bytes(draw(), "png", dpi=_ARTIFACT_DPI))
        )
        image.add_done_callback(_retrieved)  # a fit that fails never awaits it
        return image

    async def _publish_plots(
        self, runtime: Runtime, graph_image: "asyncio.Future[bytes] | None"
    ) -> None:
        """The per-epoch curves and the program's graph (``graph_image``, from
        ``_draw_graph_image``) as one markdown artifact, ``<program>-plots``, published
        once at the end of a fit (unless ``config.set_fit_plots(False)``). The images
        are embedded as data URIs (the curves an SVG written directly, the graph a
        PNG): the Prefect UI shows them without any network access."""
        if (
            not runtime.tracking
            or not fit_plots()
            or self.history is None
            or not self.history.history
        ):
            return
        lines = [f"# Fit of `{self.name}`"]
        try:  # off the loop: the colours come from matplotlib, maybe not imported yet
            curves = (await asyncio.to_thread(history_svg, self.history)).encode()
        except Exception as error:
            _left_out("curves", self.name, error)
        else:
            lines += ["", "## Reward and metrics per epoch", ""]
            lines.append(_image_markdown(curves, "svg+xml", "curves per epoch"))
        if graph_image is not None:
            try:
                png = await graph_image
            except Exception as error:
                _left_out("graph", self.name, error)
            else:
                lines += ["", "## Program graph", "", _image_markdown(png, "png", "program graph")]
        if len(lines) == 1:
            return
        await runtime.publish_markdown(
            artifacts.plots_key(self.name),
            "\n".join(lines),
            f"curves and graph of {self.name} after its fit",
        )

    def _summary_markdown(self, first_reward, logs, start_counters) -> str:
        end = self._counters_by_phase()
        optimizer = self.optimizer  # a fit without one publishes no summary
        assert optimizer is not None
        final = logs.get("val_reward", logs.get("reward"))
        lines = [
            f"# Fit of `{self.name}`",
            "",
            f"- reward of the first batch (before training): {_fmt(first_reward)}",
            f"- final {'val_reward' if 'val_reward' in logs else 'reward'}: {_fmt(final)}",
            f"- optimizer steps: {optimizer.iterations}, epochs: {optimizer.epochs}",
        ]
        if self.stop_reason:
            lines.append(f"- stopped early: {self.stop_reason}")
        lines += ["", "| phase | calls | failed | tokens | cost (USD) |", "|---|---|---|---|---|"]
        for phase in PHASES:
            delta = {k: end[phase][k] - start_counters[phase][k] for k in end[phase]}
            lines.append(
                f"| {phase} | {int(delta['calls'])} | {int(delta['failed_calls'])} |"
                f" {int(delta['total_tokens'])} | {delta['cost']:.6f} |"
            )
        for variable in self.trainable_variables:
            best = {k: v for k, v in variable.value().items() if k in ("instructions", "examples")}
            lines += [
                "",
                f"## Best candidate of `{variable.path}`",
                "",
                "```json",
                _json(best),
                "```",
            ]
        return "\n".join(lines)


async def publish_evaluation(
    runtime: Runtime, program_name: str, logs: dict, description: str
) -> None:
    """The scores ``logs`` of an evaluation of ``program_name`` as its
    ``<program>-evaluation`` table (tracking on; nothing otherwise).

    Example: ``await publish_evaluation(runtime, "qa", {"reward": 0.8}, "evaluation of qa")``
    """
    if runtime.tracking:
        await runtime.publish_table(
            artifacts.evaluation_key(program_name),
            [{"metric": k, "value": v} for k, v in logs.items()],
            description,
        )


def _image_markdown(image: bytes, subtype: str, alt: str) -> str:
    # Inline: the Prefect UI shows it with no network access (it renders a markdown
    # image as a plain <img>, whatever the URL's media type).
    data = base64.b64encode(image).decode("ascii")
    return f"![{alt}](data:image/{subtype};base64,{data})"


def _left_out(image: str, program_name: str, error: Exception) -> None:
    logger.warning(
        "The plots of %s leave out the %s: %s: %s",
        program_name,
        image,
        type(error).__name__,
        error,
    )


def _retrieved(future: asyncio.Future) -> None:
    # Marks a failure as seen; the fit that awaits the future still gets it.
    if not future.cancelled():
        future.exception()


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _json(value) -> str:
    return pretty_dumps(value)
