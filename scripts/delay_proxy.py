#!/usr/bin/env python3
"""A TCP proxy that holds every chunk of bytes for a fixed delay in each direction, as a long
link does, without limiting the bytes in flight (a client that pipelines keeps its
throughput). For benchmarks where tc netem is not available.

Usage: delay_proxy.py LISTEN_PORT UPSTREAM_HOST:PORT DELAY_MS
"""
import asyncio
import sys


async def pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()

    def send(data):
        if not writer.is_closing():
            writer.write(data)

    try:
        while data := await reader.read(256 * 1024):
            loop.call_later(delay, send, data)
            # Backpressure: let the writer drain what is due before reading far ahead.
            if writer.transport.get_write_buffer_size() > 64 * 1024 * 1024:
                await writer.drain()
    finally:
        loop.call_later(delay, writer.close)


async def main():
    port, upstream, delay_ms = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    host, upstream_port = upstream.rsplit(":", 1)
    delay = delay_ms / 1000

    async def handle(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection(host, int(upstream_port))
        await asyncio.gather(
            pipe(client_reader, server_writer, delay), pipe(server_reader, client_writer, delay)
        )

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print(f"delaying 127.0.0.1:{port} -> {upstream} by {delay_ms} ms each way", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
