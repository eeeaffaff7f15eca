"""The Prefect API clients an outermost synaprefect flow run shares with Prefect's engine.

Left alone, Prefect's engine builds three API clients per flow run that is not a subflow:
an async one for the run, and a sync one for each of two reads of the server's default
result storage. Each client builds an SSL context from certifi's bundle, about 35 ms on a
2-core machine: a bare flow run took 195 ms, 105 of them in SSL contexts. ``shared_clients``
opens one async and one sync client around the run; the engine and the artifacts of the
run use them (Prefect looks for open clients in its context before building new ones).

When the API is plain HTTP (the embedded API, or ``http://``), no TLS is ever spoken, so
both clients get an SSL context without certificates instead of a fresh certifi one. An
``https://`` API keeps Prefect's own TLS settings (one SSL context per client).

Example:
```python
async with shared_clients():
    await prefect_flow()  # one sync and one async client, no SSL context over HTTP
```
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prefect.client.orchestration import get_client
from prefect.context import AsyncClientContext, ContextModel, SyncClientContext
from prefect.settings import PREFECT_API_URL

__all__ = ["shared_clients"]


@asynccontextmanager
async def shared_clients() -> AsyncIterator[None]:
    """Open an async and a sync Prefect client for the flow run started inside, unless
    the caller has clients open already (a subflow run, the user's own client context)."""
    if AsyncClientContext.get() is not None or SyncClientContext.get() is not None:
        yield
        return
    async_context: AsyncClientContext
    sync_context: SyncClientContext
    if _plain_http():
        async_context, sync_context = _PlainHttpAsyncContext(), _PlainHttpSyncContext()
    else:
        async_context, sync_context = AsyncClientContext(), SyncClientContext()
    async with async_context:
        with sync_context:
            yield


# Prefect reuses the client of a context only for callers asking for the settings the
# context was made with, and its engine and artifacts ask for none. These contexts are
# recorded as made with none while their clients have an SSL context that trusts
# nothing: over plain HTTP, no TLS is ever spoken, so that is what a default client is.


class _PlainHttpAsyncContext(AsyncClientContext):
    def __init__(self) -> None:
        ContextModel.__init__(self, client=get_client(httpx_settings=_no_tls_settings()))


class _PlainHttpSyncContext(SyncClientContext):
    def __init__(self) -> None:
        ContextModel.__init__(
            self, client=get_client(sync_client=True, httpx_settings=_no_tls_settings())
        )


def _plain_http() -> bool:
    url = PREFECT_API_URL.value() or ""
    # No URL: the embedded API, which Prefect serves over plain HTTP on localhost.
    return not url or url.startswith("http://")


def _no_tls_settings() -> dict[str, Any]:
    return {"verify": _no_tls()}


@functools.cache
def _no_tls() -> ssl.SSLContext:
    # Were it ever used for TLS, the handshake would fail, not pass: it trusts nothing.
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
