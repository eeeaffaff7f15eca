"""The Prefect API clients an outermost synaprefect flow run shares with Prefect's engine.

Left alone, Prefect's engine builds three API clients per flow run that is not a subflow:
an async one for the run, and a sync one for each of two reads of the server's default
result storage. Each client builds an SSL context from a certificate bundle, about 35 ms
on a 2-core machine, whether or not the API speaks TLS: a bare flow run took 195 ms, 105
of them in SSL contexts. ``shared_clients`` opens one async and one sync client around
the run; the engine, its task runs and the run's artifacts use them (Prefect looks for
open clients in its context before building new ones). Both get one SSL context, built
once per process from Prefect's own TLS settings, as Prefect builds it for each client.

Example:
```python
async with shared_clients():
    await prefect_flow()  # two clients instead of three, and no new SSL context
```
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import certifi
from prefect.client.orchestration import get_client
from prefect.context import AsyncClientContext, ContextModel, SyncClientContext
from prefect.settings import get_current_settings

__all__ = ["shared_clients"]


@asynccontextmanager
async def shared_clients() -> AsyncIterator[None]:
    """Open an async and a sync Prefect client for the flow run started inside, unless
    the caller has clients open already (a subflow run, the user's own client context)."""
    if AsyncClientContext.get() is not None or SyncClientContext.get() is not None:
        yield
        return
    async with _SharedAsyncContext():
        with _SharedSyncContext():
            yield


# Prefect reuses the client of a context only for callers asking for the settings the
# context was made with, and its engine and artifacts ask for none. These contexts are
# recorded as made with none: their clients differ from a default one only in sharing
# the SSL context a default one would build for itself.


class _SharedAsyncContext(AsyncClientContext):
    def __init__(self) -> None:
        ContextModel.__init__(self, client=get_client(httpx_settings=_tls_settings()))


class _SharedSyncContext(SyncClientContext):
    def __init__(self) -> None:
        ContextModel.__init__(
            self, client=get_client(sync_client=True, httpx_settings=_tls_settings())
        )


def _tls_settings() -> dict[str, Any]:
    api = get_current_settings().api
    return {"verify": _tls_context(api.tls_insecure_skip_verify, api.ssl_cert_file)}


@functools.cache
def _tls_context(skip_verify: bool, cert_file: str | None) -> ssl.SSLContext:
    """The SSL context Prefect's client builds from these settings, built once (a
    context is safe to share between clients and threads)."""
    if skip_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=cert_file or certifi.where())
