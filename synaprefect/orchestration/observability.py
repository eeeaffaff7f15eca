"""Synalinks' ``enable_logging`` and ``enable_observability``, in synaprefect terms.

Synalinks logs module calls to the console and, with observability on, sends them to
MLflow. Here the console part is Python logging (the ``synaprefect`` loggers, plus the
run messages Prefect prints), and observability *is* Prefect: fit, evaluate, predict and
search run as flow runs whose batches, module calls and optimizer updates are task runs,
with artifacts for variables, history and scores. MLflow is not used.
"""

import logging
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from synaprefect.trainers.runtime import is_tracking, set_run_tags, set_tracking

__all__ = ["enable_logging", "enable_observability", "is_observability_enabled"]

_OWN_HANDLER = "_synaprefect_enable_logging"
# Prefect's own console layout, so both kinds of lines read alike.
_FORMAT = "%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s - %(message)s"
_DATE_FORMAT = "%H:%M:%S"
_LEVELS = ("debug", "info", "warning", "error", "critical")
# Prefect's loggers of flow and task runs, whose messages (states, run logs) reach the
# console through Prefect's console handler.
_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


def enable_logging(
    log_level: str | int = "debug", log_to_file: bool | str | os.PathLike = False
) -> None:
    """Print synaprefect's log records at ``log_level`` and above on the console
    (stderr), and Prefect's run messages from that level too.

    - ``log_level``: ``"debug"``, ``"info"``, ``"warning"``, ``"error"``, ``"critical"``
      (any case) or a ``logging`` level number. At ``"debug"`` every module call is
      logged with its inputs and its outputs as JSON (Synalinks' call stanzas), and LM
      retries at ``"warning"``.
    - ``log_to_file``: also write the records to ``synaprefect.log`` in the current folder
      (``True``; Synalinks' file is ``synalinks.log``) or to the path given, truncated
      first.

    Calling it again replaces what the previous call set up. The ``synaprefect`` logger
    then stops propagating to the root logger, so its lines are not printed twice by
    Prefect's console handler (attached to the root logger).

    Example:
    ```python
    import synaprefect as synalinks

    synalinks.enable_logging(log_level="info")
    ```
    """
    level = _level(log_level)
    logger = logging.getLogger("synaprefect")
    for handler in [h for h in logger.handlers if getattr(h, _OWN_HANDLER, False)]:
        logger.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_to_file:
        path = Path("synaprefect.log") if log_to_file is True else Path(log_to_file)
        handlers.append(logging.FileHandler(path, mode="w", encoding="utf-8"))
    for handler in handlers:
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter(_FORMAT, _DATE_FORMAT))
        setattr(handler, _OWN_HANDLER, True)
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    _prefect_console_level(level)


def enable_observability(
    tracking_uri: str | None = None, experiment_name: str | None = None
) -> None:
    """Track runs in Prefect for the rest of the process: fit, evaluate, predict and
    tuner searches become flow runs (trials subflow runs; epochs, batches, module
    calls and optimizer updates task runs) with their artifacts.

    Tracking is on by default (unless ``$SYNAPREFECT_TRACKING`` turns it off); this turns
    it on whatever the environment says, like ``orchestration.set_tracking(True)``.
    Calling a program directly (``await program(x)``) stays a plain call: use ``predict``
    for a tracked one.

    - ``tracking_uri``: the Prefect API to send runs to, as ``$PREFECT_API_URL`` would
      (``"http://127.0.0.1:4200/api"``; a URL without a path gets ``/api``). None keeps
      Prefect's own setting (a local server started on demand when none is set). MLflow
      URIs (``file:``, ``sqlite:``, ``databricks``...) are refused: MLflow is not used.
    - ``experiment_name``: a tag put on every flow run and task run from now on (in the
      UI, filter the runs by this tag to see one experiment). None adds no tag.

    Example:
    ```python
    import synaprefect as synalinks

    synalinks.enable_observability(tracking_uri="http://127.0.0.1:4200/api",
                                   experiment_name="qa-experiments")
    ```
    """
    if tracking_uri is not None:
        _set_prefect_api_url(_api_url(tracking_uri))
    if experiment_name is not None:
        if not isinstance(experiment_name, str) or not experiment_name.strip():
            raise ValueError(
                "`experiment_name` must be a non-empty string (the tag of the "
                f"runs), got {experiment_name!r}."
            )
        set_run_tags([experiment_name.strip()])
    set_tracking(True)


def is_observability_enabled() -> bool:
    """Whether runs are tracked in Prefect (``orchestration.is_tracking()``). True by
    default, unlike Synalinks: synaprefect tracks unless told not to.

    Example: ``synaprefect.is_observability_enabled()  # True``
    """
    return is_tracking()


# ---- helpers ---------------------------------------------------------------------------


def _level(log_level: str | int) -> int:
    if isinstance(log_level, int) and not isinstance(log_level, bool) and log_level >= 0:
        return log_level
    if isinstance(log_level, str) and log_level.lower() in _LEVELS:
        return getattr(logging, log_level.upper())
    raise ValueError(
        f"`log_level` must be one of {list(_LEVELS)} or a logging level number, got {log_level!r}."
    )


def _prefect_console_level(level: int) -> None:
    """Prefect's console shows run messages from ``level``. Prefect configures its
    logging when first imported, from these variables (which subprocesses inherit);
    when it already did, its loggers and console handler are set directly."""
    name = logging.getLevelName(level)
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = str(name)
    for logger_name in _RUN_LOGGERS:
        variable = "PREFECT_LOGGING_LOGGERS_" + logger_name.upper().replace(".", "_") + "_LEVEL"
        os.environ[variable] = str(name)
    configuration = sys.modules.get("prefect.logging.configuration")
    if configuration is None or not configuration.PROCESS_LOGGING_CONFIG:
        return
    from prefect.logging.handlers import PrefectConsoleHandler

    for logger_name in _RUN_LOGGERS:
        logging.getLogger(logger_name).setLevel(level)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            handler.setLevel(level)


def _api_url(tracking_uri: str) -> str:
    parts = urlsplit(str(tracking_uri))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            "`tracking_uri` must be the http(s) URL of a Prefect API, such as "
            f"'http://127.0.0.1:4200/api', got {tracking_uri!r}. synaprefect tracks runs "
            "in Prefect, not MLflow: MLflow URIs are not supported."
        )
    if parts.path in ("", "/"):
        parts = parts._replace(path="/api")
    return urlunsplit(parts)


def _set_prefect_api_url(api_url: str) -> None:
    # Prefect reads its settings when imported: an earlier import is told to read again.
    os.environ["PREFECT_API_URL"] = api_url
    context = sys.modules.get("prefect.context")
    if context is not None:
        context.refresh_global_settings_context()
