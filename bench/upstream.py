"""The exchange stand-in for benchmarks: an ordinary aiohttp application (router, asyncio loop) that
answers like Kalshi (bench/workload.py: the fills list for a fills GET, else a created order), as a typical
HTTP API server would.

`--fast` serves with the low-level server on uvloop instead, to see the proxy against a much faster peer.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web
from workload import upstream_answer


async def answer(request: web.BaseRequest) -> web.Response:
    await request.read()
    status, body = upstream_answer(request.method, request.path)
    return web.Response(status=status, body=body, content_type="application/json")


async def serve(port: int, fast: bool) -> None:
    if fast:
        runner: web.BaseRunner = web.ServerRunner(web.Server(answer, access_log=None))
    else:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    fast = "--fast" in sys.argv
    if fast:
        import uvloop

        uvloop.run(serve(port, fast))
    else:
        asyncio.run(serve(port, fast))


if __name__ == "__main__":
    main()
