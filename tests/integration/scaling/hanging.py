"""A real TCP server that accepts and never answers: a Prometheus stuck for minutes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def hanging_server() -> AsyncIterator[tuple[str, list[asyncio.StreamWriter]]]:
    """Yield (its ``http://127.0.0.1:<port>`` URL, the connections accepted so far, growing).

    On exit the server closes first and then every accepted connection, so none is left for a
    later test's garbage collector to find unclosed (a ResourceWarning, an error under pytest).
    """
    accepted: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", accepted
    finally:
        server.close()
        await server.wait_closed()
        for writer in accepted:
            writer.close()
        await asyncio.sleep(0)  # let the transports' close callbacks run
