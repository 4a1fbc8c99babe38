"""The calibration peer of bench/proxy_overhead.py: a bare aiohttp forwarder that appends each exchange
to one file, with no redaction, no atomic files and no durability — what the issue's figures call
"a bare 100-line aiohttp forwarder". Our proxy is compared with it in the same run.

    python bench/bare_forwarder.py LISTEN_PORT UPSTREAM_URL OUT_FILE
"""

from __future__ import annotations

import asyncio
import sys
from typing import BinaryIO

import aiohttp
import orjson
from aiohttp import web

HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding"}


async def serve(port: int, upstream: str, out: BinaryIO) -> None:
    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.BaseRequest) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with session.request(request.method, upstream + request.raw_path, data=body, headers=headers) as resp:
            data = await resp.read()
            reply = {k: v for k, v in resp.headers.items() if k.lower() not in HOP}
            status = resp.status
        out.write(
            orjson.dumps(
                {
                    "method": request.method,
                    "path": request.raw_path,
                    "request": body.decode(),
                    "status": status,
                    "response": data.decode(),
                }
            )
            + b"\n"
        )
        return web.Response(status=status, body=data, headers=reply)

    runner = web.ServerRunner(web.Server(forward))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    with open(sys.argv[3], "ab") as log:
        asyncio.run(serve(int(sys.argv[1]), sys.argv[2], log))
