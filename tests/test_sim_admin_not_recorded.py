"""The simulator's own admin calls (`/__sim/...`) are forwarded but never recorded, whatever the filter."""

from __future__ import annotations

from collections import Counter

import aiohttp
import pytest

from proxy.engine.proxy import Proxy
from proxy.tape.capture_filter import build_filter, is_sim_admin
from proxy.tape.fixture import session_files
from proxy.tools.audit import audit_file
from simulator import Simulator
from simulator.credentials import kalshi_test_credentials
from tests.proxy_helpers import listeners_for, recording


async def test_record_with_filter_all_forwards_admin_calls_but_writes_only_exchange_traffic(tmp_path):
    key_id, _, public_pem = kalshi_test_credentials()
    async with Simulator() as sim:
        counts: Counter[str] = Counter()
        mode = recording(tmp_path / "s", "all")(counts)
        async with (
            Proxy(listeners_for(sim.kalshi_url, sim.poly_url), mode, counts=counts) as proxy,
            aiohttp.ClientSession() as http,
        ):
            kalshi = proxy.url("kalshi")
            keys = {"key_id": key_id, "public_key_pem": public_pem}
            async with http.post(kalshi + "/__sim/kalshi/keys", json=keys) as resp:
                assert resp.status == 201  # forwarded: the simulator registered the key
            async with http.get(proxy.url("poly") + "/__sim/clock") as resp:
                assert resp.status == 200
            async with http.get(kalshi + "/trade-api/v2/markets") as resp:
                assert resp.status == 200
    files = session_files(tmp_path / "s")
    assert [p.name for p in files] == ["001_GET_kalshi_markets.json"]
    assert [f for p in files for f in audit_file(p)] == []


@pytest.mark.parametrize(
    "path", ["/__sim/kalshi/keys", "/__sim", "//__sim/faults", "/%5F%5Fsim/clock", "/x/../__sim/poly/book"]
)
@pytest.mark.parametrize("spec", ["all", "orders", "sim|keys|clock|faults|book"])
def test_no_filter_matches_an_admin_path_however_spelled(path, spec):
    assert is_sim_admin(path)
    assert build_filter(spec)("kalshi", path) is False


@pytest.mark.parametrize("path", ["/__simulator/x", "/trade-api/v2/__sim/x", "/markets"])
def test_other_paths_are_not_admin_paths(path):
    assert not is_sim_admin(path)
    assert build_filter("all")("kalshi", path) is True
