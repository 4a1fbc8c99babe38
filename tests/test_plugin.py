"""The pytest plugin, exercised the way users meet it: inner pytest runs (pytester) with marked tests."""

from __future__ import annotations

import pytest

from tests.replay_helpers import KALSHI, POLY, fixture, write_session

pytest_plugins = ["pytester"]

CALL = """
import json, os, urllib.error, urllib.request

def call(url, data=None):
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    write_session(
        pytester.path / "fixtures" / "kalshi_full_fill",
        [
            fixture(
                "kalshi",
                "POST",
                KALSHI + "/trade-api/v2/portfolio/events/orders",
                body={"ticker": "KX", "client_order_id": "rec-client-id", "count": "5.00"},
                status=201,
                answer={"order_id": "o1", "client_order_id": "rec-client-id", "fill_count": "5.00"},
            ),
            fixture(
                "kalshi",
                "GET",
                KALSHI + "/trade-api/v2/portfolio/fills?ticker=KX",
                answer={"fills": [{"count_fp": "5.00"}]},
            ),
        ],
    )
    write_session(
        pytester.path / "fixtures" / "poly_partial_fill",
        [
            fixture("poly", "GET", POLY + "/data/order/0xabc", answer={"size_matched": "2"}),
        ],
    )
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_a_test_that_uses_every_fixture_passes_and_env_points_at_the_proxy(project):
    project.makepyfile(
        CALL
        + """
import pytest

@pytest.mark.tradetape("fixtures/kalshi_full_fill", "poly_partial_fill")
def test_trade(tradetape):
    base = os.environ["KALSHI_BASE_URL"]
    assert base == tradetape.kalshi_url and base.endswith("/trade-api/v2")
    status, body = call(base + "/portfolio/events/orders",
                        json.dumps({"ticker": "KX", "client_order_id": "live-client-id", "count": "5.00"}).encode())
    assert (status, body["client_order_id"]) == (201, "live-client-id")
    assert call(base + "/portfolio/fills?ticker=KX")[0] == 200
    assert tradetape.status()["unused"] == ["poly_partial_fill/001_GET_poly_order.json"]
    assert call(os.environ["POLY_CLOB_URL"] + "/data/order/0xabc") == (200, {"size_matched": "2"})

@pytest.mark.tradetape("poly_partial_fill")
def test_every_test_gets_a_fresh_replay(tradetape):
    assert call(os.environ["POLY_CLOB_URL"] + "/data/order/0xabc")[0] == 200

def test_environment_is_restored_after_a_tradetape_test():
    assert "KALSHI_BASE_URL" not in os.environ and "POLY_CLOB_URL" not in os.environ
"""
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_unused_fixtures_fail_the_test_unless_allowed(project):
    project.makepyfile(
        CALL
        + """
import pytest

@pytest.mark.tradetape("kalshi_full_fill")
def test_leaves_fills_unread(tradetape):
    body = json.dumps({"ticker": "KX", "client_order_id": "x-live-0001", "count": "5.00"}).encode()
    assert call(tradetape.kalshi_url + "/portfolio/events/orders", body)[0] == 201

@pytest.mark.tradetape("kalshi_full_fill", allow_unused=True)
def test_allowed_to_leave_them(tradetape):
    body = json.dumps({"ticker": "KX", "client_order_id": "x-live-0001", "count": "5.00"}).encode()
    assert call(tradetape.kalshi_url + "/portfolio/events/orders", body)[0] == 201
"""
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_leaves_fills_unread*",
            "*unused fixtures (1):*",
            "*kalshi_full_fill/002_GET_kalshi_fills.json*",
            "*allow_unused=True*",
        ]
    )


def test_an_unmatched_request_fails_the_test_even_when_the_client_swallowed_it(project):
    project.makepyfile(
        CALL
        + """
import pytest

@pytest.mark.tradetape("poly_partial_fill", allow_unused=True)
def test_swallows(tradetape):
    status, body = call(tradetape.poly_url + "/data/order/0xother")
    assert status == 599 and body["tradetape_error"] == "unmatched"
"""
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*unmatched requests (1):*",
            "*unmatched GET /data/order/0xother: closest 001_GET_poly_order.json differs in path "
            "(live /data/order/0xother, recorded /data/order/0xabc)",
        ]
    )


def test_a_failing_test_keeps_its_own_failure(project):
    project.makepyfile("""
import pytest

@pytest.mark.tradetape("poly_partial_fill")
def test_fails_first(tradetape):
    assert 1 == 2, "the test's own failure"
""")
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the test's own failure*"])
    result.stdout.no_fnmatch_line("*unused fixtures*")


def test_misuse_and_malformed_fixtures_are_reported_at_setup(project):
    (project.path / "fixtures" / "broken").mkdir()
    (project.path / "fixtures" / "broken" / "001_GET_kalshi_x.json").write_text('{"seq": 1, "exchange": "kalshi"}')
    project.makepyfile("""
import pytest

def test_no_marker(tradetape):
    pass

@pytest.mark.tradetape("poly_partial_fill", allow_unsued=True)
def test_typo(tradetape):
    pass

@pytest.mark.tradetape("broken")
def test_broken(tradetape):
    pass

@pytest.mark.tradetape("no_such_session")
def test_missing(tradetape):
    pass
""")
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines_random(
        [
            "*test_no_marker: the tradetape fixture needs @pytest.mark.tradetape(SOURCE, ...)*",
            "*unknown option(s) allow_unsued*",
            "*001_GET_kalshi_x.json: missing key request*",
            "*no_such_session*no such session directory, fixture file or scenario*",
        ]
    )


def test_parallel_workers_each_get_their_own_proxy_and_ports(project):
    project.makepyfile(
        CALL
        + """
import pytest

@pytest.mark.tradetape("poly_partial_fill")
@pytest.mark.parametrize("n", range(6))
def test_each_reads_the_order_once(tradetape, n, worker_id):
    # the session holds one answer: a proxy shared with another test would say "exhausted"
    assert call(os.environ["POLY_CLOB_URL"] + "/data/order/0xabc") == (200, {"size_matched": "2"})
    open(f"ran-{worker_id}-{n}", "w").close()
"""
    )
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=6)
    assert {f.name.split("-")[1] for f in project.path.glob("ran-*")} == {"gw0", "gw1"}  # both workers took part


def test_a_test_drives_its_replay_over_the_admin_api_with_the_servers_token(project):
    project.makepyfile(
        CALL
        + """
import pytest

def admin(tradetape, name, token):
    request = urllib.request.Request(
        os.environ["POLY_CLOB_URL"] + "/__tradetape/" + name, data=b"{}", method="POST",
        headers={"X-Tradetape-Token": token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code

@pytest.mark.tradetape("poly_partial_fill")
def test_reset_over_http(tradetape):
    assert call(os.environ["POLY_CLOB_URL"] + "/data/order/0xabc")[0] == 200
    assert admin(tradetape, "reset", "not-the-token") == 401
    assert admin(tradetape, "reset", tradetape.admin_token) == 200
    assert call(os.environ["POLY_CLOB_URL"] + "/data/order/0xabc")[0] == 200  # served again after the reset
"""
    )
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
