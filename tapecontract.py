"""The contract between the tradetape proxy and its clients: how an answer the proxy made itself is marked.

The proxy answers by itself when it cannot give the exchange's answer (a replay miss, a refused order, an
unreachable upstream). Such an answer always carries ERROR_HEADER, whose value is one of the kinds below, and
a JSON body with the same kind under ERROR_FIELD, so a client never mistakes it for an exchange's answer.
This module imports nothing: the proxy and the clients both import it, and neither imports the other.
"""

from __future__ import annotations

from typing import Final

ERROR_HEADER: Final = "X-Tradetape-Error"
ERROR_FIELD: Final = "tradetape_error"
NO_ANSWER_STATUS: Final = 599  # the proxy has no answer to give (a replay miss); no exchange sends it

# Replay could not answer from its recordings (status NO_ANSWER_STATUS).
UNMATCHED: Final = "unmatched"  # no recording matches the request
EXHAUSTED: Final = "exhausted"  # every recording of the request has been served
OUT_OF_ORDER: Final = "out_of_order"  # --strict-order: another request was recorded next
NOT_FORWARDED: Final = "not_forwarded"  # the mode neither answered nor forwards

# Forwarding failed: nothing usable came back from the exchange (502, or 504 for a timeout).
UPSTREAM_UNREACHABLE: Final = "upstream_unreachable"
UPSTREAM_TIMEOUT: Final = "upstream_timeout"
UPSTREAM_DISCONNECTED: Final = "upstream_disconnected"
UPSTREAM_INVALID_RESPONSE: Final = "upstream_invalid_response"
UPSTREAM_KINDS: Final = frozenset(
    {UPSTREAM_UNREACHABLE, UPSTREAM_TIMEOUT, UPSTREAM_DISCONNECTED, UPSTREAM_INVALID_RESPONSE}
)

SPENDING_GUARD: Final = "spending_guard"  # 403: the order was refused before anything was forwarded
CONNECTION_DROPPED: Final = "connection_dropped"  # recorded: replays as a closed connection, no answer at all

# The proxy refused or failed the request itself.
BAD_REQUEST: Final = "bad_request"  # 400: not HTTP, or an admin request it cannot read
NOT_A_PATH: Final = "not_a_path"  # 400: an absolute URL or CONNECT (a reverse proxy takes paths only)
SHUTTING_DOWN: Final = "shutting_down"  # 503: the proxy is stopping; nothing was forwarded
PROXY_ERROR: Final = "proxy_error"  # 500: a bug in tradetape; see its log
UNSENDABLE_ANSWER: Final = "unsendable_answer"  # 502: an answer that cannot go on the wire as it is
BAD_TARGET: Final = "bad_target"  # 400: a request target a server could read two ways (a fragment, ';', %2F...)

# What one client may cost the proxy (the listener's limits); the connection closes after the answer.
HEADER_TOO_LARGE: Final = "header_too_large"  # 431
BODY_TOO_LARGE: Final = "body_too_large"  # 413
HEADER_TIMEOUT: Final = "header_timeout"  # 408: the request's headers did not arrive in time
BODY_TIMEOUT: Final = "body_timeout"  # 408: the request's body stalled
TOO_MANY_CONNECTIONS: Final = "too_many_connections"  # 503: the listener has as many connections as allowed

# The admin routes under /__tradetape/.
ADMIN_NOT_FOUND: Final = "admin_not_found"  # 404
MODE_UNAVAILABLE: Final = "mode_unavailable"  # 409
LOAD_FAILED: Final = "load_failed"  # 400
NOT_REPLAYING: Final = "not_replaying"  # 409
ADMIN_FORBIDDEN: Final = "admin_forbidden"  # 403: an Origin header, or a Host not the listener's own address
ADMIN_UNAUTHORIZED: Final = "admin_unauthorized"  # 401: a state-changing call without the right token
ADMIN_UNSUPPORTED_MEDIA_TYPE: Final = "admin_unsupported_media_type"  # 415: a POST not sent as application/json
LIVE_SWITCH_REFUSED: Final = "live_switch_refused"  # 403: replay asked of a --live proxy without --allow-live-replay
