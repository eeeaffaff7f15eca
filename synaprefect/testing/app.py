"""The simulated LM's HTTP front end, on aiohttp's low-level ``web.Server``.

One handler serves every path: ``Simulation.handle`` does the routing (it answers unknown
paths and wrong methods with OpenAI-style errors, and tolerates base URLs without ``/v1``).
No ``web.Application``, router, middleware or access log: at hundreds of concurrent
requests the server must not become the bottleneck of the code under test (aiohttp's own
share is about 35 µs of CPU a request here, the simulation's about 50). aiohttp brings
keep-alive, pipelining and chunked bodies; a client that disconnects cancels its request
(a hanging ``timeout`` fault, a latency sleep).

Example::

    stop = asyncio.Event()
    await serve(Simulation(), "127.0.0.1", 0, print, stop)   # prints the base URL, serves until stop
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from synaprefect.testing.simulation import Simulation
from synaprefect.testing.wire import WireResponse, error_response

__all__ = ["serve"]

_MAX_BODY_BYTES = 64 * 1024 * 1024
_TOO_LARGE = error_response(413, "request body too large", "invalid_request_error")
# How long stopping waits for requests in progress before cancelling them (hanging faults
# would otherwise hold the stop for their whole hang).
_SHUTDOWN_SECONDS = 0.1


def _reply(answer: WireResponse, keep_alive: bool) -> web.Response:
    headers = {
        "Content-Type": answer.content_type,
        # aiohttp leaves an HTTP/1.1 keep-alive implicit and an HTTP/1.0 close unsaid: say both.
        "Connection": "keep-alive" if keep_alive else "close",
    }
    headers.update(answer.headers)
    response = web.Response(status=answer.status, body=answer.body, headers=headers)
    if not keep_alive:
        response.force_close()
    return response


def _handler(simulation: Simulation) -> Callable[[web.BaseRequest], Awaitable[web.Response]]:
    async def handle(request: web.BaseRequest) -> web.Response:
        if (request.content_length or 0) > _MAX_BODY_BYTES:
            return _reply(_TOO_LARGE, False)
        if request.headers.get("Expect", "").lower() == "100-continue":
            # Only web.Application routes answer this by themselves (curl sends it for big bodies).
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the real answer is still to come
        body = await request.content.read()
        if len(body) > _MAX_BODY_BYTES:  # a chunked body announces no length
            return _reply(_TOO_LARGE, False)
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            answer = await simulation.handle(request.method, request.path, headers, body)
        except Exception as exc:  # a bug must answer 500, not leave the client waiting
            message = f"simulated server bug: {type(exc).__name__}: {exc}"
            return _reply(error_response(500, message, "server_error"), False)
        return _reply(answer, request.keep_alive)

    return handle


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def serve(
    simulation: Simulation,
    host: str,
    port: int,
    started: Callable[[str], None],
    stop: asyncio.Event,
) -> None:
    """Serve ``simulation`` until ``stop`` is set; ``started`` receives the base URL.

    Stopping cancels the requests still in progress.
    """
    server = web.Server(_handler(simulation), handler_cancellation=True, access_log=None)
    runner = web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_SECONDS)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=4096)
        await site.start()
        bound_port = runner.addresses[0][1]
        started(f"http://{_url_host(host)}:{bound_port}/v1")
        await stop.wait()
    finally:
        await runner.cleanup()
