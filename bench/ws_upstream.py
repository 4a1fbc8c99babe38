"""The exchange feed stand-in for bench/ws_proxy.py: an aiohttp WebSocket server on uvloop at any path.

A client's text `burst:N` gets N exchange messages as fast as the server can send them; `paced:N:MICROSECONDS`
gets N messages one every MICROSECONDS. Each message is about 200 bytes of JSON carrying the server's monotonic
clock (ns) at sending, so the client can measure one-way latency (one machine, one clock).

    .venv/bin/python bench/ws_upstream.py PORT
"""

from __future__ import annotations

import asyncio
import sys
import time

import uvloop
from aiohttp import WSMsgType, web

PAD = "x" * 96


def message(seq: int) -> str:
    """~200 bytes, shaped like a Kalshi orderbook_delta."""
    return (
        f'{{"type":"orderbook_delta","sid":1,"seq":{seq},"sent_ns":{time.monotonic_ns()},'
        f'"msg":{{"market_ticker":"KXBENCH-26NOV23","price_dollars":"0.5200","delta_fp":"5.00","pad":"{PAD}"}}}}'
    )


async def feed(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, max_msg_size=0)
    await ws.prepare(request)
    async for command in ws:
        if command.type != WSMsgType.TEXT:
            continue
        verb, _, rest = command.data.partition(":")
        if verb == "burst":
            for seq in range(int(rest)):
                await ws.send_str(message(seq))
        elif verb == "paced":
            count, _, micros = rest.partition(":")
            gap = int(micros) / 1e6
            start = time.monotonic()
            for seq in range(int(count)):
                delay = start + seq * gap - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await ws.send_str(message(seq))
    return ws


async def serve(port: int) -> None:
    app = web.Application()
    app.router.add_get("/{path:.*}", feed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
