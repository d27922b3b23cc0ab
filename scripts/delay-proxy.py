#!/usr/bin/env python3
"""A TCP proxy from 127.0.0.1:5434 to PostgreSQL at 127.0.0.1:5432 that holds every chunk of bytes
DELAY seconds (default 0.0005) in each direction: a database "on another host" for benchmarks on one
machine (BENCHMARKS.md). Usage: python3 scripts/delay-proxy.py [DELAY] & then start the server with
DATABASE_URL on port 5434 (5433 is where scripts/setup.sh may run a private cluster)."""

import asyncio
import sys

DELAY = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0005
LISTEN = ("127.0.0.1", 5434)
UPSTREAM = ("127.0.0.1", 5432)


async def pipe(reader, writer):
    """Copy reader to writer, each chunk DELAY seconds after it arrived, in order."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            if data is None:
                writer.close()
                return
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + DELAY, data))
    finally:
        queue.put_nowait((0, None))
        await sender


async def handle(client_reader, client_writer):
    server_reader, server_writer = await asyncio.open_connection(*UPSTREAM)
    await asyncio.gather(
        pipe(client_reader, server_writer),
        pipe(server_reader, client_writer),
        return_exceptions=True,
    )


async def main():
    server = await asyncio.start_server(handle, *LISTEN)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
