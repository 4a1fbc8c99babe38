"""The pure pieces of replay: match keys, volatile fields (defaults, pointers, names) and correlation."""

from __future__ import annotations

import orjson
import pytest
from multidict import CIMultiDict

from proxy.exchanges import ConfigError
from proxy.replay.correlate import Correlation
from proxy.replay.match import differences, match_key, parse_body
from proxy.replay.volatile import volatile_sets


def key(
    body: bytes,
    path: str = "/o",
    query: str = "",
    ignore: tuple[str, ...] = (),
    exchange: str = "kalshi",
    found: dict | None = None,
):
    return match_key(exchange, "post", path, query, parse_body(body), volatile_sets(ignore)[exchange], found)


def test_key_is_an_inspectable_tuple_with_sorted_query_and_canonical_body():
    k = key(b'{"b": 1, "a": [1, {"d": 2, "c": 3}], "client_order_id": "x"}', query="z=1&a=2&a=1")
    assert k.method == "POST" and k.path == "/o"
    assert k.query == (("a", "1"), ("a", "2"), ("z", "1"))
    assert k.body == b'{"a":[1,{"c":3,"d":2}],"b":1}'
    assert key(b"not json").body == b"not json" and key(b"").body == b""


@pytest.mark.parametrize("live", [b"user=bob&api_key=s3cr3t-live&n=1", b"user=bob&api.key=s3cr3t-live&n=1"])
def test_a_form_s_secret_named_value_matches_the_redaction_marker_as_recording_stores_it(live):
    recorded = live.replace(b"s3cr3t-live", b"[REDACTED]")
    assert key(live) == key(recorded) and key(live).body == recorded
    assert key(live) != key(recorded.replace(b"n=1", b"n=2"))  # the rest of the form still counts
    assert key(b"user=bob&note=s3cr3t-live").body == b"user=bob&note=s3cr3t-live"  # a name that is no secret


def test_volatile_fields_are_collected_by_json_pointer():
    found: dict = {}
    key(b'{"orders": [{"client_order_id": "a1"}, {"client_order_id": "a2", "count": "1"}]}', found=found)
    assert found == {"/orders/0/client_order_id": "a1", "/orders/1/client_order_id": "a2"}


def test_poly_defaults_cover_order_randomness_account_values_and_secret_fields():
    recorded = (
        b'{"order": {"salt": 1, "timestamp": "1", "expiration": "0", "signature": "0xa", "maker": "0x1", '
        b'"signer": "0x1", "side": "BUY"}, "owner": "[REDACTED]", "orderType": "GTC"}'
    )
    live = (
        b'{"order": {"salt": 2, "timestamp": "2", "expiration": "9", "signature": "0xb", "maker": "0x2", '
        b'"signer": "0x2", "side": "BUY"}, "owner": "key", "orderType": "GTC", "passphrase": "p"}'
    )
    assert key(recorded, exchange="poly") == key(live, exchange="poly")
    assert key(recorded.replace(b"BUY", b"SELL"), exchange="poly") != key(live, exchange="poly")
    # the Kalshi defaults do not apply to Polymarket and the other way round
    assert key(b'{"salt": 1}') != key(b'{"salt": 2}')


def test_kalshi_order_expiry_times_are_volatile_in_creates_amends_and_batches():
    """Unix seconds computed from the clock: a GTC order with an expiry must match its recording."""
    assert key(b'{"ticker": "T", "expiration_time": 1781159348}') == key(b'{"ticker": "T", "expiration_time": 1}')
    assert key(b'{"orders": [{"ticker": "T", "expiration_ts": 5}]}') == key(b'{"orders": [{"ticker": "T"}]}')
    assert key(b'{"ticker": "T", "expiration_time": 5}') != key(b'{"ticker": "U", "expiration_time": 5}')


@pytest.mark.parametrize(
    ("exchange", "name"),
    [
        ("kalshi", "min_ts"),
        ("kalshi", "max_ts"),
        ("kalshi", "min_close_ts"),
        ("kalshi", "end_ts"),
        ("poly", "after"),
        ("poly", "before"),
        ("poly", "startTs"),
    ],
)
def test_time_query_parameters_match_by_name_not_value(exchange, name):
    live = key(b"", query=f"ticker=T&{name}=1781159348", exchange=exchange)
    assert live == key(b"", query=f"{name}=1700000000&ticker=T", exchange=exchange)
    assert live.query == tuple(sorted(((name, "(volatile)"), ("ticker", "T"))))
    assert live != key(b"", query="ticker=T", exchange=exchange)  # present or absent still matters
    assert live != key(b"", query=f"ticker=U&{name}=1781159348", exchange=exchange)


