"""The exchange stand-in for benchmarks: an ordinary aiohttp application (router, asyncio loop) that
answers every request with a fixed Kalshi create-order body, as a typical HTTP API server would.

`--fast` serves with the low-level server on uvloop instead, to see the proxy against a much faster peer.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

BODY = (
    b'{"order_id":"2597c0de-6a1c-4b1e-9d0f-2f4b0c6b2a11","client_order_id":"4a75f0b2-8f4e-4f59-a2f1-0c1d9e3b7a55",'
    b'"fill_count":"5.00","remaining_count":"0.00","average_fill_price":"0.5500","average_fee_paid":"0.0174",'
    b'"ts_ms":1781159360866}'
)


async def answer(request: web.BaseRequest) -> web.Response:
    await request.read()
    return web.Response(status=201, body=BODY, content_type="application/json")


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