def test_ignore_field_adds_a_query_parameter_with_a_question_mark():
    assert key(b"", query="since=1") != key(b"", query="since=2")
    assert key(b"", query="since=1", ignore=("kalshi:?since",)) == key(b"", query="since=2", ignore=("kalshi:?since",))
    assert volatile_sets(("poly:?cutoff",))["poly"].query_names >= {"cutoff", "after"}
    assert "cutoff" not in volatile_sets(("poly:?cutoff",))["kalshi"].query_names


def test_ignore_field_pointer_removes_exactly_the_pointed_member():
    spec = ("kalshi:/orders/*/ticker",)
    assert key(b'{"orders": [{"ticker": "A", "n": 1}]}', ignore=spec) == key(
        b'{"orders": [{"ticker": "Z", "n": 1}]}', ignore=spec
    )
    assert key(b'{"ticker": "A"}', ignore=spec) != key(b'{"ticker": "Z"}', ignore=spec)
    escaped = ("kalshi:/a~1b",)
    assert key(b'{"a/b": 1, "c": 1}', ignore=escaped) == key(b'{"a/b": 2, "c": 1}', ignore=escaped)
    assert key(b'{"a/b": 1, "c": 1}', ignore=escaped) != key(b'{"a/b": 1, "c": 2}', ignore=escaped)
    by_name = ("kalshi:ticker",)  # a bare name: at any depth
    assert key(b'{"orders": [{"ticker": "A"}], "ticker": "A"}', ignore=by_name) == key(
        b'{"orders": [{"ticker": "Z"}], "ticker": "Z"}', ignore=by_name
    )


@pytest.mark.parametrize("spec", ["kalshi", "binance:/x", ":/x", "kalshi:"])
def test_bad_ignore_field_names_the_flag(spec):
    with pytest.raises(ConfigError, match="--ignore-field"):
        volatile_sets((spec,))


def test_differences_name_each_part_with_both_values():
    live = match_key("kalshi", "GET", "/a", "x=1&y=2", {"n": {"m": 1}, "k": [1, 2]}, volatile_sets()["kalshi"])
    recorded = match_key(
        "kalshi", "POST", "/b", "x=1&y=3&z=0", {"n": {"m": 2}, "k": [1, 2, 3]}, volatile_sets()["kalshi"]
    )
    assert differences(live, recorded) == {
        "method": {"live": "GET", "recorded": "POST"},
        "path": {"live": "/a", "recorded": "/b"},
        "query": {"y": {"live": ["2"], "recorded": ["3"]}, "z": {"live": "(absent)", "recorded": ["0"]}},
        "body": {"/k": {"live": [1, 2], "recorded": [1, 2, 3]}, "/n/m": {"live": 1, "recorded": 2}},
    }
    assert differences(live, live) == {}


def test_correlation_replaces_whole_values_only_both_ways():
    corr = Correlation()
    corr.learn(
        {"/client_order_id": "rec-000001", "/short": "abc", "/owner": "[REDACTED]"},
        {"/client_order_id": "live-00001", "/short": "xyz", "/owner": "api-key-123"},
    )
    assert corr.live_of == {"rec-000001": "live-00001"}  # short values and redacted markers are not ids
    path, query, body = corr.request(
        "/orders/live-00001",
        "id=live-00001&other=live-00001x",
        {"ids": ["live-00001", "live-00001-2"], "n": {"id": "live-00001"}},
    )
    assert path == "/orders/rec-000001" and query == "id=rec-000001&other=live-00001x"
    assert body == {"ids": ["rec-000001", "live-00001-2"], "n": {"id": "rec-000001"}}
    answer = orjson.dumps({"id": "rec-000001", "note": "rec-000001-suffix"})
    assert orjson.loads(corr.body(answer, ["rec-000001"])) == {"id": "live-00001", "note": "rec-000001-suffix"}
    headers = corr.headers(CIMultiDict({"Location": "/o/rec-000001"}), ["rec-000001"])
    assert headers["Location"] == "/o/live-00001"
    link = corr.headers(CIMultiDict({"Link": "</o/rec-000001>; rel=rec-000001-old"}), ["rec-000001"])
    assert link["Link"] == "</o/live-00001>; rel=rec-000001-old"  # a header token is replaced whole, too
    assert corr.body(answer, []) == answer  # only the values the answer was found to mention at load
